//! A thread's cache for one central heap, and the state that says who may
//! touch it: the process-wide heap's binding, and the loom models of it.
//!
//! ```text
//!              first use            slow path            exit hook
//!   FRESH ──▶ BINDING ──armed──▶ ACTIVE ⇄ BUSY      ACTIVE ──▶ DEAD ──▶ flush
//!                 └──not armed──────────────────────────────▶ DEAD
//!
//!   ACTIVE   fast path: one pop or push on the cache (makes no call),
//!            found through the thread's active-slot word, which names
//!            the slot only in this state, and the closed slot (every
//!            list empty and full at once) in every other
//!   BUSY     one slow path owns the cache (refill, overflow, scavenge, flush)
//!   BINDING, BUSY, DEAD: every call goes straight to the central heap, so a
//!            call that re-enters memalloc never touches the cache in use,
//!            and an exited or unarmed thread never caches anything.
//! ```
//!
//! The slot takes its central heap, its exit-hook arming and its
//! active-slot word ([`ActiveWord`]) as arguments: the real binding passes
//! the process-wide heap, a pthread key and a thread-local word, a loom
//! model passes a modelled heap, a closure and a cell, and both run this
//! code.

use crate::cache::ThreadCache;
use crate::central::CentralHeap;
use crate::front::state::{ACTIVE, BINDING, BUSY, DEAD, FRESH};
use crate::reentry::{self, Site};
use crate::size_class::ListOffset;
use crate::sync::UnsafeCell;
use core::cell::Cell;

/// One thread's cache and binding state.
///
/// Invariant: only its own thread touches it (the shared
/// [`CLOSED_SLOT`] excepted, which nobody writes). `cache` is accessed only
/// inside [`CacheSlot::pop_through`] and [`CacheSlot::push_through`] while
/// `state == ACTIVE` (one pop or push through a raw pointer, no call) or
/// inside the `with` of the one slow path that moved the state to BUSY or
/// DEAD; in every other state no reference to it exists.
pub(crate) struct CacheSlot {
    state: Cell<u8>,
    cache: UnsafeCell<ThreadCache>,
}

impl CacheSlot {
    /// A slot for a thread that has not used the heap yet.
    pub(crate) const fn new() -> Self {
        CacheSlot {
            state: Cell::new(FRESH),
            cache: UnsafeCell::new(ThreadCache::new()),
        }
    }

    /// A slot whose cache accesses loom checks (a nested or concurrent
    /// access to the cache fails the model).
    #[cfg(loom)]
    pub(crate) fn new_modelled() -> Self {
        CacheSlot {
            state: Cell::new(FRESH),
            cache: UnsafeCell::new_modelled(ThreadCache::new()),
        }
    }

    /// The binding state (see `front::state`).
    #[cfg(any(test, loom))]
    pub(crate) fn state(&self) -> u8 {
        self.state.get()
    }

    /// The closed slot's value (see [`CLOSED_SLOT`]): DEAD, with a closed
    /// cache.
    const fn closed() -> Self {
        CacheSlot {
            state: Cell::new(DEAD),
            cache: UnsafeCell::new(ThreadCache::closed()),
        }
    }

    /// The fast path's pop through a thread's active-slot word: a block of
    /// `list`'s class from the cache of the slot the word names, or null
    /// (an empty list, or the closed slot: the thread's slot is not
    /// ACTIVE). One load of the word, no test of it, no call.
    #[inline(always)]
    pub(crate) fn pop_through(word: &impl ActiveWord, list: ListOffset) -> *mut u8 {
        let slot = word.get();
        debug_assert_word(word, slot);
        // SAFETY: the word names this thread's ACTIVE slot, in no slow path,
        // whose cache nothing else references (slot invariant), or the
        // closed slot, whose lists `pop_raw` never writes (`ActiveWord`
        // invariant); no reference to either cache is formed.
        unsafe { (*slot).cache.with_mut(|c| ThreadCache::pop_raw(c, list)) }
    }

    /// The fast path's push through a thread's active-slot word: true if
    /// `ptr` went on the current list of the slot the word names; false,
    /// having written nothing, if the list is full, `ptr` is its head, or
    /// the word names the closed slot. One load of the word, no test of
    /// it, no call.
    ///
    /// # Safety
    /// `ptr` is a block of `list`'s class of the heap this word's slot is
    /// used with, and no longer used.
    #[inline(always)]
    pub(crate) unsafe fn push_through(
        word: &impl ActiveWord,
        ptr: *mut u8,
        list: ListOffset,
        check_head: bool,
    ) -> bool {
        let slot = word.get();
        debug_assert_word(word, slot);
        // SAFETY: as in `pop_through` (`push_raw` never writes a closed
        // list either); forwarded precondition.
        unsafe {
            (*slot)
                .cache
                .with_mut(|c| ThreadCache::push_raw(c, ptr, list, check_head))
        }
    }

    /// [`Self::slow`] for a binding whose fast path goes through `word`
    /// ([`Self::pop_through`], [`Self::push_through`]): the word names the
    /// closed slot for the whole slow path (so a call that re-enters
    /// meanwhile takes the slow path too, and finds the slot BINDING or
    /// BUSY), and names this slot afterwards if the slot is ACTIVE.
    #[inline(always)]
    pub(crate) fn slow_through<R>(
        &self,
        word: &impl ActiveWord,
        central: &CentralHeap,
        arm: impl FnOnce() -> bool,
        with: impl FnOnce(&mut ThreadCache, &CentralHeap) -> R,
        without: impl FnOnce(&CentralHeap) -> R,
    ) -> R {
        word.set(word.closed());
        let r = self.slow(central, arm, with, without);
        if self.state.get() == ACTIVE {
            word.set(self);
        }
        r
    }

