//! The central heap: the tier every thread cache falls back to. Small
//! blocks come from a supply per size class, each behind its own lock;
//! pages come from one page heap behind another; huge blocks from mappings
//! of their own behind a third.
//!
//! ```text
//!        ThreadCache (per thread)                     ThreadCache
//!          │ alloc_batch ▲ free_batch                   │        ▲
//!  ════════╪═════════════╪═══ class 0 lock ═══ ... ═════╪════════╪═══ class 39 lock ══
//!          ▼             │                              ▼        │
//!   supply.rs, per class: batch stack [batch]─▶[batch]   (whole batches: O(1))
//!                         partial spans ──▶ span ──▶ span (carve / return blocks)
//!                        │ fresh span     ▲ spans left empty (one acquisition each way)
//!  ══════════════════════╪════════════════╪══════════ page-heap lock ═══════════════
//!                        ▼                │
//!   page_heap.rs:  bins[1..=128 pages exact, then power-of-two ranges]
//!                  best fit, split on allocate, coalesce both neighbours on free
//!                        │ grow                 ▲ whole region free
//!                        ▼                      │
//!   regions:       [hdr|page map|pages......]  [hdr|...]
//!   purge.rs:      dirty bound, decay, idle batches back to spans
//!  ═════════════════════════════════════════════════════ huge lock ════════════════
//!   huge.rs:       [hdr|block] ⇄ [hdr|block]   one mapping per block above LARGE_MAX
//!                        │ map / unmap / purge (madvise) / remap
//!                        ▼
//!                        os
//! ```
//!
//! Locks, what each protects, and their order:
//!
//! | lock | file | protects |
//! |---|---|---|
//! | class `c` (one per size class, [`CachePadded`]) | `supply.rs` | `c`'s batch stack, partial spans, counters, and the small-span fields of `c`'s spans |
//! | page heap | `page_heap.rs` | bins, regions, page counters, the span fields of the page map |
//! | huge | `huge.rs` | the list of huge mappings and its counters |
//!
//! Order: class locks (at most one, except the whole-heap operations,
//! which take them in class order) before the page-heap lock before the
//! huge lock. A thread holding a class lock takes the page-heap lock only
//! to get a fresh span or to give back spans left empty, once per
//! exchange; large blocks take only the page-heap lock, huge blocks only
//! the huge lock. No memalloc lock is held across anything that can
//! re-enter memalloc. Every lock counts its acquisitions and the ones that
//! had to wait, exactly, under itself; the page heap also sums its hold
//! time ([`crate::Stats`]).
//!
//! Who may touch what: only this module splits, coalesces, maps and
//! unmaps. [`CentralHeap::classify`] is the one lock-free reader: it reads
//! page-map fields that do not change while a block of the span is live.
//!
//! Policies (constants below and in the files, with why):
//! - Regions grow geometrically: a new region is as large as everything
//!   mapped so far (power of two, 1 MiB to 64 MiB), so a growing heap maps
//!   O(log n) regions and a small one stays small.
//! - The largest wholly free region is kept as a reserve, so map/unmap does
//!   not thrash at a boundary (keeping a small one made every big request
//!   map a region); others are unmapped once wholly free for the purge
//!   delay, so threads cycling big buffers across regions reuse them.
//! - Freed pages go back to the OS without any thread of memalloc's own:
//!   a bound on dirty pages enforced on the free path, a time decay on
//!   page-heap activity, and idle central batches returned to their spans
//!   (`purge.rs` owns these policies and says why).
//! - Requests above [`LARGE_MAX`] (32 MiB, half the largest region) get a
//!   mapping of their own (`mremap` on realloc), so a 1 GiB buffer never
//!   pins a region; up to it, freed runs are reused while still resident.

mod check;
mod huge;
mod page_heap;
mod purge;
mod supply;
#[cfg(test)]
mod tests;

