//! The synchronisation shim: the one place the modelled code gets its lock,
//! cells and atomics from.
//!
//! ```text
//!   cache/ / central/ / heap/       ──use──▶  crate::sync::{Lock, UnsafeCell, atomic::*}
//!                                                   │
//!              new_modelled() (cfg(loom) only) ─────┼──────────── new() (always)
//!                 loom::sync::Mutex<()>             │        RawLock (futex / spin)
//!                 loom::cell::UnsafeCell            │        core::cell::UnsafeCell + with/with_mut
//!                 loom atomics (OnceWord)           │        core::sync::atomic
//! ```
//!
//! Under `--cfg loom`, a heap built with `new_modelled()` has every lock
//! acquisition and state access of the cache/central handoff seen by loom's
//! model checker, running the same source as the real heap; heaps built with
//! `new()` (the process-wide one, `Heap` instances) stay on std types so the
//! public API, tests and doctests still work in a loom build. Without
//! `--cfg loom` the enums have one variant and compile to plain std types. The std side is
//! given loom's API (`UnsafeCell::with`/`with_mut`, a guard-returning,
//! poison-free lock), so the modelled code has one spelling.
//!
//! Scheduling-point rule: loom switches threads only at its own operations
//! (atomics, lock acquisitions), and releasing a loom mutex is not one of
//! them. So that the window right after an unlock is explored (another
//! thread running between `unlock` and whatever the unlocking thread does
//! next, such as a write to span or block memory that belonged inside the
//! lock and that loom cannot see), a modelled [`Lock`] owns a loom atomic
//! that its guard increments right after releasing the mutex: every unlock
//! is followed by a scheduling point. Std locks do no such thing.
//!
//! [`RawLock`] is always the std implementation: it is also what process-wide
//! statics use (loom types cannot be built in a `static`), and it can be
//! locked and unlocked without a guard, which `fork` handling needs.

/// Atomics for process-wide statics (always std: loom's cannot be built in a
/// `static`); models reach loom's directly.
pub(crate) use core::sync::atomic;

use core::sync::atomic::{AtomicU32, Ordering};

/// A small poison-free mutual-exclusion lock that never allocates.
///
/// `state`: 0 = unlocked, 1 = locked, 2 = locked and a waiter may be parked
/// on the futex. On Linux, waiters park with `FUTEX_WAIT`; elsewhere they
/// spin and yield. Both `lock` and `unlock` are a single atomic RMW when
/// uncontended.
pub(crate) struct RawLock {
    state: AtomicU32,
}

impl RawLock {
    pub(crate) const fn new() -> Self {
        RawLock {
            state: AtomicU32::new(0),
        }
    }

    #[inline]
    pub(crate) fn lock(&self) {
        if self
            .state
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
    }

