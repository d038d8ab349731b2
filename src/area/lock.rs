//! The area heap's lock: a test-and-test-and-set spin lock on one
//! `core` atomic, so it works on bare metal with no OS to park on.
//!
//! ```text
//!   lock():   swap(true, Acquire) ─ was false? ─▶ held
//!                     │ was true
//!                     ▼
//!             spin on load(Relaxed) until false, then swap again
//!   unlock(): store(false, Release)          (the guard's drop)
//! ```
//!
//! Acquire on taking and Release on giving back order every access to the
//! heap state between two holders. Spinning reads with a plain load, so
//! waiters share the cache line instead of bouncing it. Holders never
//! call out of the heap (no user code, no handler) while holding it, and
//! it is not re-entrant: a holder that allocated again would spin forever,
//! which is why nothing under it can.
//!
//! On a single core with interrupts, an interrupt handler that allocates
//! while the interrupted code holds the lock spins forever: allocate from
//! such handlers only with interrupts masked around every heap call, or
//! not at all.

use core::sync::atomic::{AtomicBool, Ordering};

/// The lock word: `true` while a holder is in the heap state.
pub(super) struct SpinLock {
    held: AtomicBool,
}

/// Proof of holding a [`SpinLock`]; dropping it releases the lock.
pub(super) struct SpinGuard<'a> {
    lock: &'a SpinLock,
}

impl SpinLock {
    pub(super) const fn new() -> Self {
        SpinLock {
            held: AtomicBool::new(false),
        }
    }

    /// Spins until the lock is ours.
    #[inline]
    pub(super) fn lock(&self) -> SpinGuard<'_> {
        while self.held.swap(true, Ordering::Acquire) {
            while self.held.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
        SpinGuard { lock: self }
    }
}

impl Drop for SpinGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.lock.held.store(false, Ordering::Release);
    }
}
