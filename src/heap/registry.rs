//! The registry of heap instances: one lock over every live heap, every
//! heap's attached caches and every thread's cache list, and the
//! operations that walk all heaps at once (the purger's tick, fork).
//!
//! ```text
//!  REGISTRY ─ lock
//!     └─ heaps: HeapInner ⇄ HeapInner ⇄ ...   (reg_next / reg_prev)
//!                  └─ attached: HeapCache ⇄ HeapCache ⇄ ...
//! ```

use super::{HeapInner, ThreadHeaps, THREAD_HEAPS};
#[cfg(unix)]
use crate::sync::RawLock;
use crate::sync::atomic::{AtomicPtr, Ordering};
use crate::sync::{Lock, LockGuard};
use core::ptr;

/// The registry of heap instances and thread attachments: its lock guards
/// every thread's cache list, every heap's attached list and the list of
/// live heaps (attach, thread exit, `Heap::drop`, fork, purger ticks).
///
/// Invariant: `heaps` and the links it reaches change only under `lock`.
pub(crate) struct Registry {
    lock: Lock,
    pub(super) heaps: AtomicPtr<HeapInner>,
}

// SAFETY: everything reachable from `heaps` is only touched under `lock`.
unsafe impl Sync for Registry {}

/// The registry of every heap instance the program creates.
pub(super) static REGISTRY: Registry = Registry::new();

impl Registry {
    const fn new() -> Self {
        Registry {
            lock: Lock::new(),
            heaps: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// A registry whose lock loom checks (for the models).
    #[cfg(loom)]
    pub(crate) fn new_modelled() -> Self {
        Registry {
            lock: Lock::new_modelled(),
            heaps: AtomicPtr::new(ptr::null_mut()),
        }
    }

    pub(super) fn lock(&self) -> LockGuard<'_> {
        self.lock.lock()
    }

    /// How many heaps are alive in this registry (loom models).
    #[cfg(loom)]
    pub(crate) fn heap_count(&self) -> usize {
        let _r = self.lock();
        let mut n = 0;
        let mut h = self.heaps.load(Ordering::Relaxed);
        while !h.is_null() {
            n += 1;
            // SAFETY: registry held: every listed heap is alive.
            h = unsafe { (*h).reg_next.get() };
        }
        n
    }

    /// The process-wide registry's raw lock, for fork handlers.
    #[cfg(unix)]
    fn raw_lock() -> &'static RawLock {
        match REGISTRY.lock.raw() {
            Some(l) => l,
            None => unreachable!("the process-wide registry uses a std lock"),
        }
    }
}

/// The background purger's tick for every heap instance (see `purger`).
/// Returns whether any heap has work left.
#[cfg(unix)]
pub(crate) fn background_tick_all(now: u64) -> bool {
    let _r = REGISTRY.lock();
    let mut more = false;
    let mut h = REGISTRY.heaps.load(Ordering::Relaxed);
    while !h.is_null() {
        // SAFETY: registry held: every listed heap is alive.
        unsafe {
            more |= (*h).central.background_tick(now);
            h = (*h).reg_next.get();
        }
    }
    more
}

/// Fork prepare: takes the registry and every heap instance's lock.
#[cfg(unix)]
pub(crate) fn lock_all_for_fork() {
    Registry::raw_lock().lock();
    let mut h = REGISTRY.heaps.load(Ordering::Relaxed);
    while !h.is_null() {
        // SAFETY: registry held: every listed heap is alive.
        unsafe {
            (*h).central.lock_for_fork();
            h = (*h).reg_next.get();
        }
    }
}

/// Fork parent/child: releases what `lock_all_for_fork` took. In the child,
/// only the forking thread exists: caches attached to any other thread are
/// detached first (their blocks are lost to the child), so no later heap
/// drop writes into the TLS of a thread that is gone.
#[cfg(unix)]
pub(crate) fn unlock_all_after_fork(child: bool) {
    let me = THREAD_HEAPS.with(|t| t as *const ThreadHeaps);
    let mut h = REGISTRY.heaps.load(Ordering::Relaxed);
    while !h.is_null() {
        // SAFETY: the registry is still held since prepare; every listed
        // heap and attached cache is alive.
        unsafe {
            let inner = &*h;
            if child {
                let mut c = inner.attached.get();
                while !c.is_null() {
                    let next = (*c).heap_next;
                    if !core::ptr::eq((*c).owner, me) {
                        inner.unlink_attached(c);
                    }
                    c = next;
                }
            }
            inner.central.unlock_after_fork();
            h = inner.reg_next.get();
        }
    }
    Registry::raw_lock().unlock();
}