    /// Takes the lock if it is free; never waits.
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        self.state
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    #[cold]
    #[inline(never)]
    fn lock_contended(&self) {
        // Spin briefly: central critical sections are short.
        for _ in 0..64 {
            if self.state.load(Ordering::Relaxed) == 0
                && self
                    .state
                    .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return;
            }
            core::hint::spin_loop();
        }
        // Mark contended; whoever unlocks from state 2 wakes one waiter.
        while self.state.swap(2, Ordering::Acquire) != 0 {
            park(&self.state, 2);
        }
    }

    /// Releases the lock.
    ///
    /// Must only be called by the holder of the lock (or, after `fork`, by
    /// the child on behalf of the thread that held it in the parent).
    #[inline]
    pub(crate) fn unlock(&self) {
        if self.state.swap(0, Ordering::Release) == 2 {
            unpark_one(&self.state);
        }
    }

    /// Whether the lock is currently held (diagnostics and tests only).
    #[allow(dead_code)]
    pub(crate) fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) != 0
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn park(state: &AtomicU32, expected: u32) {
    // SAFETY: FUTEX_WAIT reads the u32 at `state`, which is a live, aligned
    // AtomicU32 for the duration of the call; a spurious return is harmless
    // because the caller re-checks the state.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            state.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            core::ptr::null::<libc::timespec>(),
        );
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn unpark_one(state: &AtomicU32) {
    // SAFETY: FUTEX_WAKE only uses the address as a key; it is a live AtomicU32.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            state.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        );
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn park(_state: &AtomicU32, _expected: u32) {
    std::thread::yield_now();
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn unpark_one(_state: &AtomicU32) {}

/// The lock the modelled code uses. Normally a [`RawLock`]; under
/// `--cfg loom` it can also be loom's mutex: heaps built with
/// `new_modelled()` use loom's (and are checked), heaps built with `new()`
/// keep working outside any model (the public API, doctests, tests).
pub(crate) struct Lock(LockImpl);

enum LockImpl {
    Std(RawLock),
    /// loom's mutex, and a loom atomic touched right after every unlock
    /// (the unlock scheduling point; see the module docs).
    #[cfg(loom)]
    Loom(loom::sync::Mutex<()>, loom::sync::atomic::AtomicUsize),
}

/// Holds a [`Lock`] until dropped.
pub(crate) struct LockGuard<'a>(GuardImpl<'a>);

enum GuardImpl<'a> {
    Std(&'a RawLock),
    /// `None` once dropped; the atomic is the lock's unlock point.
    #[cfg(loom)]
    Loom(
        Option<loom::sync::MutexGuard<'a, ()>>,
        &'a loom::sync::atomic::AtomicUsize,
    ),
}

impl Lock {
    pub(crate) const fn new() -> Self {
        Lock(LockImpl::Std(RawLock::new()))
    }

    /// A lock whose every acquisition loom sees.
    #[cfg(loom)]
    pub(crate) fn new_modelled() -> Self {
        Lock(LockImpl::Loom(
            loom::sync::Mutex::new(()),
            loom::sync::atomic::AtomicUsize::new(0),
        ))
    }

    #[inline]
    pub(crate) fn lock(&self) -> LockGuard<'_> {
        match &self.0 {
            LockImpl::Std(raw) => {
                raw.lock();
                LockGuard(GuardImpl::Std(raw))
            }
            // loom's mutex never poisons here: nothing panics while holding it.
            #[cfg(loom)]
            LockImpl::Loom(m, unlocks) => LockGuard(GuardImpl::Loom(
                Some(m.lock().unwrap_or_else(|e| e.into_inner())),
                unlocks,
            )),
        }
    }

    /// Like [`Self::lock`], and also says whether the lock was held by
    /// another thread when asked for (the caller counts contention under
    /// the lock). A modelled lock always answers `false`: the extra
    /// `try_lock` would only add interleavings that model nothing.
    #[inline]
    pub(crate) fn lock_noting_contention(&self) -> (LockGuard<'_>, bool) {
        match &self.0 {
            LockImpl::Std(raw) => {
                let contended = !raw.try_lock();
                if contended {
                    raw.lock_contended();
                }
                (LockGuard(GuardImpl::Std(raw)), contended)
            }
            #[cfg(loom)]
            LockImpl::Loom(..) => (self.lock(), false),
        }
    }

    /// Whether loom checks this lock (built with `new_modelled`).
    #[inline]
    pub(crate) fn is_modelled(&self) -> bool {
        match &self.0 {
            LockImpl::Std(_) => false,
            #[cfg(loom)]
            LockImpl::Loom(..) => true,
        }
    }

    /// The underlying lock, for `fork` handlers that must hold it across
    /// the fork without a guard. `None` for a modelled lock.
    #[cfg(unix)]
    pub(crate) fn raw(&self) -> Option<&RawLock> {
        match &self.0 {
            LockImpl::Std(raw) => Some(raw),
            #[cfg(loom)]
            LockImpl::Loom(..) => None,
        }
    }
}

