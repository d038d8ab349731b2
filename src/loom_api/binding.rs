//! The thread binding, for loom models: a modelled thread owns a
//! [`CacheSlot`] over a [`ModelHeap`] and allocates through the same
//! front-end code as the real bindings (`front::alloc`,
//! `front::dealloc_sized`) and the same slot methods (`fast_through`,
//! `slow_through`, `exit_flush_through`) with an active-slot word of its
//! own, so the slot states, the word, the fast path's single access, BUSY
//! slow paths, unarmed threads and the exit flush are what loom checks.

use super::ModelHeap;
use crate::cache::ThreadCache;
use crate::central::CentralHeap;
use crate::front::{self, Binding};
use crate::reentry::{self, Site};
use crate::size_class::ListOffset;
use crate::slot::{ActiveWord, CacheSlot};
use core::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The alignment every model allocation uses.
const ALIGN: usize = 16;

/// A modelled thread's binding to a model heap.
pub struct ModelThread<'h> {
    heap: &'h ModelHeap,
    slot: CacheSlot,
    /// Whether arming the exit hook succeeds on this thread.
    arm_succeeds: bool,
    /// Whether the (modelled) exit hook was armed, so exit runs the flush.
    armed: Cell<bool>,
    /// The thread's active-slot word, as the process-wide binding keeps it
    /// (the model thread stays in place once it has allocated).
    word: Word,
}

/// A model thread's active-slot word.
struct Word(Cell<*const CacheSlot>);

impl ActiveWord for Word {
    fn get(&self) -> *const CacheSlot {
        self.0.get()
    }

    fn set(&self, slot: *const CacheSlot) {
        self.0.set(slot)
    }
}

loom::thread_local! {
    /// The modelled thread whose slow paths re-enter (address; 0 = none),
    /// and whether a re-entrant call is running now.
    static REENTER: Cell<(usize, bool)> = Cell::new((0, false));
}

/// Re-entrant calls the hook made, over all models.
static REENTERED: AtomicUsize = AtomicUsize::new(0);

impl<'h> ModelThread<'h> {
    /// A fresh thread (FRESH) on `heap`. If `arm_succeeds` is false, the
    /// thread's exit hook cannot be armed, as when the keys are exhausted.
    pub fn new(heap: &'h ModelHeap, arm_succeeds: bool) -> Self {
        ModelThread {
            heap,
            slot: CacheSlot::new_modelled(),
            arm_succeeds,
            armed: Cell::new(false),
            word: Word(Cell::new(&crate::slot::CLOSED_SLOT.0)),
        }
    }

    /// `malloc(size)` through the thread's binding.
    pub fn malloc(&self, size: usize) -> *mut u8 {
        front::alloc(self, size, ALIGN)
    }

    /// Frees a block of `size` bytes through the thread's binding.
    ///
    /// # Safety
    /// `ptr` came from `malloc(size)` on any thread of this heap and is not
    /// used afterwards.
    pub unsafe fn free(&self, ptr: *mut u8, size: usize) {
        // SAFETY: forwarded precondition.
        unsafe { front::dealloc_sized(self, ptr, size, ALIGN) }
    }

    /// The thread exits: the platform runs the exit hook if it was armed.
    pub fn exit(&self) {
        if self.armed.get() {
            // SAFETY: the slot's cache was only used with this heap.
            unsafe { self.slot.exit_flush_through(&self.word, &self.heap.0) };
        }
    }

    /// The binding state (`0` FRESH, `1` ACTIVE, `2` BINDING, `3` DEAD,
    /// `4` BUSY).
    pub fn state(&self) -> u8 {
        self.slot.state()
    }

    /// From now on, every re-entry point on this loom thread (binding,
    /// refill, overflow, scavenge, flush, exit) makes a `malloc` and a
    /// `free` through this same binding, as a call from inside libc or a
    /// signal handler would.
    ///
    /// # Safety
    /// `self` stays alive and in place until the loom thread ends.
    pub unsafe fn reenter_from_slow_paths(&self) {
        reentry::set(Some(reenter));
        REENTER.with(|r| r.set((self as *const Self as usize, false)));
    }
}

/// Re-entrant calls made so far by [`ModelThread::reenter_from_slow_paths`].
pub fn reentered() -> usize {
    REENTERED.load(Ordering::Relaxed)
}

fn reenter(_site: Site) {
    let Ok((addr, busy)) = REENTER.try_with(|r| r.get()) else {
        return;
    };
    if addr == 0 || busy {
        return;
    }
    REENTER.with(|r| r.set((addr, true)));
    // SAFETY: the registering thread keeps its ModelThread alive (see
    // `reenter_from_slow_paths`), and this is that loom thread.
    let t = unsafe { &*(addr as *const ModelThread<'_>) };
    let p = t.malloc(24);
    assert!(!p.is_null(), "re-entrant malloc failed");
    // SAFETY: a fresh block of 24 bytes, freed once with its size.
    unsafe {
        p.write_bytes(0x5a, 24);
        t.free(p, 24);
    }
    REENTERED.fetch_add(1, Ordering::Relaxed);
    REENTER.with(|r| r.set((addr, false)));
}

impl Binding for ModelThread<'_> {
    fn central(&self) -> &CentralHeap {
        &self.heap.0
    }

    fn pop_fast(&self, list: ListOffset) -> *mut u8 {
        CacheSlot::pop_through(&self.word, list)
    }

    unsafe fn push_fast(&self, ptr: *mut u8, list: ListOffset, check_head: bool) -> bool {
        // SAFETY: forwarded precondition; the slot is only used with this
        // model heap.
        unsafe { CacheSlot::push_through(&self.word, ptr, list, check_head) }
    }

    fn slow<R>(
        &self,
        with: impl FnOnce(&mut ThreadCache, &CentralHeap) -> R,
        without: impl FnOnce(&CentralHeap) -> R,
    ) -> R {
        self.slot.slow_through(
            &self.word,
            &self.heap.0,
            || {
                self.armed.set(self.arm_succeeds);
                self.arm_succeeds
            },
            with,
            without,
        )
    }
}
