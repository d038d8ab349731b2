//! Thread caches: per size class, a private singly linked list of free
//! blocks, and behind it a stack of whole batches.
//!
//! ```text
//!   class 0 (16 B):  head ─▶ [blk] ─▶ [blk] ─▶ null        len 2, limit 64
//!                    full ─▶ [batch of 64] ─▶ [batch of 64]   nfull 2, max_len 256
//!   class 1 (32 B):  head ─▶ null                           len 0, limit 1
//!   ...
//!   alloc: pop head       (miss → a batch from `full`, else one from the central heap)
//!   free:  push head      (len > limit → all but the newest block become a whole
//!                          batch on `full`; over max_len → the top batch goes to
//!                          the central heap, whole)
//! ```
//!
//! The fast path may do exactly this: index the class's list, compare, and
//! pop or push — no atomic read-modify-write, no lock, no region lookup, no
//! call ([`ThreadCache::pop`], [`ThreadCache::push`]). Everything else
//! (refill, overflow, scavenge, flush) is `#[cold]` and runs while the
//! binding marks the thread busy, so a call that re-enters memalloc from
//! inside one is served without touching this cache (see `reentry`). The
//! slow paths call nothing but the central heap, which makes no call that
//! can re-enter (system calls only).
//!
//! Limits adapt to use (slow start): a list starts with `max_len = 1`; a
//! miss fetches `min(max_len, batch)` blocks and doubles `max_len` while it
//! is below one batch (tcmalloc adds 1; doubling reaches a batch in 6 misses
//! instead of 63, which is most of a short-lived thread's central
//! traffic), then raises it by a batch at a time up to `8 × batch` or
//! 512 KiB of blocks, whichever is more — so a class that keeps missing
//! earns a deeper list, and a thread that builds and drops a big structure
//! of small blocks keeps it to itself instead of passing it through the
//! central tier. The
//! current list holds at most `limit = min(max_len, batch)` blocks; past a
//! batch, blocks move to the stack of whole batches in O(1) (no walk), and
//! whole batches move between the stack and the central heap in O(1) on
//! both sides. A list over `max_len` gives back one batch; after more than
//! 3 such overflows it also shrinks by a batch, so a thread that only frees
//! (a consumer) does not hoard.
//!
//! Budget: the *capacity* `Σ (max_len − 1) × block_size` over all lists never
//! exceeds [`THREAD_BUDGET`] (2 MiB): a raise that would pass it first
//! scavenges (every list halves its limit and gives back what is over it),
//! and is skipped if there is still no room. A thread therefore caches at
//! most `THREAD_BUDGET` plus one block per class.
//!
//! A `ThreadCache` never touches another thread; it is given the central
//! heap explicitly on each slow-path call, which is what lets loom run
//! several caches against one heap without thread-locals.

use crate::central::CentralHeap;
use crate::region::Block;
use crate::size_class::{ListOffset, NUM_CLASSES, block_size};
use core::ptr;

/// Bytes of free blocks one thread cache aims to stay under.
pub const THREAD_BUDGET: usize = 2 << 20;
/// A list's limit never grows past this many batches, or past
/// [`MAX_LIST_BYTES`] if that is more.
const MAX_BATCHES_PER_LIST: u32 = 8;
/// Bytes of blocks one list may grow to (in whole batches), within the
/// thread's budget. Eight batches of 16-byte blocks are only 8 KiB: a
/// thread that built and dropped a 512 KiB tree of them sent almost all of
/// it through the central tier, where two to eight such threads fought
/// over one class lock and got each other's blocks, cold in another
/// core's cache. Measured on the bursts workload (16-byte trees of 32 768
/// nodes), objects/s, three runs each, in one session: 8 batches 112–120
/// M at 1 thread, 117–125 M at 2, 128–139 M at 4, 123–129 M at 8; 512 KiB
/// 127–133 M, 178–250 M, 235–256 M, 160–226 M; mimalloc 116–117 M,
/// 181–221 M, 222–231 M, 138–147 M.
#[cfg(not(loom))]
const MAX_LIST_BYTES: usize = 512 * 1024;
/// Loom models cap batches at a few blocks so that lists overflow into the
/// central heap within a few operations; a byte cap would let their lists
/// grow past every operation a model makes, and the handoff would go
/// unchecked. They keep the eight-batch cap.
#[cfg(loom)]
const MAX_LIST_BYTES: usize = 0;