impl Drop for LockGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        match &mut self.0 {
            GuardImpl::Std(raw) => raw.unlock(),
            #[cfg(loom)]
            GuardImpl::Loom(guard, unlocks) => {
                drop(guard.take());
                // The scheduling point after the unlock: loom may switch
                // threads here, so the code that follows an unlock does not
                // run in the same step as the unlock itself.
                unlocks.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// `UnsafeCell` with loom's closure-based API; under `--cfg loom`, a cell
/// built with `new_modelled()` has every access checked by loom.
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(CellImpl<T>);

#[derive(Debug)]
enum CellImpl<T> {
    Std(core::cell::UnsafeCell<T>),
    #[cfg(loom)]
    Loom(loom::cell::UnsafeCell<T>),
}

impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        UnsafeCell(CellImpl::Std(core::cell::UnsafeCell::new(value)))
    }

    #[cfg(loom)]
    pub(crate) fn new_modelled(value: T) -> Self {
        UnsafeCell(CellImpl::Loom(loom::cell::UnsafeCell::new(value)))
    }

    #[inline(always)]
    #[allow(dead_code)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        match &self.0 {
            CellImpl::Std(c) => f(c.get()),
            #[cfg(loom)]
            CellImpl::Loom(c) => c.with(f),
        }
    }

    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        match &self.0 {
            CellImpl::Std(c) => f(c.get()),
            #[cfg(loom)]
            CellImpl::Loom(c) => c.with_mut(f),
        }
    }
}

/// A word that `init_once` can publish into: std's atomic (for statics) or,
/// under loom, loom's (for models).
pub(crate) trait OnceWord {
    fn load_acquire(&self) -> usize;
    fn publish(&self, value: usize) -> Result<usize, usize>;
}

impl OnceWord for core::sync::atomic::AtomicUsize {
    fn load_acquire(&self) -> usize {
        self.load(Ordering::Acquire)
    }
    fn publish(&self, value: usize) -> Result<usize, usize> {
        self.compare_exchange(0, value, Ordering::AcqRel, Ordering::Acquire)
    }
}

#[cfg(loom)]
impl OnceWord for loom::sync::atomic::AtomicUsize {
    fn load_acquire(&self) -> usize {
        self.load(Ordering::Acquire)
    }
    fn publish(&self, value: usize) -> Result<usize, usize> {
        self.compare_exchange(0, value, Ordering::AcqRel, Ordering::Acquire)
    }
}

/// Publishes a value created once for the whole process: the first caller to
/// publish wins; a loser hands its own value to `discard` and uses the
/// winner's. `0` means "not yet", so `create` must not return 0.
pub(crate) fn init_once(
    cell: &impl OnceWord,
    create: impl FnOnce() -> usize,
    discard: impl FnOnce(usize),
) -> usize {
    let current = cell.load_acquire();
    if current != 0 {
        return current;
    }
    let mine = create();
    debug_assert_ne!(mine, 0);
    match cell.publish(mine) {
        Ok(_) => mine,
        Err(winner) => {
            discard(mine);
            winner
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn raw_lock_excludes_concurrent_increments() {
        struct Shared {
            lock: Lock,
            value: UnsafeCell<u64>,
        }
        // SAFETY: `value` is only touched while `lock` is held.
        unsafe impl Sync for Shared {}
        let shared = Arc::new(Shared {
            lock: Lock::new(),
            value: UnsafeCell::new(0),
        });
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = Arc::clone(&shared);
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        let _g = s.lock.lock();
                        // SAFETY: the lock is held, so this is the only access.
                        s.value.with_mut(|v| unsafe { *v += 1 });
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // SAFETY: every other thread has been joined: no concurrent access.
        assert_eq!(shared.value.with(|v| unsafe { *v }), 80_000);
        // `raw()` exists for the fork handlers, so on unix only.
        #[cfg(unix)]
        assert!(!shared.lock.raw().unwrap().is_locked());
    }
}
