//! Thread caches: per size class, a private singly linked list of free blocks.
//!
//! ```text
//!   class 0 (16 B):  head ─▶ [blk] ─▶ [blk] ─▶ [blk] ─▶ null    len 3, max_len 64
//!   class 1 (32 B):  head ─▶ null                                len 0, max_len 64
//!   ...
//!   alloc: pop head            (miss → refill one batch from the central heap)
//!   free:  push head           (len > max_len → flush one batch to the central heap)
//! ```
//!
//! The fast path may do exactly this: index the class's list, compare, and
//! pop or push — no atomic read-modify-write, no lock, no region lookup, no
//! call. Everything else (refill, flush, adapting limits) is `#[cold]`.
//!
//! Limits adapt to use: a list starts with `max_len = batch`; each miss
//! (refill) that happens while the thread holds less than [`THREAD_BUDGET`]
//! raises that class's `max_len` by one batch, up to `8 × batch`. A refill or
//! flush that finds the thread over budget scavenges: every list gives back
//! half its blocks and halves its limit (never below one batch). So a class
//! that keeps missing earns a deeper list, and an idle thread holds at most
//! about the budget.
//!
//! A `ThreadCache` never touches another thread; it is given the central
//! heap explicitly on each slow-path call, which is what lets loom run
//! several caches against one heap without thread-locals.

use crate::central::CentralHeap;
use crate::region::Block;
use crate::size_class::{CLASSES, NUM_CLASSES, block_size};
use core::ptr;

/// Bytes of free blocks one thread cache aims to stay under.
pub const THREAD_BUDGET: usize = 2 << 20;
/// A list's limit never grows past this many batches.
const MAX_BATCHES_PER_LIST: u32 = 8;

/// One class's free list.
///
/// Invariant: `head` starts a null-terminated list of exactly `len` free
/// blocks of this class, owned by this cache.
#[derive(Clone, Copy)]
struct FreeList {
    head: *mut Block,
    len: u32,
    max_len: u32,
}

/// A thread's cache of free blocks, one list per size class.
///
/// Invariant: every block on a list is free, of that list's class, and was
/// handed out by the central heap this cache is always used with (the
/// binding layer pairs each cache with one central heap for its life).
/// `reported` is the cached-bytes figure last given to that central heap.
pub struct ThreadCache {
    lists: [FreeList; NUM_CLASSES],
    reported: usize,
}

const fn initial_lists() -> [FreeList; NUM_CLASSES] {
    let mut lists = [FreeList {
        head: ptr::null_mut(),
        len: 0,
        max_len: 0,
    }; NUM_CLASSES];
    let mut c = 0;
    while c < NUM_CLASSES {
        lists[c].max_len = CLASSES[c].batch;
        c += 1;
    }
    lists
}

impl Default for ThreadCache {
    fn default() -> Self {
        Self::new()
    }
}

impl ThreadCache {
    /// An empty cache.
    pub const fn new() -> Self {
        ThreadCache {
            lists: initial_lists(),
            reported: 0,
        }
    }

    /// Pops a block of `class`, refilling from `central` on a miss.
    /// Null only if the central heap is out of memory.
    ///
    /// # Safety
    /// `class < NUM_CLASSES`; this cache is only ever used with `central`.
    #[inline(always)]
    pub unsafe fn alloc(&mut self, central: &CentralHeap, class: usize) -> *mut u8 {
        debug_assert!(class < NUM_CLASSES);
        // SAFETY: `class < NUM_CLASSES` (caller).
        let list = unsafe { self.lists.get_unchecked_mut(class) };
        let b = list.head;
        if !b.is_null() {
            // SAFETY: `b` heads this list, so it is a free block we own.
            list.head = unsafe { (*b).next };
            list.len -= 1;
            return b.cast();
        }
        // SAFETY: forwarded precondition.
        unsafe { self.refill(central, class) }
    }

    /// Pushes `ptr` onto `class`'s list, flushing a batch to `central` if the
    /// list is over its limit.
    ///
    /// # Safety
    /// `ptr` is a block of `class` handed out by `central` and no longer used;
    /// this cache is only ever used with `central`.
    #[inline(always)]
    pub unsafe fn free(&mut self, central: &CentralHeap, ptr: *mut u8, class: usize) {
        debug_assert!(class < NUM_CLASSES);
        // SAFETY: `class < NUM_CLASSES` (caller).
        let list = unsafe { self.lists.get_unchecked_mut(class) };
        let b = ptr as *mut Block;
        if b == list.head {
            crate::os::fatal("double free detected (block is already the cache head)", ptr as usize);
        }
        // SAFETY: the block is free and ours now; its first word becomes the link.
        unsafe { (*b).next = list.head };
        list.head = b;
        list.len += 1;
        if list.len > list.max_len {
            // SAFETY: forwarded precondition.
            unsafe { self.overflow(central, class) };
        }
    }