/// The most blocks `class`'s list may hold: eight batches, or
/// [`MAX_LIST_BYTES`] in whole batches if that is more.
fn max_list_len(class: usize, batch: u32) -> u32 {
    let by_bytes = (MAX_LIST_BYTES / block_size(class)) as u32 / batch * batch;
    (MAX_BATCHES_PER_LIST * batch).max(by_bytes)
}
/// Overflows at full depth tolerated before a list's limit shrinks.
const MAX_OVERAGES: u32 = 3;

/// Every class's current list: the part of its free blocks the fast path
/// pops and pushes, as parallel arrays indexed by class, so that the fast
/// path reaches a list's head and room with the class itself as the index
/// (`[cache + class × 8]`, `[cache + rooms + class × 4]`: x86-64 applies
/// both scales for free) and needs no shift of the class to form a byte
/// offset ([`ListOffset`]). The heads of all 40 classes take five cache
/// lines and their rooms three.
///
/// Invariants, for each class `c`: `heads[c]` starts a null-terminated list
/// of exactly `len = limits[c] − rooms[c]` free blocks of class `c`, owned
/// by this cache, with `rooms[c] ≥ −1` (−1 only between a push and its
/// overflow). `limits[c] = min(max_len, batch)` of the class's
/// [`FreeList`]. The fast path's push is `room -= 1` after a sign test;
/// its pop is `room += 1`.
#[derive(Clone, Copy)]
#[repr(C)]
struct CurrentLists {
    heads: [*mut Block; NUM_CLASSES],
    rooms: [i32; NUM_CLASSES],
    limits: [u32; NUM_CLASSES],
}

impl CurrentLists {
    /// Lists with `room == limit` for every class: empty, with room
    /// `limit` (0 for a closed list).
    const fn empty(limit: u32) -> Self {
        CurrentLists {
            heads: [ptr::null_mut(); NUM_CLASSES],
            rooms: [limit as i32; NUM_CLASSES],
            limits: [limit; NUM_CLASSES],
        }
    }

    /// Blocks on `class`'s current list.
    #[inline]
    fn len(&self, class: usize) -> u32 {
        (self.limits[class] as i32 - self.rooms[class]) as u32
    }

    /// Records that `class`'s current list holds `len` blocks.
    #[inline]
    fn set_len(&mut self, class: usize, len: u32) {
        self.rooms[class] = self.limits[class] as i32 - len as i32;
    }
}

/// One class's slow-path state: the stack of whole batches behind its
/// current list, and its limits.
///
/// Invariants: `full` is a stack of `nfull` whole batches (each a
/// null-terminated list of exactly the central heap's batch of blocks,
/// linked through the second word of its head block, as the central batch
/// stack does). Outside a slow path `len + nfull × batch ≤ max_len`.
/// `reported` is the block count last reported to the central heap (its
/// figure for this class lags by the blocks pushed and popped since).
#[derive(Clone, Copy)]
struct FreeList {
    full: *mut Block,
    nfull: u32,
    max_len: u32,
    overages: u32,
    reported: u32,
}

/// A thread's cache of free blocks, one list per size class.
///
/// Invariant: every block on a list is free, of that list's class, and was
/// handed out by the central heap this cache is always used with (the
/// binding layer pairs each cache with one central heap for its life).
/// `capacity == Σ (max_len − 1) × block_size ≤ THREAD_BUDGET`.
pub struct ThreadCache {
    current: CurrentLists,
    lists: [FreeList; NUM_CLASSES],
    capacity: usize,
}

const fn initial_lists() -> [FreeList; NUM_CLASSES] {
    [FreeList {
        full: ptr::null_mut(),
        nfull: 0,
        max_len: 1,
        overages: 0,
        reported: 0,
    }; NUM_CLASSES]
}

/// How much a list's limit grows on a miss (or an overflow below one
/// batch): doubling up to a batch, then a batch at a time.
#[inline]
fn slow_start_step(max_len: u32, batch: u32) -> u32 {
    if max_len < batch {
        max_len.min(batch - max_len)
    } else {
        batch
    }
}

