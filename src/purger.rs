//! The background purger, opt-in: returns idle memory to the OS on a timer
//! for programs that free a burst and then go quiet.
//!
//! ```text
//!   start_background_purger()  ─┐  (a program's own call, or the library
//!   MEMALLOC_BACKGROUND_PURGE=1 ─┘   constructor for LD_PRELOAD users)
//!          │ pthread_create, from that call's context only
//!          ▼
//!   free paths ──wake()──▶ WORK = 1 (futex) ──▶ purger thread
//!                                                 every PURGE_DELAY/2:
//!                                                   process-wide heap: tick
//!                                                   every Heap:        tick
//!                                                 nothing left? park on WORK
//!   tick = batches no thread exchanged since the last tick go back to their
//!          spans; free runs free for PURGE_DELAY are purged (MADV_DONTNEED)
//! ```
//!
//! memalloc never creates a thread on its own (DESIGN.md promise 8): a
//! thread started from inside `free` deadlocked programs whose
//! `pthread_join` frees while holding glibc's stack-cache lock, and made
//! single-threaded programs multithreaded (`unshare(CLONE_NEWUSER)` then
//! fails). Without the purger, memory still goes back at once: each central
//! heap bounds its dirty pages and purges the oldest on the slow path
//! (`central::enforce_dirty_bound`); the purger only adds the return of
//! what stays under that bound once the program is idle.
//!
//! `wake` is the only thing the free paths call: a load and, when the
//! purger is parked, a futex wake (a system call that takes no libc lock).
//! The thread allocates nothing itself. Its stack is the platform's default
//! size, which glibc sizes to hold the program's static TLS (a retry with a
//! larger stack covers programs whose TLS needs more). After `fork` the
//! child has no purger until it calls [`start`] again.

use crate::sync::atomic::{AtomicU8, AtomicU32, Ordering};

const OFF: u8 = 0;
const STARTING: u8 = 1;
const RUNNING: u8 = 2;
const FAILED: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(OFF);
/// 1 when a heap may have work for the purger; it parks while this is 0.
static WORK: AtomicU32 = AtomicU32::new(0);

/// Tells a running purger there may be work. Called after a free reached a
/// central heap, with no heap lock held; never starts a thread.
#[inline]
pub(crate) fn wake() {
    if STATE.load(Ordering::Relaxed) == RUNNING
        && WORK.load(Ordering::Relaxed) == 0
        && WORK.swap(1, Ordering::SeqCst) == 0
    {
        sys::unpark(&WORK);
    }
}

/// Starts the purger thread if it is not running yet; returns whether it
/// runs. Called by the program (never from inside `malloc`/`free`).
pub(crate) fn start() -> bool {
    match STATE.compare_exchange(OFF, STARTING, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {}
        Err(RUNNING) => return true,
        Err(STARTING) => {
            while STATE.load(Ordering::Acquire) == STARTING {
                std::thread::yield_now();
            }
            return STATE.load(Ordering::Acquire) == RUNNING;
        }
        Err(_) => {
            // FAILED before: try again (e.g. resources freed since).
            if STATE
                .compare_exchange(FAILED, STARTING, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return start();
            }
        }
    }
    // Work may have piled up before the start: look at once.
    WORK.store(1, Ordering::SeqCst);
    let ok = sys::spawn(run);
    STATE.store(if ok { RUNNING } else { FAILED }, Ordering::Release);
    ok
}

/// Fork child: the purger thread does not exist there.
pub(crate) fn after_fork_in_child() {
    STATE.store(OFF, Ordering::Relaxed);
    WORK.store(0, Ordering::Relaxed);
}

/// The purger's loop; never returns.
extern "C" fn run(_: *mut core::ffi::c_void) -> *mut core::ffi::c_void {
    sys::name_this_thread();
    loop {
        sys::sleep_ms(crate::options::purge_delay_ms() / 2);
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
        // The default stack first (glibc adds nothing for static TLS: it
        // carves the TLS block out of the stack, so the default must hold
        // it); on EINVAL, a stack too small for the TLS, retry larger.
        let mut stack = 0usize;
        loop {
            // SAFETY: attr is initialised before use and destroyed after; the
            // thread runs `f`, which never returns and touches only statics.
            let r = unsafe {
                let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
                if libc::pthread_attr_init(attr.as_mut_ptr()) != 0 {
                    return false;
                }
                libc::pthread_attr_setdetachstate(attr.as_mut_ptr(), libc::PTHREAD_CREATE_DETACHED);
                if stack != 0 {
                    libc::pthread_attr_setstacksize(attr.as_mut_ptr(), stack);
                }
                let mut tid = MaybeUninit::<libc::pthread_t>::uninit();
                let r =
                    libc::pthread_create(tid.as_mut_ptr(), attr.as_ptr(), f, core::ptr::null_mut());
                libc::pthread_attr_destroy(attr.as_mut_ptr());
                r
            };
            if r != libc::EINVAL || stack >= 1 << 30 {
                return r == 0;
            }
            stack = if stack == 0 { 16 << 20 } else { stack * 4 };
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
            // `as _`: time_t is 64-bit on glibc and, from 1.2.0, on musl.
            tv_sec: (ms / 1000) as _,
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
