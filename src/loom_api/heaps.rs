//! Heap instances, for loom models: a registry whose lock loom checks, heap
//! instances over modelled central heaps listed in it, and modelled threads
//! with their own heap state, so `Heap::drop` can race a thread's exit
//! through the same code the real `Heap` runs.

use crate::Heap;
use crate::cache::ThreadCache;
use crate::central::{CentralHeap, Limits};
use crate::front::{self, Binding};
use crate::heap::{Registry, ThreadHeaps, detach_all};
use crate::size_class::ListOffset;

/// A registry of heap instances whose lock loom checks.
pub struct ModelRegistry(Registry);

impl Default for ModelRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl ModelRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        ModelRegistry(Registry::new_modelled())
    }

    /// A new heap instance over a modelled central heap, listed here.
    ///
    /// # Safety
    /// The registry outlives the heap.
    pub unsafe fn new_heap(&self) -> Heap {
        // SAFETY: forwarded precondition.
        match unsafe { Heap::create_in(&self.0, CentralHeap::new_modelled(Limits::TABLE)) } {
            Some(h) => h,
            None => panic!("cannot map a model heap"),
        }
    }

    /// How many heaps are listed.
    pub fn heap_count(&self) -> usize {
        self.0.heap_count()
    }
}

/// A modelled thread's state for heap instances (its `THREAD_HEAPS`).
pub struct ModelHeapThread {
    me: ThreadHeaps,
}

impl Default for ModelHeapThread {
    fn default() -> Self {
        Self::new()
    }
}

struct Bound<'a> {
    heap: &'a Heap,
    me: &'a ThreadHeaps,
}

impl Binding for Bound<'_> {
    fn central(&self) -> &CentralHeap {
        Binding::central(self.heap)
    }

    fn pop_fast(&self, list: ListOffset) -> *mut u8 {
        self.heap
            .fast_in(self.me, |c| c.pop(list))
            .unwrap_or(core::ptr::null_mut())
    }

    unsafe fn push_fast(&self, ptr: *mut u8, list: ListOffset, check_head: bool) -> bool {
        // SAFETY: forwarded precondition.
        self.heap.fast_in(self.me, |c| unsafe {
            c.push_if_room(ptr, list, check_head)
        }) == Some(true)
    }

    fn slow<R>(
        &self,
        with: impl FnOnce(&mut ThreadCache, &CentralHeap) -> R,
        without: impl FnOnce(&CentralHeap) -> R,
    ) -> R {
        self.heap.slow_in(self.me, || true, with, without)
    }
}

impl ModelHeapThread {
    /// A thread that has used no heap yet (its exit hook always arms).
    pub fn new() -> Self {
        ModelHeapThread {
            me: ThreadHeaps::new(),
        }
    }

    /// `malloc(size)` on `heap` through this thread's cache for it.
    pub fn malloc(&self, heap: &Heap, size: usize) -> *mut u8 {
        front::alloc(&Bound { heap, me: &self.me }, size, 16)
    }

    /// Frees a block of `size` bytes of `heap` through this thread's cache.
    ///
    /// # Safety
    /// `ptr` came from `malloc(heap, size)` and is not used afterwards.
    pub unsafe fn free(&self, heap: &Heap, ptr: *mut u8, size: usize) {
        // SAFETY: forwarded precondition.
        unsafe { front::dealloc_sized(&Bound { heap, me: &self.me }, ptr, size, 16) }
    }

    /// The thread exits: its exit hook detaches every cache it has.
    pub fn exit(&self, reg: &ModelRegistry) {
        detach_all(&self.me, &reg.0);
    }

    /// How many caches this thread has attached.
    pub fn cache_count(&self, reg: &ModelRegistry) -> usize {
        self.me.cache_count(&reg.0)
    }
}