use crate::os;
use crate::region::{
    self, Block, PAGE_SHIFT, PAGE_SIZE, PageDesc, REGION_ALIGN, RegionHeader, RegionKind,
    SPAN_LARGE, SPAN_SMALL,
};
use crate::size_class::{CLASSES, NUM_CLASSES, block_size, is_block_start};
use crate::stats::{BinLine, Stats};
use crate::sync::LockGuard;
use crate::sync::atomic::AtomicU64;
use core::ptr;
use crossbeam_utils::CachePadded;
use huge::{HugeMappings, HugeState};
use page_heap::{MAX_RUN_PAGES, NUM_BINS, PageHeap, PageState};
pub use purge::{DIRTY_FRACTION, DIRTY_MIN_BYTES, PURGE_DELAY_MS};
use supply::{ClassState, ClassSupply};

/// Largest request served from regions; above it, a dedicated mapping.
pub const LARGE_MAX: usize = REGION_ALIGN / 2;
/// Number of bins, for report buffers.
pub(crate) const BIN_COUNT: usize = NUM_BINS;
/// Bytes of whole batches the central heap keeps per class, and the most
/// batches it keeps for any class. The batch cap used to be 64, which gave
/// 16-byte blocks 64 KiB of whole batches while 32 KiB blocks got 512 KiB:
/// a thread dropping a tree of 65 535 nodes sent all but 4 096 of them back
/// to their spans one by one. Now every class keeps up to 512 KiB whole;
/// 1 MiB kept 10 MiB more resident right after the fragment scenario freed
/// everything, for no gain that measurement could separate from noise.
const TRANSFER_BYTES: usize = 512 * 1024;
const MAX_TRANSFER_BATCHES: usize = 1024;

/// Caps on the thread-cache/central exchange of one heap. Real heaps use
/// [`Limits::TABLE`] (the size-class table's batches, up to
/// `MAX_TRANSFER_BATCHES` kept per class); loom models shrink both so whole
/// batches move, stack up and overflow within a few operations.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Most blocks in one batch, for every class.
    batch: u32,
    /// Most whole batches kept centrally, for every class.
    transfer_batches: usize,
}

impl Limits {
    /// The table's values: no cap beyond them.
    pub(crate) const TABLE: Limits = Limits {
        batch: u32::MAX,
        transfer_batches: MAX_TRANSFER_BATCHES,
    };

    /// At most `batch` blocks per batch and `transfer_batches` whole batches
    /// kept per class (each at least 1).
    #[cfg(loom)]
    pub(crate) fn capped(batch: u32, transfer_batches: usize) -> Self {
        Limits {
            batch: batch.max(1),
            transfer_batches: transfer_batches.clamp(1, MAX_TRANSFER_BATCHES),
        }
    }

    /// Blocks moved between a thread cache and the central heap at once.
    #[inline]
    fn batch(&self, class: usize) -> u32 {
        CLASSES[class].batch.min(self.batch)
    }

    /// Full batches a class may keep in the central heap.
    fn transfer_capacity(&self, class: usize) -> usize {
        let bytes = self.batch(class) as usize * block_size(class);
        (TRANSFER_BYTES / bytes).clamp(1, self.transfer_batches)
    }
}

/// What a pointer handed out by this heap is.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// A block of a size class.
    Small(usize),
    /// A run of pages in a region (head descriptor).
    Large(*mut PageDesc),
    /// A dedicated mapping.
    Huge(*mut RegionHeader),
}

/// One lock's acquisitions, counted exactly under it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LockCounts {
    pub(crate) acquired: u64,
    /// Acquisitions that found the lock held and had to wait.
    pub(crate) contended: u64,
}

impl LockCounts {
    pub(crate) const fn new() -> Self {
        LockCounts {
            acquired: 0,
            contended: 0,
        }
    }

    #[inline]
    fn note(&mut self, contended: bool) {
        self.acquired += 1;
        self.contended += contended as u64;
    }

    fn add(&mut self, other: LockCounts) {
        self.acquired += other.acquired;
        self.contended += other.contended;
    }
}