    /// [`Self::exit_flush`] for a binding whose fast path goes through
    /// `word`: the word names the closed slot before the flush begins, and
    /// for good.
    ///
    /// # Safety
    /// As [`Self::exit_flush`].
    pub(crate) unsafe fn exit_flush_through(&self, word: &impl ActiveWord, central: &CentralHeap) {
        word.set(word.closed());
        // SAFETY: forwarded precondition.
        unsafe { self.exit_flush(central) }
    }

    /// The slow path: binds a FRESH thread (`arm` registers its exit hook;
    /// a thread whose hook cannot be armed stays uncached for good), then
    /// runs `with` on the cache with the state BUSY, or `without` if the
    /// thread has no usable cache.
    #[inline(always)]
    pub(crate) fn slow<R>(
        &self,
        central: &CentralHeap,
        arm: impl FnOnce() -> bool,
        with: impl FnOnce(&mut ThreadCache, &CentralHeap) -> R,
        without: impl FnOnce(&CentralHeap) -> R,
    ) -> R {
        if !enter_slow_path(&self.state, arm) {
            return without(central);
        }
        // SAFETY: BUSY, set by us from ACTIVE: no other reference to the
        // cache exists, and calls that re-enter during `with` see BUSY and
        // do not form one (slot invariant).
        let r = self.cache.with_mut(|c| with(unsafe { &mut *c }, central));
        self.state.set(ACTIVE);
        r
    }

    /// Thread exit: marks the slot DEAD, then returns every cached block.
    /// Later calls on this thread (from later TLS destructors, or from
    /// inside the flush) go straight to the central heap.
    ///
    /// # Safety
    /// The cache was only ever used with `central`.
    pub(crate) unsafe fn exit_flush(&self, central: &CentralHeap) {
        if self.state.get() != ACTIVE {
            return;
        }
        self.state.set(DEAD);
        reentry::point(Site::Exit);
        // SAFETY: DEAD, set by us from ACTIVE: nothing else references the
        // cache any more; forwarded precondition.
        self.cache.with_mut(|c| unsafe { (*c).flush(central) });
    }
}

/// A thread's active-slot word: where a binding's fast path finds the
/// thread's cache with one load (see `active_slot`).
///
/// Invariant, kept by [`CacheSlot::slow_through`] and
/// [`CacheSlot::exit_flush_through`] (a binding that uses the word sets it
/// nowhere else): the word names either its own thread's slot, and only
/// while that slot is ACTIVE and in no slow path, or [`Self::closed`]
/// (its value at thread start), a slot whose current lists are all closed
/// (`ThreadCache::closed`) and are never written. It is never null, so the
/// fast path does not test it: a pop or push on the closed slot fails and
/// the caller takes the slow path.
pub(crate) trait ActiveWord {
    /// The word's value on the calling thread.
    fn get(&self) -> *const CacheSlot;
    /// Sets the word on the calling thread.
    fn set(&self, slot: *const CacheSlot);
    /// The closed slot this word names while its thread's slot is not
    /// ACTIVE.
    #[inline(always)]
    fn closed(&self) -> *const CacheSlot {
        &CLOSED_SLOT.0
    }
}

/// Debug builds: the word names an ACTIVE slot or the closed slot
/// (`ActiveWord` invariant).
#[inline(always)]
fn debug_assert_word(word: &impl ActiveWord, slot: *const CacheSlot) {
    // SAFETY: the word always names a live slot (`ActiveWord` invariant);
    // reading its state forms no reference to its cache.
    debug_assert!(
        core::ptr::eq(slot, word.closed()) || unsafe { (*slot).state.get() } == ACTIVE,
        "the active-slot word names a slot that is not ACTIVE"
    );
}

/// The closed slot: what every active-slot word names while its thread's
/// slot is not ACTIVE. DEAD, with a closed cache.
pub(crate) static CLOSED_SLOT: ClosedSlot = ClosedSlot(CacheSlot::closed());

/// [`CacheSlot`] shared by every thread as [`CLOSED_SLOT`].
///
/// Invariant: never written. Nothing but the fast path's
/// [`ThreadCache::pop_raw`] and [`ThreadCache::push_raw`] ever reaches it
/// (slow paths and exit hooks use the thread's own slot, never the word),
/// and those write only a list with a block or room, which a closed list
/// never has.
pub(crate) struct ClosedSlot(pub(crate) CacheSlot);

// SAFETY: never written (type invariant), so sharing it between threads
// only ever shares reads.
unsafe impl Sync for ClosedSlot {}

/// Enters a slow path on a thread whose binding state is `state`: binds a
/// FRESH thread first (`arm` registers its exit hook; anything that
/// allocates meanwhile re-enters as BINDING and is served by the central
/// heap; a thread whose hook cannot be armed becomes DEAD, uncached for
/// good), then moves ACTIVE to BUSY and returns true. Returns false, and
/// leaves the state as it is, for a thread with no usable cache (BINDING,
/// BUSY or DEAD: a re-entrant call, or an exited or unarmed thread). The
/// caller sets ACTIVE again when its slow path is done.
///
/// Both bindings use this: the process-wide one through [`CacheSlot`],
/// heap instances with their per-thread state.
#[inline(always)]
pub(crate) fn enter_slow_path(state: &Cell<u8>, arm: impl FnOnce() -> bool) -> bool {
    match state.get() {
        ACTIVE => {}
        FRESH => {
            state.set(BINDING);
            reentry::point(Site::Binding);
            let armed = arm();
            state.set(if armed { ACTIVE } else { DEAD });
            if !armed {
                return false;
            }
        }
        _ => return false,
    }
    state.set(BUSY);
    true
}