/// Pops the top whole batch of `list`'s stack.
///
/// # Safety
/// `list.nfull > 0`.
unsafe fn pop_full(list: &mut FreeList) -> *mut Block {
    let b = list.full;
    // SAFETY: `b` heads a whole batch of the stack (invariant); its second
    // word links the batch below.
    unsafe { list.full = *next_batch(b) };
    list.nfull -= 1;
    b
}

/// The link to the next whole batch, in the second word of a batch's head
/// block (blocks are at least 16 bytes).
///
/// # Safety
/// `head` is a free block owned by this cache.
unsafe fn next_batch(head: *mut Block) -> *mut *mut Block {
    // SAFETY: the second word lies inside the block (caller).
    unsafe { (head as *mut *mut Block).add(1) }
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
            current: CurrentLists::empty(1),
            lists: initial_lists(),
            capacity: 0,
        }
    }

    /// A cache whose current lists are all *closed*: empty, with no room
    /// (`head` null, `room == limit == 0`), so [`Self::pop_raw`] and
    /// [`Self::push_raw`] fail on every list of it without writing
    /// anything. The closed slot (`slot::CLOSED_SLOT`) holds one, shared by
    /// every thread and never written.
    pub(crate) const fn closed() -> Self {
        ThreadCache {
            current: CurrentLists::empty(0),
            lists: initial_lists(),
            capacity: 0,
        }
    }

    /// The head and the room of `list`'s current list in the cache at
    /// `this`.
    ///
    /// # Safety
    /// `this` points to a live cache.
    #[inline(always)]
    unsafe fn current_raw(this: *mut ThreadCache, list: ListOffset) -> (*mut *mut Block, *mut i32) {
        debug_assert!(list.class() < NUM_CLASSES);
        // SAFETY: `list.class() < NUM_CLASSES` (`ListOffset` invariant), so
        // both name elements of the arrays of `current`, inside the live
        // cache (caller).
        unsafe {
            (
                (ptr::addr_of_mut!((*this).current.heads) as *mut *mut Block).add(list.class()),
                (ptr::addr_of_mut!((*this).current.rooms) as *mut i32).add(list.class()),
            )
        }
    }

    /// The fast path's pop on the cache at `this`: a block of `list`'s
    /// class, or null if the current list is empty (always, on a closed
    /// cache). Makes no call, forms no reference, and writes only a list
    /// with a block on it.
    ///
    /// # Safety
    /// `this` points to a live cache, and the calling thread may write any
    /// of its lists that has a block on it or room (that is, it owns the
    /// cache, or the cache is closed).
    #[inline(always)]
    pub(crate) unsafe fn pop_raw(this: *mut ThreadCache, list: ListOffset) -> *mut u8 {
        // SAFETY: a live cache (caller).
        let (head, room) = unsafe { Self::current_raw(this, list) };
        // SAFETY: both lie in the live cache; they are written only if the
        // list has a block, which the caller may then write.
        unsafe {
            let b = *head;
            if !b.is_null() {
                // `b` heads this list, so it is a free block we own.
                *head = (*b).next;
                *room += 1;
            }
            b.cast()
        }
    }

    /// The fast path's push on the cache at `this`: puts `ptr` on `list`'s
    /// current list and returns true if the list has room for it without
    /// an overflow and, with `check_head`, `ptr` is not its head; returns
    /// false, writing nothing, otherwise (always, on a closed cache). The
    /// caller then takes the slow path ([`Self::free`]: the push with its
    /// overflow, or the diagnosis of an immediate double free). Makes no
    /// call and forms no reference.
    ///
    /// `check_head` is for frees that name no size (`free(p)`), where a
    /// double free is a runtime input to diagnose. A free with a size
    /// (`GlobalAlloc::dealloc`) skips it: there a double free breaks the
    /// caller's `unsafe` contract, as any use after free does, and safe
    /// code cannot make one; the test would cost two instructions on every
    /// `dealloc`.
    ///
    /// # Safety
    /// As [`Self::pop_raw`]; `ptr` is a block of `list`'s class handed out
    /// by the central heap this cache is used with, and no longer used.
    #[inline(always)]
    pub(crate) unsafe fn push_raw(
        this: *mut ThreadCache,
        ptr: *mut u8,
        list: ListOffset,
        check_head: bool,
    ) -> bool {
        // SAFETY: a live cache (caller).
        let (head, room) = unsafe { Self::current_raw(this, list) };
        let b = ptr as *mut Block;
        // SAFETY: both lie in the live cache; they are written only if the
        // list has room, which the caller may then write; the block is free
        // and ours now, and its first word becomes the link.
        unsafe {
            if *room <= 0 || (check_head && b == *head) {
                return false;
            }
            (*b).next = *head;
            *head = b;
            *room -= 1;
        }
        true
    }

    /// [`Self::pop_raw`] on a cache the caller holds.
    #[inline(always)]
    pub(crate) fn pop(&mut self, list: ListOffset) -> *mut u8 {
        // SAFETY: a live cache that the caller holds exclusively.
        unsafe { Self::pop_raw(self, list) }
    }

    /// [`Self::push_raw`] on a cache the caller holds.
    ///
    /// # Safety
    /// `ptr` is a block of `list`'s class handed out by the central heap
    /// this cache is used with, and no longer used.
    #[inline(always)]
    pub(crate) unsafe fn push_if_room(
        &mut self,
        ptr: *mut u8,
        list: ListOffset,
        check_head: bool,
    ) -> bool {
        // SAFETY: a live cache that the caller holds exclusively; forwarded
        // precondition.
        unsafe { Self::push_raw(self, ptr, list, check_head) }
    }

    /// The slow path's push: puts `ptr` on `list`'s current list and
    /// returns whether that list is now over its limit (the caller then
    /// runs [`Self::overflow`]). Aborts on an immediate double free.
    ///
    /// # Safety
    /// `ptr` is a block of `list`'s class handed out by the central heap
    /// this cache is used with, and no longer used.
    unsafe fn push(&mut self, ptr: *mut u8, list: ListOffset) -> bool {
        let class = list.class();
        let b = ptr as *mut Block;
        if b == self.current.heads[class] {
            crate::os::fatal(
                "double free detected (block is already the cache head)",
                ptr as usize,
            );
        }
        // SAFETY: the block is free and ours now; its first word becomes the link.
        unsafe { (*b).next = self.current.heads[class] };
        self.current.heads[class] = b;
        self.current.rooms[class] -= 1;
        self.current.rooms[class] < 0
    }

    /// Pops a block of `class`, refilling on a miss.
    /// Null only if the central heap is out of memory.
    ///
    /// # Safety
    /// `class < NUM_CLASSES`; this cache is only ever used with `central`.
    #[inline(always)]
    pub(crate) unsafe fn alloc(&mut self, central: &CentralHeap, class: usize) -> *mut u8 {
        debug_assert!(class < NUM_CLASSES);
        let b = self.pop(ListOffset::of_class(class));
        if !b.is_null() {
            return b;
        }
        // SAFETY: forwarded precondition.
        unsafe { self.refill(central, class) }
    }

    /// Pushes `ptr` onto `class`'s list, running the overflow if the
    /// current list is over its limit.
    ///
    /// # Safety
    /// `ptr` is a block of `class` handed out by `central` and no longer used;
    /// this cache is only ever used with `central`.
    #[inline(always)]
    pub(crate) unsafe fn free(&mut self, central: &CentralHeap, ptr: *mut u8, class: usize) {
        // SAFETY: forwarded precondition.
        if unsafe { self.push(ptr, ListOffset::of_class(class)) } {
            // SAFETY: forwarded precondition.
            unsafe { self.overflow(central, class) };
        }
    }

    /// Bytes of free blocks on all lists (tests; exchanges report one
    /// class at a time).
    #[cfg(test)]
    pub(crate) fn cached_bytes(&self, central: &CentralHeap) -> usize {
        (0..NUM_CLASSES)
            .map(|c| self.total(c, central.batch(c)) as usize * block_size(c))
            .sum()
    }

    /// Blocks `class` holds: the current list and the whole batches.
    #[inline]
    fn total(&self, class: usize, batch: u32) -> u32 {
        self.current.len(class) + self.lists[class].nfull * batch
    }

    /// The change in `class`'s cached bytes since its last exchange with
    /// the central heap, recorded as reported: O(1), one class at a time,
    /// so an exchange does not walk every list. The central heap's figure
    /// for a class lags by the blocks pushed and popped since its last
    /// exchange.
    fn report(&mut self, class: usize, batch: u32) -> isize {
        let total = self.total(class, batch);
        let list = &mut self.lists[class];
        let delta = (total as isize - list.reported as isize) * block_size(class) as isize;
        list.reported = total;
        delta
    }

    /// Sets `class`'s limit, keeping `capacity` and the current list's
    /// `limit` exact.
    fn set_max_len(&mut self, class: usize, max_len: u32, batch: u32) {
        let size = block_size(class);
        let old = self.lists[class].max_len;
        self.capacity = self.capacity + (max_len as usize - 1) * size - (old as usize - 1) * size;
        self.lists[class].max_len = max_len;
        // The current list keeps its blocks; only its room changes.
        let len = self.current.len(class);
        self.current.limits[class] = max_len.min(batch);
        self.current.set_len(class, len);
    }

    /// Raises `class`'s limit by `grow` if the budget allows (scavenging
    /// other lists first if that makes room).
    unsafe fn try_grow(&mut self, central: &CentralHeap, class: usize, grow: u32) {
        let batch = central.batch(class);
        let l = self.lists[class];
        if l.max_len + grow > max_list_len(class, batch) {
            return;
        }
        let extra = grow as usize * block_size(class);
        if self.capacity + extra > THREAD_BUDGET {
            // SAFETY: forwarded precondition.
            unsafe { self.scavenge(central) };
        }
        if self.capacity + extra <= THREAD_BUDGET {
            self.set_max_len(class, self.lists[class].max_len + grow, batch);
        }
    }

    /// A miss: the current list is empty. A whole batch of the cache's own
    /// stack becomes the current list if there is one (O(1), no lock);
    /// otherwise a batch comes from the central heap and the limit grows.
    #[cold]
    #[inline(never)]
    unsafe fn refill(&mut self, central: &CentralHeap, class: usize) -> *mut u8 {
        crate::reentry::point(crate::reentry::Site::Refill);
        let batch = central.batch(class);
        let list = &mut self.lists[class];
        if list.nfull > 0 {
            // SAFETY: the stack holds a whole batch (checked).
            let b = unsafe { pop_full(list) };
            // SAFETY: `b` heads a whole batch of `batch` blocks owned here.
            self.current.heads[class] = unsafe { (*b).next };
            self.current.set_len(class, batch - 1);
            return b.cast();
        }
        let want = list.max_len.min(batch) as usize;
        let delta = self.report(class, batch);
        let (head, count) = central.alloc_batch(class, want, delta);
        if count == 0 {
            return ptr::null_mut();
        }
        // SAFETY: `head` starts a list of `count` fresh blocks now owned here.
        self.current.heads[class] = unsafe { (*head).next };
        self.current.set_len(class, count as u32 - 1);
        let grow = slow_start_step(self.lists[class].max_len, batch);
        // SAFETY: forwarded precondition.
        unsafe { self.try_grow(central, class, grow) };
        head.cast()
    }

    /// A push left the current list over its limit. At full depth (the
    /// limit is a batch), every block but the newest becomes a whole batch
    /// on the cache's stack, with no walk; a stack over `max_len` gives
    /// its top batch to the central heap whole (O(1) there too). Below a
    /// batch (slow start), the list gives back what is over and grows.
    ///
    /// # Safety
    /// `class < NUM_CLASSES`; this cache is only ever used with `central`.
    #[cold]
    #[inline(never)]
    pub(crate) unsafe fn overflow(&mut self, central: &CentralHeap, class: usize) {
        crate::reentry::point(crate::reentry::Site::Overflow);
        let batch = central.batch(class);
        let l = self.lists[class];
        if self.current.len(class) <= batch {
            // Slow start: the limit is below a batch.
            // SAFETY: forwarded precondition.
            unsafe { self.release_current(central, class, l.max_len as usize) };
            // SAFETY: forwarded precondition.
            unsafe { self.try_grow(central, class, slow_start_step(l.max_len, batch)) };
            return;
        }
        let list = &mut self.lists[class];
        // `len == batch + 1`: all but the head make one whole batch.
        let newest = self.current.heads[class];
        // SAFETY: the list holds `batch + 1` blocks we own.
        unsafe {
            let rest = (*newest).next;
            (*newest).next = ptr::null_mut();
            *next_batch(rest) = list.full;
            list.full = rest;
        }
        list.nfull += 1;
        self.current.set_len(class, 1);
        if self.total(class, batch) <= self.lists[class].max_len {
            return;
        }
        let list = &mut self.lists[class];
        list.overages += 1;
        if list.overages > MAX_OVERAGES {
            list.overages = 0;
            let shrunk = (l.max_len - batch).max(batch);
            self.set_max_len(class, shrunk, batch);
        }
        // SAFETY: forwarded precondition.
        unsafe { self.trim_list(central, class) };
    }

    /// Gives back whole batches, then current blocks, until `class` holds
    /// no more than its `max_len`.
    unsafe fn trim_list(&mut self, central: &CentralHeap, class: usize) {
        let batch = central.batch(class);
        while self.total(class, batch) > self.lists[class].max_len {
            if self.lists[class].nfull > 0 {
                // SAFETY: forwarded precondition.
                unsafe { self.release_full(central, class) };
            } else {
                let over = self.total(class, batch) - self.lists[class].max_len;
                // SAFETY: forwarded precondition.
                unsafe { self.release_current(central, class, over as usize) };
            }
        }
    }

    /// Gives the top whole batch of `class`'s stack to `central` (O(1)
    /// there: it stacks whole batches).
    ///
    /// # Safety
    /// `self.lists[class].nfull > 0`; this cache is only ever used with `central`.
    unsafe fn release_full(&mut self, central: &CentralHeap, class: usize) {
        let batch = central.batch(class);
        // SAFETY: caller's precondition.
        let b = unsafe { pop_full(&mut self.lists[class]) };
        let delta = self.report(class, batch);
        // SAFETY: `b` is a whole batch of free blocks of `class` from `central`.
        unsafe { central.free_batch(class, b, batch as usize, delta) };
    }

    /// Gives `n` blocks from the head of `class`'s current list back to
    /// `central` (the whole list at once if `n` covers it, with no walk).
    unsafe fn release_current(&mut self, central: &CentralHeap, class: usize, n: usize) {
        let batch = central.batch(class);
        let len = self.current.len(class);
        let take = n.min(len as usize);
        if take == 0 {
            return;
        }
        let list = &mut self.current.heads[class];
        let head = *list;
        if take == len as usize {
            *list = ptr::null_mut();
        } else {
            let mut last = head;
            // SAFETY: the list holds more than `take` blocks we own.
            unsafe {
                for _ in 1..take {
                    last = (*last).next;
                }
                *list = (*last).next;
                (*last).next = ptr::null_mut();
            }
        }
        self.current.set_len(class, len - take as u32);
        let delta = self.report(class, batch);
        // SAFETY: the detached blocks are free blocks of `class` from `central`.
        unsafe { central.free_batch(class, head, take, delta) };
    }

    /// Halves every list's limit and gives back what is over it.
    #[cold]
    unsafe fn scavenge(&mut self, central: &CentralHeap) {
        crate::reentry::point(crate::reentry::Site::Scavenge);
        for class in 0..NUM_CLASSES {
            let batch = central.batch(class);
            let max_len = (self.lists[class].max_len / 2).max(1);
            self.set_max_len(class, max_len, batch);
            // SAFETY: forwarded precondition.
            unsafe { self.trim_list(central, class) };
        }
    }

    /// Returns every cached block to `central` (thread exit, `Heap` drop
    /// paths, explicit flushes) and resets the limits.
    ///
    /// # Safety
    /// This cache is only ever used with `central`.
    pub(crate) unsafe fn flush(&mut self, central: &CentralHeap) {
        crate::reentry::point(crate::reentry::Site::Flush);
        for class in 0..NUM_CLASSES {
            let batch = central.batch(class);
            while self.lists[class].nfull > 0 {
                // SAFETY: forwarded precondition.
                unsafe { self.release_full(central, class) };
            }
            let len = self.current.len(class) as usize;
            // SAFETY: forwarded precondition.
            unsafe { self.release_current(central, class, len) };
            self.set_max_len(class, 1, batch);
            self.lists[class].overages = 0;
            let delta = self.report(class, batch);
            if delta != 0 {
                // Record the final report with an empty exchange.
                // SAFETY: an empty list is a valid (empty) batch.
                unsafe { central.free_batch(class, ptr::null_mut(), 0, delta) };
            }
        }
    }
}

#[cfg(test)]
mod tests;