/// Every lock of a heap held at once, in the lock order, with the states
/// they protect (see [`CentralHeap::everything`]).
struct Everything<'a> {
    classes: [&'a mut ClassState; NUM_CLASSES],
    pages: &'a mut PageState,
    huge: &'a mut HugeState,
    limits: Limits,
    owner: usize,
}

/// The central heap: a supply per size class, the page heap, and the huge
/// mappings, each behind its own lock.
pub(crate) struct CentralHeap {
    classes: [CachePadded<ClassSupply>; NUM_CLASSES],
    pages: CachePadded<PageHeap>,
    huge: CachePadded<HugeMappings>,
    /// Fixed at construction, so readable without a lock.
    limits: Limits,
    /// When the central batches are next looked at for idleness.
    next_drain_ms: AtomicU64,
}

// SAFETY: the raw pointers in the states refer to mappings owned by this
// heap. Each state is only touched under its lock (`locked`, or
// `everything`). The one lock-free path, `classify` (with `region::find` /
// `span_of`), only reads page-map fields that do not change while a live
// block lies in the span (`PageDesc` invariant), so for a valid pointer it
// races with no writer.
unsafe impl Send for CentralHeap {}
// SAFETY: as above.
unsafe impl Sync for CentralHeap {}

impl CentralHeap {
    /// An empty heap; maps nothing until first used.
    pub(crate) const fn new() -> Self {
        Self::build(os::Os::System, false)
    }

    /// The process-wide heap: as [`Self::new`], and its page regions go
    /// into the map that its lock-free `free` reads
    /// ([`region::process_small_class`]). Only one heap may be built so.
    pub(crate) const fn new_process() -> Self {
        Self::build(os::Os::System, true)
    }

    /// An empty heap that maps, unmaps and purges through `os` (a fake, in
    /// the fault-injection tests and under Miri).
    pub(crate) const fn with_os(os: os::Os) -> Self {
        Self::build(os, false)
    }

    const fn build(os: os::Os, process: bool) -> Self {
        CentralHeap {
            classes: [const { CachePadded::new(ClassSupply::new()) }; NUM_CLASSES],
            pages: CachePadded::new(PageHeap::new(os, process)),
            huge: CachePadded::new(HugeMappings::new(os)),
            limits: Limits::TABLE,
            next_drain_ms: AtomicU64::new(0),
        }
    }

    /// An empty heap whose locks and states loom checks, exchanging batches
    /// under `limits`.
    #[cfg(loom)]
    pub(crate) fn new_modelled(limits: Limits) -> Self {
        CentralHeap {
            classes: core::array::from_fn(|_| CachePadded::new(ClassSupply::new_modelled())),
            pages: CachePadded::new(PageHeap::new_modelled()),
            huge: CachePadded::new(HugeMappings::new_modelled()),
            limits,
            next_drain_ms: AtomicU64::new(0),
        }
    }

    /// Blocks of `class` moved between a thread cache and this heap at once.
    #[inline]
    pub(crate) fn batch(&self, class: usize) -> u32 {
        self.limits.batch(class)
    }

    /// The mapping functions this heap uses (a `Heap` maps its own
    /// bookkeeping through them too).
    pub(crate) fn os(&self) -> os::Os {
        self.huge.os()
    }

    /// The owner tag of this heap's regions.
    #[inline]
    fn owner(&self) -> usize {
        self as *const Self as usize
    }

