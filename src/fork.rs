//! `fork` safety: every heap lock is taken before `fork` and released on
//! both sides, so the child never inherits a lock whose holder does not
//! exist there (DESIGN.md promise 5).
//!
//! ```text
//!  prepare:  registry lock ─▶ each Heap's central locks ─▶ the process-wide heap's
//!  parent:   unlock in reverse            child: unlock in reverse
//! ```
//!
//! Blocks cached by threads other than the forking one are unreachable in
//! the child (those threads do not exist there) and are not reclaimed.

use crate::sync::atomic::{AtomicU8, Ordering};
use core::cell::Cell;

const NONE: u8 = 0;
const REGISTERING: u8 = 1;
const DONE: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(NONE);

thread_local! {
    /// Set while this thread is inside `pthread_atfork` (which may allocate,
    /// re-entering `register` on this same thread).
    static REGISTERING_HERE: Cell<bool> = const { Cell::new(false) };
}

/// Registers the handlers once per process. Returns once they are in place
/// (so no block is handed out before a `fork` would be safe), except when
/// re-entered by the registering thread itself.
pub(crate) fn register() {
    if STATE.load(Ordering::Acquire) == DONE {
        return;
    }
    if STATE
        .compare_exchange(NONE, REGISTERING, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        REGISTERING_HERE.with(|r| r.set(true));
        #[cfg(unix)]
        // SAFETY: three `extern "C"` functions with no arguments.
        unsafe {
            libc::pthread_atfork(Some(prepare), Some(parent), Some(child));
        }
        REGISTERING_HERE.with(|r| r.set(false));
        STATE.store(DONE, Ordering::Release);
        return;
    }
    if REGISTERING_HERE.with(|r| r.get()) {
        return;
    }
    while STATE.load(Ordering::Acquire) != DONE {
        std::thread::yield_now();
    }
}

#[cfg(unix)]
unsafe extern "C" fn prepare() {
    crate::heap::lock_all_for_fork();
    crate::global::GLOBAL_CENTRAL.lock_for_fork();
}

#[cfg(unix)]
unsafe extern "C" fn parent() {
    crate::global::GLOBAL_CENTRAL.unlock_after_fork();
    crate::heap::unlock_all_after_fork(false);
}

#[cfg(unix)]
unsafe extern "C" fn child() {
    crate::purger::after_fork_in_child();
    crate::global::GLOBAL_CENTRAL.unlock_after_fork();
    crate::heap::unlock_all_after_fork(true);
}
