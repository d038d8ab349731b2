//! The per-class supply of small blocks: for each size class, a stack of
//! whole batches and a list of partial spans, behind the class's own lock.
//!
//! ```text
//!   class c  ┌ lock (CachePadded with its state: one cache line per class) ┐
//!            │ batches: [batch]─▶[batch]─▶...  whole batches, O(1) push/pop │
//!            │ partial: span ⇄ span ⇄ ...      spans with a free or uncarved │
//!            │                                 block                        │
//!            └──────────────┬────────────────────────────▲─────────────────┘
//!                  new span │ alloc_span      free_spans │ spans left empty
//!                           ▼ (page-heap lock, once)     │ (page-heap lock, once
//!                        page heap                         per returned list)
//! ```
//!
//! What a class lock protects ([`ClassState`]): its batch stack, its
//! partial list, its counters, and the small-span fields (`used`, `carved`,
//! `free`, `in_partial`, and the partial-list links) of every span of the
//! class. Threads working on different classes never wait for each other;
//! a class takes the page-heap lock only to get a fresh span or to give
//! back spans left empty, with its own lock held (lock order: class, then
//! page heap), so a span is never seen half-owned.
//!
//! The common exchange is a whole batch either way, O(1) under the lock.
//! Blocks go back to their spans only when a class's stack is full (or a
//! partial batch comes back, or idle batches are drained); spans that
//! become empty on the way are collected and returned to the page heap in
//! one acquisition at the end.

use super::page_heap::PageHeap;
use super::{Limits, LockCounts};
use crate::os;
use crate::region::{Block, PageDesc, REGION_ALIGN, RegionHeader, SPAN_SMALL};
use crate::size_class::{CLASSES, block_size};
use crate::sync::{Lock, UnsafeCell};
use core::ptr;

/// The link to the next batch, kept in the second word of a batch's head
/// block (every block is at least 16 bytes).
///
/// # Safety
/// `head` is a free block of at least 16 bytes owned by the central heap.
pub(super) unsafe fn next_batch(head: *mut Block) -> *mut *mut Block {
    // SAFETY: the second word lies inside the block (caller).
    unsafe { (head as *mut *mut Block).add(1) }
}

/// One class's state, behind its lock.
///
/// Invariants: `batches` is a stack of `nbatches ≤ limits.transfer_capacity(c)`
/// whole batches, linked through [`next_batch`]; each is a null-terminated
/// list of exactly `limits.batch(c)` blocks of class `c`. `partial` lists
/// exactly the spans of class `c` with `used > 0` that still have a free or
/// uncarved block. `small_out` is the bytes of this class's blocks out of
/// their spans (in caches, central batches or use); `transfer` the bytes in
/// `batches`.
pub(super) struct ClassState {
    pub(super) batches: *mut Block,
    pub(super) nbatches: usize,
    pub(super) partial: *mut PageDesc,
    /// When a whole batch was last pushed or popped (`os::now_ms()`, as
    /// read by the exchange): batches idle for half a purge delay go back
    /// to their spans.
    pub(super) moved_at: u64,
    pub(super) small_out: usize,
    pub(super) transfer: usize,
    /// Bytes of this class in thread caches, as last reported: each
    /// exchange adds the cache's change for this class since its previous
    /// report.
    pub(super) cached: usize,
    pub(super) refilled: u64,
    pub(super) flushed: u64,
    pub(super) lock: LockCounts,
    /// Nanoseconds held, estimated: each timed acquisition (one in
    /// [`HOLD_SAMPLE`]) counts for the [`HOLD_SAMPLE`] around it, so the
    /// sum only grows.
    pub(super) hold_est_ns: u64,
}

/// One class-lock acquisition in this many is timed: two clock reads on
/// every exchange would cost about 0.7 ns per block moved, a sample of
/// one in 64 costs nothing measurable and still gives the mean hold time.
const HOLD_SAMPLE: u64 = 64;

/// A class's lock and the state behind it.
pub(super) struct ClassSupply {
    pub(super) lock: Lock,
    state: UnsafeCell<ClassState>,
}

impl ClassSupply {
    pub(super) const fn new() -> Self {
        ClassSupply {
            lock: Lock::new(),
            state: UnsafeCell::new(ClassState::new()),
        }
    }

