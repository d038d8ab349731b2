//! `fork` safety: every heap lock is taken before `fork` and released on
//! both sides, so the child never inherits a lock whose holder does not
//! exist there (DESIGN.md promise 5).
//!
//! ```text
//!  prepare:  registry lock ─▶ each Heap's central lock ─▶ process-wide lock
//!  parent:   unlock in reverse            child: unlock in reverse
//! ```
//!
//! Blocks cached by threads other than the forking one are unreachable in
//! the child (those threads do not exist there) and are not reclaimed.

use crate::sync::atomic::{AtomicBool, Ordering};

static REGISTERED: AtomicBool = AtomicBool::new(false);

/// Registers the handlers once per process.
pub(crate) fn register() {
    if REGISTERED.swap(true, Ordering::AcqRel) {
        return;
    }
    #[cfg(unix)]
    // SAFETY: three `extern "C"` functions with no arguments.
    unsafe {
        libc::pthread_atfork(Some(prepare), Some(after), Some(after));
    }
}

#[cfg(unix)]
unsafe extern "C" fn prepare() {
    crate::heap::lock_all_for_fork();
    if let Some(l) = crate::global::GLOBAL_CENTRAL.raw_lock() {
        l.lock();
    }
}

#[cfg(unix)]
unsafe extern "C" fn after() {
    if let Some(l) = crate::global::GLOBAL_CENTRAL.raw_lock() {
        l.unlock();
    }
    crate::heap::unlock_all_after_fork();
}
