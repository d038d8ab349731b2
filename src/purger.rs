//! The background purger: returns idle memory to the OS even when the
//! program has gone quiet.
//!
//! ```text
//!   free paths ──wake()──▶ WORK = 1 (futex) ──▶ purger thread
//!                                                 every PURGE_DELAY/2:
//!                                                   process-wide heap: tick
//!                                                   every Heap:        tick
//!                                                 nothing left? park on WORK
//!   tick = batches no thread exchanged since the last tick go back to their
//!          spans; free runs free for PURGE_DELAY are purged (MADV_DONTNEED)
//! ```
//!
//! Without it, purging only happens when the heap is used again, so a server
//! that frees a burst and then idles keeps that memory resident. The thread
//! is started lazily by the first free that reaches a central heap, with
//! `pthread_create` called outside every heap lock (it may allocate, which
//! may re-enter memalloc); it allocates nothing itself. It parks on a futex
//! while no heap holds dirty runs or central batches, so an idle process
//! pays nothing. After `fork` the child has no purger; the first free there
//! starts one.

use crate::sync::atomic::{AtomicU8, AtomicU32, Ordering};

const OFF: u8 = 0;
const STARTING: u8 = 1;
const RUNNING: u8 = 2;
const FAILED: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(OFF);
/// 1 when a heap may have work for the purger; it parks while this is 0.
static WORK: AtomicU32 = AtomicU32::new(0);

/// Tells the purger there may be work, starting it if it is not running.
/// Called after a free reached a central heap, with no heap lock held.
#[inline]
pub(crate) fn wake() {
    if WORK.load(Ordering::Relaxed) == 0 && WORK.swap(1, Ordering::SeqCst) == 0 {
        sys::unpark(&WORK);
    }
    if STATE.load(Ordering::Acquire) == OFF {
        start();
    }
}

#[cold]
fn start() {
    if STATE
        .compare_exchange(OFF, STARTING, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return;
    }
    let ok = sys::spawn(run);
    STATE.store(if ok { RUNNING } else { FAILED }, Ordering::Release);
}

/// Fork child: the purger thread does not exist there.
pub(crate) fn after_fork_in_child() {
    STATE.store(OFF, Ordering::Relaxed);
    WORK.store(0, Ordering::Relaxed);
}

/// The purger's loop; never returns.
extern "C" fn run(_: *mut core::ffi::c_void) -> *mut core::ffi::c_void {
    sys::name_this_thread();
    let half = crate::central::PURGE_DELAY_MS / 2;
    loop {
        sys::sleep_ms(half);
        // Cleared before looking, so a free that lands after the look sets it
        // again and the park below returns at once.
        WORK.store(0, Ordering::SeqCst);
        let now = crate::os::now_ms();
        let mut more = crate::global::GLOBAL_CENTRAL.background_tick(now);
        more |= crate::heap::background_tick_all(now);
        if !more {
            sys::park(&WORK, 0);
        }
    }
}

mod sys {
    use super::*;
    use core::ffi::c_void;
    use core::mem::MaybeUninit;

    pub(super) fn spawn(f: extern "C" fn(*mut c_void) -> *mut c_void) -> bool {
        // SAFETY: attr is initialised before use and destroyed after; the
        // thread runs `f`, which never returns and touches only statics.
        unsafe {
            let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
            if libc::pthread_attr_init(attr.as_mut_ptr()) != 0 {
                return false;
            }
            libc::pthread_attr_setdetachstate(attr.as_mut_ptr(), libc::PTHREAD_CREATE_DETACHED);
            libc::pthread_attr_setstacksize(attr.as_mut_ptr(), 64 * 1024);
            let mut tid = MaybeUninit::<libc::pthread_t>::uninit();
            let r = libc::pthread_create(tid.as_mut_ptr(), attr.as_ptr(), f, core::ptr::null_mut());
            libc::pthread_attr_destroy(attr.as_mut_ptr());
            r == 0
        }
    }

    /// Shows the thread as `memalloc-purge` in `ps -L`, `top`, debuggers.
    pub(super) fn name_this_thread() {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16
        // bytes, naming the calling thread.
        unsafe {
            libc::prctl(libc::PR_SET_NAME, c"memalloc-purge".as_ptr());
        }
    }

    pub(super) fn sleep_ms(ms: u64) {
        let ts = libc::timespec {
            tv_sec: (ms / 1000) as libc::time_t,
            tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long,
        };
        // SAFETY: a valid timespec; an early wake-up is harmless.
        unsafe { libc::nanosleep(&ts, core::ptr::null_mut()) };
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(super) fn park(word: &AtomicU32, expected: u32) {
        // SAFETY: FUTEX_WAIT reads the live, aligned word; it returns at once
        // if the word no longer holds `expected`.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                expected,
                core::ptr::null::<libc::timespec>(),
            );
        }
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(super) fn unpark(word: &AtomicU32) {
        // SAFETY: FUTEX_WAKE only uses the address as a key.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                1,
            );
        }
    }

    /// Without a futex the purger polls at its tick rate.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub(super) fn park(_word: &AtomicU32, _expected: u32) {}

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub(super) fn unpark(_word: &AtomicU32) {}
}