    #[cfg(loom)]
    pub(super) fn new_modelled() -> Self {
        ClassSupply {
            lock: Lock::new_modelled(),
            state: UnsafeCell::new_modelled(ClassState::new()),
        }
    }

    /// Runs `f` on the state with the lock held, counting the acquisition
    /// and whether it had to wait.
    #[inline]
    pub(super) fn locked<R>(&self, f: impl FnOnce(&mut ClassState) -> R) -> R {
        let (_guard, contended) = self.lock.lock_noting_contention();
        self.state.with_mut(|s| {
            // SAFETY: the lock is held for the closure's whole duration, so
            // this is the only reference to the state.
            let s = unsafe { &mut *s };
            s.lock.note(contended);
            let sampled = s.lock.acquired % HOLD_SAMPLE == 0;
            let start = if sampled { os::now_ns() } else { 0 };
            let r = f(s);
            if sampled {
                s.hold_est_ns += os::now_ns().wrapping_sub(start) * HOLD_SAMPLE;
            }
            r
        })
    }

    /// The state, for a caller that holds the lock through a guard of its
    /// own (see `CentralHeap::everything`).
    ///
    /// # Safety
    /// The caller holds `self.lock` for as long as it uses the pointer.
    pub(super) unsafe fn state_ptr(&self) -> *mut ClassState {
        self.state.with_mut(|s| s)
    }
}

impl ClassState {
    pub(super) const fn new() -> Self {
        ClassState {
            batches: ptr::null_mut(),
            nbatches: 0,
            partial: ptr::null_mut(),
            moved_at: 0,
            small_out: 0,
            transfer: 0,
            cached: 0,
            refilled: 0,
            flushed: 0,
            lock: LockCounts::new(),
            hold_est_ns: 0,
        }
    }

    unsafe fn partial_insert(&mut self, s: *mut PageDesc) {
        // SAFETY: `s` is a small span of this class not on the list.
        unsafe {
            (*s).prev = ptr::null_mut();
            (*s).next = self.partial;
            if !self.partial.is_null() {
                (*self.partial).prev = s;
            }
            self.partial = s;
            (*s).in_partial = true;
        }
    }

    unsafe fn partial_remove(&mut self, s: *mut PageDesc) {
        // SAFETY: `s` is on this class's partial list.
        unsafe {
            if (*s).prev.is_null() {
                self.partial = (*s).next;
            } else {
                (*(*s).prev).next = (*s).next;
            }
            if !(*s).next.is_null() {
                (*(*s).next).prev = (*s).prev;
            }
            (*s).next = ptr::null_mut();
            (*s).prev = ptr::null_mut();
            (*s).in_partial = false;
        }
    }

    /// Takes up to `want` blocks as a null-terminated list: a whole batch
    /// from the stack if one is there and `want` covers it, else blocks
    /// from partial spans, then from fresh spans of the page heap.
    /// Returns (head, count); count 0 means out of memory.
    ///
    /// # Safety
    /// The class lock is held; `pages` and `owner` are this heap's.
    pub(super) unsafe fn take(
        &mut self,
        class: usize,
        want: usize,
        limits: &Limits,
        pages: &PageHeap,
        owner: usize,
        now: u64,
    ) -> (*mut Block, usize) {
        let info = CLASSES[class];
        let size = info.block_size as usize;
        let batch = limits.batch(class) as usize;
        // SAFETY: lock held; batches and partial spans belong to `class`.
        unsafe {
            if self.nbatches > 0 && want >= batch {
                self.moved_at = now;
                let head = self.batches;
                self.batches = *next_batch(head);
                self.nbatches -= 1;
                self.transfer -= batch * size;
                return (head, batch);
            }
            let mut head: *mut Block = ptr::null_mut();
            let mut tail: *mut Block = ptr::null_mut();
            let mut count = 0;
            while count < want {
                let mut s = self.partial;
                if s.is_null() {
                    s = pages.alloc_span(owner, class);
                    if s.is_null() {
                        break;
                    }
                    (*s).used = 0;
                    (*s).carved = 0;
                    (*s).free = ptr::null_mut();
                    self.partial_insert(s);
                }
                let base = RegionHeader::page_addr(RegionHeader::of_desc(s), (*s).index as usize);
                while count < want {
                    let b = if !(*s).free.is_null() {
                        let b = (*s).free;
                        (*s).free = (*b).next;
                        b
                    } else if (*s).carved < info.blocks_per_span {
                        let b = base.add((*s).carved as usize * size) as *mut Block;
                        (*s).carved += 1;
                        b
                    } else {
                        break;
                    };
                    (*b).next = ptr::null_mut();
                    if tail.is_null() {
                        head = b;
                    } else {
                        (*tail).next = b;
                    }
                    tail = b;
                    (*s).used += 1;
                    count += 1;
                }
                if (*s).free.is_null() && (*s).carved == info.blocks_per_span {
                    self.partial_remove(s);
                }
            }
            self.small_out += count * size;
            (head, count)
        }
    }