    /// Runs `f` with every lock held, taken in the lock order: every class
    /// lock in class order, then the page heap's, then the huge lock. For
    /// operations on the whole heap (statistics, checking, trim's last
    /// step, teardown); these acquisitions are not counted.
    fn everything<R>(&self, f: impl FnOnce(&mut Everything<'_>) -> R) -> R {
        let _classes: [LockGuard<'_>; NUM_CLASSES] =
            core::array::from_fn(|c| self.classes[c].lock.lock());
        let _pages = self.pages.lock.lock();
        let _huge = self.huge.lock.lock();
        // SAFETY: every lock is held until the guards drop when this
        // function returns, and `f` cannot keep the references longer.
        let mut all = unsafe {
            Everything {
                classes: core::array::from_fn(|c| &mut *self.classes[c].state_ptr()),
                pages: &mut *self.pages.state_ptr(),
                huge: &mut *self.huge.state_ptr(),
                limits: self.limits,
                owner: self.owner(),
            }
        };
        f(&mut all)
    }

    /// Every lock of this heap, in the lock order (none for a
    /// loom-modelled heap).
    #[cfg(unix)]
    fn raw_locks(&self) -> impl DoubleEndedIterator<Item = &crate::sync::RawLock> {
        self.classes
            .iter()
            .map(|c| &c.lock)
            .chain([&self.pages.lock, &self.huge.lock])
            .filter_map(|l| l.raw())
    }

    /// Fork prepare: takes every lock of this heap, in the lock order, and
    /// keeps them across `fork` (no guard).
    #[cfg(unix)]
    pub(crate) fn lock_for_fork(&self) {
        self.raw_locks().for_each(|l| l.lock());
    }

    /// Fork parent/child: releases what [`Self::lock_for_fork`] took, in
    /// reverse order.
    #[cfg(unix)]
    pub(crate) fn unlock_after_fork(&self) {
        self.raw_locks().rev().for_each(|l| l.unlock());
    }

    // ----------------------------------------------------------------------
    // Small blocks
    // ----------------------------------------------------------------------

    /// Takes up to `want` blocks of `class` as a null-terminated list, and
    /// records the caller's cached-bytes change. Returns (head, count);
    /// count 0 means out of memory.
    pub(crate) fn alloc_batch(
        &self,
        class: usize,
        want: usize,
        cached_delta: isize,
    ) -> (*mut Block, usize) {
        let now = os::now_ms();
        let owner = self.owner();
        self.classes[class].locked(|s| {
            s.cached = s.cached.wrapping_add_signed(cached_delta);
            // SAFETY: class lock held; the page heap is ours.
            let got = unsafe { s.take(class, want, &self.limits, &self.pages, owner, now) };
            s.refilled += got.1 as u64;
            got
        })
    }

    /// Gives back a null-terminated list of `count` blocks of `class`, and
    /// records the caller's cached-bytes change.
    ///
    /// # Safety
    /// Every block in the list was handed out by this heap for `class` and is
    /// not used any more.
    pub(crate) unsafe fn free_batch(
        &self,
        class: usize,
        head: *mut Block,
        count: usize,
        cached_delta: isize,
    ) {
        let now = os::now_ms();
        self.classes[class].locked(|s| {
            s.cached = s.cached.wrapping_add_signed(cached_delta);
            s.flushed += count as u64;
            if count > 0 {
                // SAFETY: caller's precondition; class lock held.
                unsafe { s.give(class, head, count, &self.limits, &self.pages, now) };
            }
        });
        self.after_free(now);
    }

    /// Upkeep after a free reached this heap, outside every lock: idle
    /// batches of any class back to their spans (at most every half purge
    /// delay), and a nudge to the background purger if one runs.
    #[inline]
    fn after_free(&self, now: u64) {
        if self.timed_maintenance() {
            self.maybe_drain_idle_batches(now);
        }
        self.wake_purger();
    }

    /// Whether this heap runs its clock-driven upkeep (idle batches back to
    /// spans) on the free paths: every real heap, but not a loom-modelled
    /// one, whose models must not depend on the wall clock.
    #[inline]
    fn timed_maintenance(&self) -> bool {
        !self.pages.lock.is_modelled()
    }

    /// Tells the background purger, if the program started one, that there
    /// may be work (outside any heap lock; never starts a thread).
    /// Loom-modelled heaps are not purged in the background.
    #[inline]
    fn wake_purger(&self) {
        #[cfg(unix)]
        if !self.pages.lock.is_modelled() {
            crate::purger::wake();
        }
    }

    // ----------------------------------------------------------------------
    // Large and huge blocks
    // ----------------------------------------------------------------------

    /// Allocates `size` bytes aligned to `align` from page runs or, above
    /// [`LARGE_MAX`] (or for alignments a region cannot give), from a
    /// dedicated mapping. Null if out of memory or `size` is unrepresentable.
    pub(crate) fn alloc_large(&self, size: usize, align: usize) -> *mut u8 {
        if size > isize::MAX as usize || align > isize::MAX as usize / 2 + 1 {
            return ptr::null_mut();
        }
        let pages = size.max(1).div_ceil(PAGE_SIZE);
        let extra = align.max(PAGE_SIZE) / PAGE_SIZE - 1;
        if size <= LARGE_MAX && pages + extra <= MAX_RUN_PAGES {
            return self.pages.alloc_large(self.owner(), pages, align);
        }
        self.huge.alloc(self.owner(), size, align)
    }

    /// Frees a large or huge block found by [`Self::classify`].
    ///
    /// # Safety
    /// `kind` came from `classify` of a live block of this heap, which is not
    /// used any more.
    pub(crate) unsafe fn free_big(&self, kind: Kind) {
        match kind {
            Kind::Large(d) => {
                let now = os::now_ms();
                // SAFETY: `d` heads a live large span of this heap (caller).
                unsafe { self.pages.free_large(d) };
                self.after_free(now);
            }
            // SAFETY: `r` is a live huge mapping of this heap (caller).
            Kind::Huge(r) => unsafe { self.huge.free(r) },
            Kind::Small(_) => unreachable!("small blocks are freed through free_batch"),
        }
    }

    /// Resizes a large or huge block in place if possible (huge blocks may
    /// move by `mremap`, keeping their contents). Returns the block's new
    /// address, or null if the caller must move it.
    ///
    /// # Safety
    /// `kind` came from `classify(ptr)` of a live block of this heap.
    pub(crate) unsafe fn realloc_big(&self, ptr: *mut u8, kind: Kind, new_size: usize) -> *mut u8 {
        match kind {
            Kind::Large(d) => {
                if new_size > LARGE_MAX {
                    return ptr::null_mut();
                }
                let want = new_size.max(1).div_ceil(PAGE_SIZE);
                // SAFETY: `d` heads the live large span of `ptr`.
                if unsafe { self.pages.resize_large(d, want) } {
                    ptr
                } else {
                    ptr::null_mut()
                }
            }
            // SAFETY: forwarded precondition.
            Kind::Huge(r) => unsafe { self.huge.resize(r, new_size) },
            Kind::Small(_) => ptr::null_mut(),
        }
    }

    // ----------------------------------------------------------------------
    // Pointer lookup
    // ----------------------------------------------------------------------

    /// What `ptr` is, checked against the page map. Aborts with a message if
    /// `ptr` was not handed out by this heap (or was already freed, where
    /// that is visible).
    ///
    /// Lock-free: it reads only page-map fields that do not change while a
    /// block in the span is live (see `PageDesc`).
    pub(crate) fn classify(&self, ptr: *const u8) -> Kind {
        let r = region::find(ptr);
        if r.is_null() {
            os::fatal(
                "free/realloc of a pointer not allocated by memalloc",
                ptr as usize,
            );
        }
        // SAFETY: `find` validated that `r` is a live header of ours covering ptr.
        unsafe {
            if (*r).owner != self as *const Self as usize {
                os::fatal("pointer belongs to a different memalloc heap", ptr as usize);
            }
            if (*r).kind == RegionKind::Huge {
                if !core::ptr::eq((*r).user_ptr, ptr) {
                    os::fatal(
                        "pointer is inside a huge block, not its start",
                        ptr as usize,
                    );
                }
                return Kind::Huge(r);
            }
            let d = region::span_of(r, ptr);
            if d.is_null() {
                if ptr as usize - (r as usize) < (*r).first_page << PAGE_SHIFT {
                    os::fatal(
                        "pointer into a region's header or page map, not a block",
                        ptr as usize,
                    );
                }
                os::fatal(
                    "invalid pointer or double free (no live span here)",
                    ptr as usize,
                );
            }
            let start = RegionHeader::page_addr(r, (*d).index as usize) as usize;
            match (*d).kind {
                SPAN_SMALL => {
                    let class = (*d).class as usize;
                    let offset = ptr as usize - start;
                    // The head's range covers the pointer's page, so the
                    // offset lies inside the span (below 2^16), which
                    // blocks tile with no tail: the block-start test of
                    // the lock-free `free` is exact here too.
                    debug_assert!(offset < (*d).npages as usize * PAGE_SIZE);
                    if !is_block_start(offset as u32, CLASSES[class].start_check) {
                        os::fatal("pointer is not the start of a block", ptr as usize);
                    }
                    Kind::Small(class)
                }
                SPAN_LARGE if start == ptr as usize => Kind::Large(d),
                SPAN_LARGE => os::fatal(
                    "pointer is inside a large block, not its start",
                    ptr as usize,
                ),
                _ => os::fatal(
                    "double free of a large block (its pages are free)",
                    ptr as usize,
                ),
            }
        }
    }

    /// Usable bytes of the block at `ptr` (classified by the caller).
    pub(crate) fn usable_size(kind: Kind) -> usize {
        match kind {
            Kind::Small(class) => block_size(class),
            // SAFETY: `d` heads a live span, whose `npages` its owner controls.
            Kind::Large(d) => unsafe { (*d).npages as usize * PAGE_SIZE },
            // SAFETY: `r` is a live huge mapping.
            Kind::Huge(r) => unsafe { (*r).user_size },
        }
    }

    // ----------------------------------------------------------------------
    // Maintenance, statistics, checking
    // ----------------------------------------------------------------------

    /// Returns every free block in the central batches to its span, purges
    /// every free run now, and unmaps every wholly free region.
    pub(crate) fn trim(&self) {
        let now = os::now_ms();
        for class in 0..NUM_CLASSES {
            self.classes[class].locked(|s| {
                // SAFETY: class lock held; the page heap is ours.
                unsafe { s.drain_batches(class, &self.limits, &self.pages, now) }
            });
        }
        self.pages.locked(|s| {
            // SAFETY: page-heap lock held.
            unsafe { s.trim() }
        })
    }

    /// The background purger's periodic work (see `purger`): batches no
    /// thread exchanged since the previous tick go back to their spans, and
    /// free runs older than the delay are purged. Returns whether anything
    /// is left for a later tick (dirty runs or central batches).
    #[cfg(unix)]
    pub(crate) fn background_tick(&self, now: u64) -> bool {
        let batches_left = self.drain_idle_batches(now);
        let dirty_left = self.pages.locked(|s| {
            // SAFETY: page-heap lock held.
            unsafe { s.background_tick(now) }
        });
        batches_left || dirty_left
    }

    /// A snapshot of the counters, plus the free runs per bin if asked.
    pub(crate) fn stats(&self, bins_out: Option<&mut [BinLine; NUM_BINS]>) -> Stats {
        self.everything(|all| {
            if let Some(out) = bins_out {
                all.pages.bin_lines(out);
            }
            all.stats()
        })
    }

    /// [`Self::stats`] (without the bins) and the bytes in huge mappings,
    /// from one snapshot: glibc's `mallinfo` reports regions and dedicated
    /// mappings apart, and `Stats` only has their sum.
    #[cfg(all(feature = "override", target_os = "linux", target_env = "gnu"))]
    pub(crate) fn stats_and_huge_mapped(&self) -> (Stats, usize) {
        self.everything(|all| (all.stats(), all.huge.bytes))
    }

    /// Verifies every invariant of the page heap, the class supplies and
    /// the huge list.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        self.everything(|all| {
            // SAFETY: every lock is held.
            unsafe { all.check() }
        })
    }

    /// Unmaps every region and huge mapping. The heap is empty afterwards.
    ///
    /// # Safety
    /// No block of this heap is used any more, and no other thread uses the
    /// heap concurrently.
    pub(crate) unsafe fn release_all(&self) {
        self.everything(|all| {
            // SAFETY: caller's precondition; every lock is held.
            unsafe { all.release_all() }
        })
    }
}