    /// Bytes of free blocks on all lists.
    pub fn cached_bytes(&self) -> usize {
        self.lists
            .iter()
            .enumerate()
            .map(|(c, l)| l.len as usize * block_size(c))
            .sum()
    }

    /// The change in cached bytes since the last exchange with the central
    /// heap, recorded as reported. The central heap's figure therefore lags
    /// by at most the blocks moved in the latest exchange.
    fn report(&mut self) -> isize {
        let now = self.cached_bytes();
        let delta = now as isize - self.reported as isize;
        self.reported = now;
        delta
    }

    #[cold]
    #[inline(never)]
    unsafe fn refill(&mut self, central: &CentralHeap, class: usize) -> *mut u8 {
        let batch = CLASSES[class].batch;
        let over_budget = self.cached_bytes() + batch as usize * block_size(class) > THREAD_BUDGET;
        if over_budget {
            // SAFETY: forwarded precondition.
            unsafe { self.scavenge(central) };
        }
        let delta = self.report();
        let (head, count) = central.alloc_batch(class, batch as usize, delta);
        if count == 0 {
            return ptr::null_mut();
        }
        let list = &mut self.lists[class];
        if !over_budget && list.max_len < MAX_BATCHES_PER_LIST * batch {
            list.max_len += batch;
        }
        // SAFETY: `head` starts a list of `count` fresh blocks now owned here.
        list.head = unsafe { (*head).next };
        list.len = count as u32 - 1;
        head.cast()
    }

    #[cold]
    #[inline(never)]
    unsafe fn overflow(&mut self, central: &CentralHeap, class: usize) {
        let batch = CLASSES[class].batch as usize;
        // SAFETY: forwarded precondition.
        unsafe { self.release(central, class, batch) };
        if self.cached_bytes() > THREAD_BUDGET {
            // SAFETY: forwarded precondition.
            unsafe { self.scavenge(central) };
        }
    }

    /// Gives `n` blocks from the head of `class`'s list back to `central`
    /// (whole batches where possible, so they land in transfer slots).
    unsafe fn release(&mut self, central: &CentralHeap, class: usize, mut n: usize) {
        let batch = CLASSES[class].batch as usize;
        while n > 0 {
            let take = n.min(batch).min(self.lists[class].len as usize);
            if take == 0 {
                return;
            }
            let list = &mut self.lists[class];
            let head = list.head;
            let mut last = head;
            // SAFETY: the list holds at least `take` blocks we own.
            unsafe {
                for _ in 1..take {
                    last = (*last).next;
                }
                list.head = (*last).next;
                (*last).next = ptr::null_mut();
            }
            list.len -= take as u32;
            n -= take;
            let delta = self.report();
            // SAFETY: the detached blocks are free blocks of `class` from `central`.
            unsafe { central.free_batch(class, head, take, delta) };
        }
    }

    /// Halves every list and its limit.
    #[cold]
    unsafe fn scavenge(&mut self, central: &CentralHeap) {
        for class in 0..NUM_CLASSES {
            let batch = CLASSES[class].batch;
            let l = self.lists[class];
            let keep = l.len / 2;
            self.lists[class].max_len = (l.max_len / 2).max(batch);
            // SAFETY: forwarded precondition.
            unsafe { self.release(central, class, (l.len - keep) as usize) };
        }
    }

    /// Returns every cached block to `central` (thread exit, `Heap` drop
    /// paths, explicit flushes) and resets the limits.
    ///
    /// # Safety
    /// This cache is only ever used with `central`.
    pub unsafe fn flush(&mut self, central: &CentralHeap) {
        for class in 0..NUM_CLASSES {
            let len = self.lists[class].len as usize;
            // SAFETY: forwarded precondition.
            unsafe { self.release(central, class, len) };
            self.lists[class].max_len = CLASSES[class].batch;
        }
        let delta = self.report();
        if delta != 0 {
            // Record the final report with an empty exchange.
            // SAFETY: an empty list is a valid (empty) batch.
            unsafe { central.free_batch(0, ptr::null_mut(), 0, delta) };
        }
    }
}