    /// Takes back `count` blocks: a whole batch onto the stack if there is
    /// room (O(1)), anything else back to its spans.
    ///
    /// # Safety
    /// The class lock is held; every block of the null-terminated list was
    /// handed out by this heap for `class` and is not used any more.
    pub(super) unsafe fn give(
        &mut self,
        class: usize,
        head: *mut Block,
        count: usize,
        limits: &Limits,
        pages: &PageHeap,
        now: u64,
    ) {
        if count == limits.batch(class) as usize && self.nbatches < limits.transfer_capacity(class)
        {
            // SAFETY: `head` is a free block of this class, now ours.
            unsafe { *next_batch(head) = self.batches };
            self.moved_at = now;
            self.batches = head;
            self.nbatches += 1;
            self.transfer += count * block_size(class);
            return;
        }
        // SAFETY: caller's precondition.
        unsafe { self.return_list(class, head, pages, now) };
    }

    /// Returns every whole batch on the stack to its spans.
    ///
    /// # Safety
    /// The class lock is held; `pages` is this heap's.
    pub(super) unsafe fn drain_batches(
        &mut self,
        class: usize,
        limits: &Limits,
        pages: &PageHeap,
        now: u64,
    ) {
        let bytes = limits.batch(class) as usize * block_size(class);
        // Chain the batches into one list, so the spans left empty go back
        // to the page heap in one acquisition.
        let mut all: *mut Block = ptr::null_mut();
        // SAFETY: the stack holds whole batches of `class` (invariant).
        unsafe {
            while self.nbatches > 0 {
                let head = self.batches;
                self.batches = *next_batch(head);
                self.nbatches -= 1;
                self.transfer -= bytes;
                let mut tail = head;
                while !(*tail).next.is_null() {
                    tail = (*tail).next;
                }
                (*tail).next = all;
                all = head;
            }
            self.return_list(class, all, pages, now);
        }
    }

    /// Returns every block of a null-terminated list to its span; spans
    /// left empty go back to the page heap together at the end.
    unsafe fn return_list(&mut self, class: usize, mut b: *mut Block, pages: &PageHeap, now: u64) {
        let size = block_size(class);
        let mut empty: *mut PageDesc = ptr::null_mut();
        // SAFETY: each block is a live-span block of `class` from this heap
        // (caller); the class lock is held, so its spans' small fields are ours.
        unsafe {
            while !b.is_null() {
                let next = (*b).next;
                let r = (b as usize & !(REGION_ALIGN - 1)) as *mut RegionHeader;
                let page = (b as usize - r as usize) >> crate::region::PAGE_SHIFT;
                let s = RegionHeader::desc(r, (*RegionHeader::desc(r, page)).span_start as usize);
                if (*s).kind != SPAN_SMALL || (*s).class as usize != class || (*s).used == 0 {
                    os::fatal(
                        "block freed with the wrong size, or heap corruption",
                        b as usize,
                    );
                }
                (*b).next = (*s).free;
                (*s).free = b;
                (*s).used -= 1;
                self.small_out -= size;
                if (*s).used == 0 {
                    if (*s).in_partial {
                        self.partial_remove(s);
                    }
                    (*s).next = empty;
                    empty = s;
                } else if !(*s).in_partial {
                    self.partial_insert(s);
                }
                b = next;
            }
            if !empty.is_null() {
                pages.free_spans(empty, now);
            }
        }
    }
}
