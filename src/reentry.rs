//! Re-entry points: the places in the slow paths where, in a real program,
//! a call could come back into memalloc on the same thread (a libc call
//! that allocates, a signal handler, a pthread-key registration).
//!
//! ```text
//!   fast path: pop / push on a cache the binding hands out only while ACTIVE
//!   slow path: binding marks the thread BUSY ──▶ point(Site) ──▶ cache work
//!                                                   │ (tests: a hook that
//!                                                   ▼  mallocs and frees)
//!              a re-entrant call sees BUSY/BINDING/DEAD and goes straight
//!              to the central heap: it never forms a reference to the
//!              cache the outer call is using.
//! ```
//!
//! In normal builds [`point`] is an empty inline function. Under `cfg(test)`
//! (and `cfg(loom)`, for the binding models) a test can install a hook that
//! runs at every point, so each slow path is shown to serve a re-entrant
//! `malloc`/`free` correctly.

/// Which slow path a re-entry point is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Site {
    /// A thread's first use, between BINDING and arming the exit hook.
    Binding,
    /// A cache miss, before the batch comes from the central heap.
    Refill,
    /// A list over its limit, before a batch goes back.
    Overflow,
    /// Every list halving to make room in the budget.
    Scavenge,
    /// Every list going back (explicit flush, thread exit, heap detach).
    Flush,
    /// Thread exit, after the thread was marked DEAD.
    Exit,
}

#[cfg(any(test, loom))]
mod hook {
    use super::Site;
    use core::sync::atomic::{AtomicPtr, Ordering};

    /// The installed hook, as a `fn(Site)` pointer; null = none. A pointer
    /// rather than an integer, so the function keeps its provenance (Miri
    /// rejects calling a function pointer rebuilt from an integer).
    static HOOK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

    /// Installs `f` to run at every re-entry point (or removes it).
    pub(crate) fn set(f: Option<fn(Site)>) {
        HOOK.store(
            f.map_or(core::ptr::null_mut(), |f| f as *mut ()),
            Ordering::SeqCst,
        );
    }

    #[inline]
    pub(crate) fn point(site: Site) {
        let f = HOOK.load(Ordering::SeqCst);
        if !f.is_null() {
            // SAFETY: only `set` stores a non-null value: a `fn(Site)`,
            // with its provenance.
            let f: fn(Site) = unsafe { core::mem::transmute::<*mut (), fn(Site)>(f) };
            f(site);
        }
    }
}

#[cfg(any(test, loom))]
pub(crate) use hook::{point, set};

/// A re-entry point (no-op outside tests).
#[cfg(not(any(test, loom)))]
#[inline(always)]
pub(crate) fn point(_site: Site) {}
