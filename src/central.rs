//! The central heap: every region, every free run, every span, behind one lock.
//!
//! ```text
//!        ThreadCache (per thread)         ThreadCache
//!          │ alloc_batch ▲ free_batch       │        ▲
//!  ════════╪═════════════╪══════════════════╪════════╪════════ Lock ══════
//!          ▼             │                  ▼        │
//!   per class c:  batch stack [batch]─▶[batch]─▶...  (whole batches: O(1))
//!                 partial spans ──▶ span ──▶ span    (carve / return blocks)
//!                        │ new span       ▲ span empty
//!                        ▼                │
//!   page heap:    bins[1..=128 pages exact, then power-of-two ranges]
//!                 best fit, split on allocate, coalesce both neighbours on free
//!                        │ grow                 ▲ whole region free
//!                        ▼                      │
//!   regions:      [hdr|page map|pages......]  [hdr|...]   huge: [hdr|block]
//!                        │ map / unmap / purge (madvise) / remap
//!                        ▼
//!                        os
//! ```
//!
//! Who may touch what: only this module splits, coalesces, maps and unmaps.
//! All of [`CentralState`] is reached through [`CentralHeap::locked`], which
//! holds the lock for the closure's duration; loom checks exactly that.
//!
//! Policies (constants below, with why):
//! - Regions grow geometrically: a new region is as large as everything
//!   mapped so far (power of two, 1 MiB to 64 MiB), so a growing heap maps
//!   O(log n) regions and a small one stays small.
//! - The largest wholly free region is kept as a reserve; others are unmapped
//!   as soon as they become wholly free, so map/unmap does not thrash at a
//!   boundary (keeping a small one made every big request map a region).
//! - Freed pages go back to the OS without any thread of memalloc's own:
//!   a bound on dirty pages enforced on the free path, a time decay on
//!   page-heap activity, and idle central batches returned to their spans
//!   (`purge.rs` owns these policies and says why).
//! - Requests above [`LARGE_MAX`] (32 MiB, half the largest region) get a
//!   mapping of their own (`mremap` on realloc), so a 1 GiB buffer never
//!   pins a region; up to it, freed runs are reused while still resident.

use crate::os;
use crate::region::{
    self, Block, MAX_REGION_PAGES, MIN_REGION_SIZE, PAGE_SHIFT, PAGE_SIZE, PageDesc, REGION_ALIGN,
    RegionHeader, RegionKind, SPAN_FREE, SPAN_LARGE, SPAN_SMALL, metadata_pages,
};
use crate::size_class::{CLASSES, NUM_CLASSES, block_index, block_size};
use crate::stats::{BinLine, Stats};
use crate::sync::{Lock, UnsafeCell};
use core::ptr;

mod purge;
pub use purge::{DIRTY_FRACTION, DIRTY_MIN_BYTES, PURGE_DELAY_MS};

/// Largest request served from regions; above it, a dedicated mapping.
pub const LARGE_MAX: usize = REGION_ALIGN / 2;
/// The longest run a region can hold.
const MAX_RUN_PAGES: usize = MAX_REGION_PAGES - metadata_pages(MAX_REGION_PAGES);
/// Bins 0..128 hold runs of exactly 1..=128 pages; the rest hold
/// [2^k, 2^(k+1)) pages for k = 7..13.
const EXACT_BINS: usize = 128;
const NUM_BINS: usize = EXACT_BINS + (MAX_REGION_PAGES.trailing_zeros() as usize - 7) + 1;
/// Bytes of whole batches the central heap keeps per class, and the most
/// batches it keeps for any class.
const TRANSFER_BYTES: usize = 512 * 1024;
const MAX_TRANSFER_BATCHES: usize = 64;

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

/// The link to the next batch, kept in the second word of a batch's head
/// block (every block is at least 16 bytes).
///
/// # Safety
/// `head` is a free block of at least 16 bytes owned by the central heap.
unsafe fn next_batch(head: *mut Block) -> *mut *mut Block {
    // SAFETY: the second word lies inside the block (caller).
    unsafe { (head as *mut *mut Block).add(1) }
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

/// Per-class supply of blocks.
///
/// Invariants: `batches` is a stack of `nbatches ≤ limits.transfer_capacity(c)`
/// whole batches, linked through [`next_batch`]; each is a null-terminated
/// list of exactly `limits.batch(c)` blocks of class `c`. `partial` lists
/// exactly the spans of class `c` with `used > 0` that still have a free or
/// uncarved block.
struct ClassSupply {
    batches: *mut Block,
    nbatches: usize,
    partial: *mut PageDesc,
    /// When a whole batch was last pushed or popped (`os::now_ms()`, as
    /// read by the exchange): batches idle for half a purge delay go back
    /// to their spans.
    moved_at: u64,
}

/// Counters kept exactly under the lock.
#[derive(Clone, Copy)]
struct Counters {
    region_bytes: usize,
    regions: usize,
    huge_bytes: usize,
    huge_user_bytes: usize,
    huges: usize,
    free_pages: usize,
    /// Bytes of small blocks out of their spans (in caches, central batches or use).
    small_out: usize,
    /// Bytes of small blocks in whole batches kept centrally.
    transfer: usize,
    /// Bytes in thread caches, as last reported.
    cached: usize,
    large_pages: usize,
    /// Pages in free runs marked dirty (maybe resident).
    dirty_pages: usize,
    large_allocs: u64,
    huge_allocs: u64,
    refilled: u64,
    flushed: u64,
    maps: u64,
    unmaps: u64,
    purges: u64,
}

/// Everything behind the lock.
pub(crate) struct CentralState {
    bins: [*mut PageDesc; NUM_BINS],
    /// Bit `b` set iff `bins[b]` is non-empty.
    bin_bits: [u64; 3],
    classes: [ClassSupply; NUM_CLASSES],
    regions: *mut RegionHeader,
    huge: *mut RegionHeader,
    c: Counters,
    next_purge_ms: u64,
    /// When the central batches are next looked at for idleness.
    next_drain_ms: u64,
    /// The largest span freed within the purge delay (pages), and when.
    recent_big_free: usize,
    recent_big_at: u64,
    /// The clock as read by the exchange in progress (for `moved_at`).
    clock_ms: u64,
    /// The heap's exchange caps (a copy of [`CentralHeap::limits`]).
    limits: Limits,
}

/// The mutex-protected central heap.
pub(crate) struct CentralHeap {
    lock: Lock,
    /// Fixed at construction, so readable without the lock.
    limits: Limits,
    state: UnsafeCell<CentralState>,
}

// SAFETY: the raw pointers in the state refer to mappings owned by this heap.
// The state is only touched under `lock` (`locked`). The one lock-free path,
// `classify` (with `region::find` / `span_of`), only reads page-map fields
// that do not change while a live block lies in the span (`PageDesc`
// invariant), so for a valid pointer it races with no writer.
unsafe impl Send for CentralHeap {}
// SAFETY: as above.
unsafe impl Sync for CentralHeap {}

impl CentralState {
    const fn new(limits: Limits) -> Self {
        const EMPTY: ClassSupply = ClassSupply {
            batches: ptr::null_mut(),
            nbatches: 0,
            partial: ptr::null_mut(),
            moved_at: 0,
        };
        CentralState {
            bins: [ptr::null_mut(); NUM_BINS],
            bin_bits: [0; 3],
            classes: [EMPTY; NUM_CLASSES],
            regions: ptr::null_mut(),
            huge: ptr::null_mut(),
            c: Counters {
                region_bytes: 0,
                regions: 0,
                huge_bytes: 0,
                huge_user_bytes: 0,
                huges: 0,
                free_pages: 0,
                small_out: 0,
                transfer: 0,
                cached: 0,
                large_pages: 0,
                dirty_pages: 0,
                large_allocs: 0,
                huge_allocs: 0,
                refilled: 0,
                flushed: 0,
                maps: 0,
                unmaps: 0,
                purges: 0,
            },
            next_purge_ms: 0,
            next_drain_ms: 0,
            recent_big_free: 0,
            recent_big_at: 0,
            clock_ms: 0,
            limits,
        }
    }
}

impl CentralHeap {
    /// An empty heap; maps nothing until first used.
    pub(crate) const fn new() -> Self {
        CentralHeap {
            lock: Lock::new(),
            limits: Limits::TABLE,
            state: UnsafeCell::new(CentralState::new(Limits::TABLE)),
        }
    }

    /// An empty heap whose lock and state loom checks, exchanging batches
    /// under `limits`.
    #[cfg(loom)]
    pub(crate) fn new_modelled(limits: Limits) -> Self {
        CentralHeap {
            lock: Lock::new_modelled(),
            limits,
            state: UnsafeCell::new_modelled(CentralState::new(limits)),
        }
    }

    /// Blocks of `class` moved between a thread cache and this heap at once.
    #[inline]
    pub(crate) fn batch(&self, class: usize) -> u32 {
        self.limits.batch(class)
    }

    /// Runs `f` on the state with the lock held.
    #[inline]
    fn locked<R>(&self, f: impl FnOnce(&mut CentralState, usize) -> R) -> R {
        let _guard = self.lock.lock();
        let owner = self as *const Self as usize;
        // SAFETY: the lock is held for the closure's whole duration, so this
        // is the only reference to the state.
        self.state.with_mut(|s| f(unsafe { &mut *s }, owner))
    }

    /// The lock, for fork handlers (`None` for a loom-modelled heap).
    #[cfg(unix)]
    pub(crate) fn raw_lock(&self) -> Option<&crate::sync::RawLock> {
        self.lock.raw()
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
        self.locked(|s, owner| {
            s.clock_ms = now;
            s.c.cached = s.c.cached.wrapping_add_signed(cached_delta);
            // SAFETY: lock held; all pointers belong to this heap.
            let got = unsafe { s.take_blocks(owner, class, want) };
            s.c.refilled += got.1 as u64;
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
        let timed = self.timed_maintenance();
        let now = os::now_ms();
        self.locked(|s, _| {
            s.clock_ms = now;
            s.c.cached = s.c.cached.wrapping_add_signed(cached_delta);
            s.c.flushed += count as u64;
            // SAFETY: caller's precondition; lock held.
            unsafe {
                s.give_blocks(class, head, count);
                if timed {
                    s.maybe_drain_idle_batches(now);
                }
            }
        });
        self.wake_purger();
    }

    /// Whether this heap runs its clock-driven upkeep (idle batches back to
    /// spans) on the free paths: every real heap, but not a loom-modelled
    /// one, whose models must not depend on the wall clock.
    #[inline]
    fn timed_maintenance(&self) -> bool {
        #[cfg(loom)]
        return self.lock.raw().is_some();
        #[cfg(not(loom))]
        true
    }

    /// Tells the background purger, if the program started one, that there
    /// may be work (outside any heap lock; never starts a thread).
    /// Loom-modelled heaps are not purged in the background.
    #[inline]
    fn wake_purger(&self) {
        #[cfg(unix)]
        if self.lock.raw().is_some() {
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
            return self.locked(|s, owner| {
                // SAFETY: lock held.
                unsafe { s.alloc_large_run(owner, pages, align) }
            });
        }
        self.alloc_huge(size, align)
    }

    fn alloc_huge(&self, size: usize, align: usize) -> *mut u8 {
        let page = os::page_size();
        let (offset, map_align, map_offset) = if align < REGION_ALIGN {
            (align.max(PAGE_SIZE), REGION_ALIGN, 0)
        } else {
            (REGION_ALIGN, align, REGION_ALIGN)
        };
        // A zero-size block still gets a byte, so it lies inside its mapping.
        let Some(len) = size
            .max(1)
            .checked_add(offset)
            .and_then(|n| n.checked_add(page - 1))
            .map(|n| n & !(page - 1))
        else {
            return ptr::null_mut();
        };
        if len > isize::MAX as usize {
            return ptr::null_mut();
        }
        // The system call runs outside the lock.
        // SAFETY: page-multiple length, power-of-two alignment, offset < len.
        let base = unsafe { os::map(len, map_align, map_offset) };
        if base.is_null() {
            return base;
        }
        if !region::addressable(base as usize, REGION_ALIGN) {
            // SAFETY: the mapping was just made and is unused.
            unsafe { os::unmap(base, len) };
            return ptr::null_mut();
        }
        self.locked(|s, owner| {
            // SAFETY: `base` is a fresh aligned mapping of `len` bytes.
            unsafe {
                let r = region::init_header(base, owner, RegionKind::Huge, len);
                (*r).user_ptr = base.add(offset);
                (*r).user_size = len - offset;
                s.link_huge(r);
                s.c.huge_allocs += 1;
                s.c.maps += 1;
                (*r).user_ptr
            }
        })
    }

    /// Frees a large or huge block found by [`Self::classify`].
    ///
    /// # Safety
    /// `kind` came from `classify` of a live block of this heap, which is not
    /// used any more.
    pub(crate) unsafe fn free_big(&self, kind: Kind) {
        match kind {
            Kind::Large(d) => {
                let timed = self.timed_maintenance();
                self.locked(|s, _| {
                    let now = os::now_ms();
                    // SAFETY: `d` heads a live large span of this heap; lock held.
                    unsafe {
                        s.c.large_pages -= (*d).npages as usize;
                        s.free_run(d, now);
                        if timed {
                            s.maybe_drain_idle_batches(now);
                        }
                    }
                });
                self.wake_purger();
            }
            Kind::Huge(r) => {
                let len = self.locked(|s, _| {
                    s.c.unmaps += 1;
                    // SAFETY: `r` is a live huge mapping of this heap; lock held.
                    unsafe { s.unlink_huge(r) }
                });
                // SAFETY: unlinked and unregistered: nobody reaches it any more.
                unsafe { os::unmap(r as *mut u8, len) };
            }
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
                let ok = self.locked(|s, _| {
                    // SAFETY: `d` heads the live large span of `ptr`; lock held.
                    unsafe { s.resize_large_run(d, want) }
                });
                if ok { ptr } else { ptr::null_mut() }
            }
            // SAFETY: forwarded precondition.
            Kind::Huge(r) => unsafe { self.resize_huge(r, new_size) },
            Kind::Small(_) => ptr::null_mut(),
        }
    }

    unsafe fn resize_huge(&self, r: *mut RegionHeader, new_size: usize) -> *mut u8 {
        let page = os::page_size();
        // SAFETY: `r` is a live huge mapping owned by the caller's block.
        let (old_len, offset) = unsafe { ((*r).map_size, (*r).user_ptr as usize - r as usize) };
        if offset >= REGION_ALIGN || new_size <= LARGE_MAX / 2 {
            return ptr::null_mut(); // over-aligned, or small enough to move into a region
        }
        let Some(new_len) = new_size
            .checked_add(offset + page - 1)
            .map(|n| n & !(page - 1))
            .filter(|&n| n <= isize::MAX as usize)
        else {
            return ptr::null_mut();
        };
        if new_len == old_len {
            // SAFETY: as above.
            return unsafe { (*r).user_ptr };
        }
        if new_len < old_len {
            // SAFETY: the tail beyond the new length holds no live data.
            if unsafe { os::shrink(r as *mut u8, old_len, new_len) } {
                self.locked(|s, _| {
                    // SAFETY: lock held; `r` is ours.
                    unsafe {
                        s.c.huge_bytes -= old_len - new_len;
                        s.c.huge_user_bytes -= old_len - new_len;
                        (*r).map_size = new_len;
                        (*r).user_size = new_len - offset;
                    }
                });
                // SAFETY: as above.
                return unsafe { (*r).user_ptr };
            }
            return ptr::null_mut();
        }
        // Growing: take the mapping out of the heap's lists while the kernel
        // moves it, then put it back at its new address.
        self.locked(|s, _| {
            // SAFETY: lock held; `r` is ours.
            unsafe { s.unlink_huge(r) };
        });
        // SAFETY: `(r, old_len)` is our mapping; nothing else references it now.
        let moved = unsafe { os::remap(r as *mut u8, old_len, new_len, REGION_ALIGN) };
        let (nr, len) = if moved.is_null() {
            (r, old_len)
        } else {
            (moved as *mut RegionHeader, new_len)
        };
        self.locked(|s, _| {
            // SAFETY: `nr` is our (possibly moved) mapping with a valid header.
            unsafe {
                (*nr).map_size = len;
                (*nr).user_ptr = (nr as *mut u8).add(offset);
                (*nr).user_size = len - offset;
                s.link_huge(nr);
            }
        });
        if moved.is_null() {
            ptr::null_mut()
        } else {
            // SAFETY: as above.
            unsafe { (*nr).user_ptr }
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
                    let index = block_index(class, offset);
                    // A block-aligned offset at or past `blocks_per_span`
                    // blocks (the span's end, or its trailing slack) is
                    // no block: accepting it would drop `used` while a
                    // block is still live.
                    if index >= CLASSES[class].blocks_per_span as usize
                        || index * block_size(class) != offset
                    {
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
        self.locked(|s, _| {
            // SAFETY: lock held.
            unsafe { s.trim() }
        })
    }

    /// The background purger's periodic work (see `purger`): batches no
    /// thread exchanged since the previous tick go back to their spans, and
    /// free runs older than the delay are purged. Returns whether anything
    /// is left for a later tick (dirty runs or central batches).
    #[cfg(unix)]
    pub(crate) fn background_tick(&self, now: u64) -> bool {
        self.locked(|s, _| {
            // SAFETY: lock held.
            unsafe { s.background_tick(now) }
        })
    }

    /// A snapshot of the counters, plus the free runs per bin if asked.
    pub(crate) fn stats(&self, bins_out: Option<&mut [BinLine; NUM_BINS]>) -> Stats {
        self.locked(|s, _| {
            // SAFETY: lock held.
            unsafe { s.stats(bins_out) }
        })
    }

    /// [`Self::stats`] (without the bins) and the bytes in huge mappings,
    /// from one snapshot: glibc's `mallinfo` reports regions and dedicated
    /// mappings apart, and `Stats` only has their sum.
    #[cfg(all(feature = "override", target_os = "linux", target_env = "gnu"))]
    pub(crate) fn stats_and_huge_mapped(&self) -> (Stats, usize) {
        self.locked(|s, _| {
            // SAFETY: lock held.
            (unsafe { s.stats(None) }, s.c.huge_bytes)
        })
    }

    /// Verifies every invariant of the page heap and the class supplies.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        self.locked(|s, owner| {
            // SAFETY: lock held.
            unsafe { s.check(owner) }
        })
    }

    /// Unmaps every region and huge mapping. The heap is empty afterwards.
    ///
    /// # Safety
    /// No block of this heap is used any more, and no other thread uses the
    /// heap concurrently.
    pub(crate) unsafe fn release_all(&self) {
        self.locked(|s, _| {
            // SAFETY: caller's precondition.
            unsafe {
                while !s.huge.is_null() {
                    let r = s.huge;
                    let len = s.unlink_huge(r);
                    s.c.unmaps += 1;
                    os::unmap(r as *mut u8, len);
                }
                while !s.regions.is_null() {
                    s.unmap_region(s.regions);
                }
            }
            let maps = (s.c.maps, s.c.unmaps);
            *s = CentralState::new(s.limits);
            s.c.maps = maps.0;
            s.c.unmaps = maps.1;
        })
    }
}

/// Number of bins, for report buffers.
pub(crate) const BIN_COUNT: usize = NUM_BINS;

fn bin_of(npages: usize) -> usize {
    if npages <= EXACT_BINS {
        npages - 1
    } else {
        EXACT_BINS + (usize::BITS - 1 - npages.leading_zeros()) as usize - 7
    }
}

fn bin_range(bin: usize) -> (usize, usize) {
    if bin < EXACT_BINS {
        (bin + 1, bin + 1)
    } else {
        let k = bin - EXACT_BINS + 7;
        (1 << k, (2 << k) - 1)
    }
}

impl CentralState {
    // ---------------- bins ----------------

    unsafe fn bin_insert(&mut self, d: *mut PageDesc) {
        // SAFETY: `d` is a free head not on any list (caller).
        unsafe {
            let b = bin_of((*d).npages as usize);
            self.c.dirty_pages += (*d).dirty as usize;
            (*d).prev = ptr::null_mut();
            (*d).next = self.bins[b];
            if !self.bins[b].is_null() {
                (*self.bins[b]).prev = d;
            }
            self.bins[b] = d;
            self.bin_bits[b / 64] |= 1 << (b % 64);
        }
    }

    unsafe fn bin_remove(&mut self, d: *mut PageDesc) {
        // SAFETY: `d` is on the bin of its size (invariant).
        unsafe {
            let b = bin_of((*d).npages as usize);
            self.c.dirty_pages -= (*d).dirty as usize;
            if (*d).prev.is_null() {
                self.bins[b] = (*d).next;
            } else {
                (*(*d).prev).next = (*d).next;
            }
            if !(*d).next.is_null() {
                (*(*d).next).prev = (*d).prev;
            }
            if self.bins[b].is_null() {
                self.bin_bits[b / 64] &= !(1 << (b % 64));
            }
            (*d).next = ptr::null_mut();
            (*d).prev = ptr::null_mut();
        }
    }

    fn next_nonempty_bin(&self, from: usize) -> Option<usize> {
        let mut w = from / 64;
        let mut bits = self.bin_bits[w] & (!0u64 << (from % 64));
        loop {
            if bits != 0 {
                return Some(w * 64 + bits.trailing_zeros() as usize);
            }
            w += 1;
            if w == self.bin_bits.len() {
                return None;
            }
            bits = self.bin_bits[w];
        }
    }

    /// The smallest free run of at least `n` pages (lowest address among
    /// equals in a range bin), or null.
    unsafe fn best_fit(&self, n: usize) -> *mut PageDesc {
        let mut from = bin_of(n);
        while let Some(b) = self.next_nonempty_bin(from) {
            if b < EXACT_BINS {
                return self.bins[b];
            }
            let mut best: *mut PageDesc = ptr::null_mut();
            let mut d = self.bins[b];
            // SAFETY: bin lists hold live free heads.
            unsafe {
                while !d.is_null() {
                    let m = (*d).npages as usize;
                    if m >= n
                        && (best.is_null()
                            || m < (*best).npages as usize
                            || (m == (*best).npages as usize && d < best))
                    {
                        best = d;
                    }
                    d = (*d).next;
                }
            }
            if !best.is_null() {
                return best;
            }
            from = b + 1;
        }
        ptr::null_mut()
    }

    // ---------------- spans ----------------

    /// Makes `[start, start + n)` of `r` one span headed at `start`.
    unsafe fn mark_span(
        r: *mut RegionHeader,
        start: usize,
        n: usize,
        kind: u8,
        class: u8,
    ) -> *mut PageDesc {
        // SAFETY: the range lies inside `r`'s usable pages (caller).
        unsafe {
            let d = RegionHeader::desc(r, start);
            (*d).head = true;
            (*d).span_start = start as u32;
            (*d).npages = n as u32;
            (*d).kind = kind;
            (*d).class = class;
            if kind == SPAN_SMALL {
                for i in start + 1..start + n {
                    (*RegionHeader::desc(r, i)).span_start = start as u32;
                }
            } else {
                (*RegionHeader::desc(r, start + n - 1)).span_start = start as u32;
            }
            d
        }
    }

    /// Takes a run of exactly `n` pages out of the page heap (growing it if
    /// needed). The returned head is unbinned; the caller sets its kind.
    unsafe fn alloc_run(&mut self, owner: usize, n: usize) -> *mut PageDesc {
        // SAFETY: lock held by caller; all descriptors are ours.
        unsafe {
            let mut d = self.best_fit(n);
            if d.is_null() {
                if !self.grow(owner, n) {
                    return ptr::null_mut();
                }
                d = self.best_fit(n);
                debug_assert!(!d.is_null());
            }
            self.bin_remove(d);
            let r = RegionHeader::of_desc(d);
            let start = (*d).index as usize;
            let total = (*d).npages as usize;
            if total > n {
                let rest = Self::mark_span(r, start + n, total - n, SPAN_FREE, 0);
                Self::split_dirty(d, rest, n);
                (*rest).freed_at = (*d).freed_at;
                self.bin_insert(rest);
            }
            (*d).npages = n as u32;
            (*d).dirty = 0;
            (*d).dirty_front = true;
            (*r).free_pages -= n;
            self.c.free_pages -= n;
            // Allocation-side activity also drives purging, so a heap that
            // stops freeing still returns its old free runs.
            self.maybe_purge(os::now_ms());
            d
        }
    }

    /// Returns span `d` to the page heap, coalescing with both neighbours;
    /// a region left wholly free is kept as the reserve or unmapped.
    unsafe fn free_run(&mut self, d: *mut PageDesc, now: u64) {
        // SAFETY: `d` heads a live non-free span of a region of ours; lock held.
        unsafe {
            let r = RegionHeader::of_desc(d);
            let mut start = (*d).index as usize;
            let mut n = (*d).npages as usize;
            // Every page of the freed span may be resident; the neighbours
            // bring their own counts. The merged run's resident pages stay a
            // prefix if the left neighbour is wholly resident (or absent)
            // and the right one's are a prefix.
            let mut dirty = n;
            let mut front = true;
            self.note_freed_span(n, now);
            (*r).free_pages += n;
            self.c.free_pages += n;
            // The merged run is as young as its newest piece: its pages are
            // idle only once none of them was freed for the delay. (Taking an
            // older neighbour's time purged the pages just freed, and a
            // program reusing one buffer faulted it in on every cycle.)

            let right = start + n;
            if right < (*r).npages {
                let rd = RegionHeader::desc(r, right);
                if (*rd).head && (*rd).kind == SPAN_FREE {
                    self.bin_remove(rd);
                    (*rd).head = false;
                    n += (*rd).npages as usize;
                    dirty += (*rd).dirty as usize;
                    front = (*rd).dirty_front || (*rd).dirty == 0;
                }
            }
            if start > (*r).first_page {
                let ls = (*RegionHeader::desc(r, start - 1)).span_start as usize;
                let ld = RegionHeader::desc(r, ls);
                if (*ld).head && (*ld).kind == SPAN_FREE && ls + (*ld).npages as usize == start {
                    self.bin_remove(ld);
                    (*d).head = false;
                    start = ls;
                    n += (*ld).npages as usize;
                    dirty += (*ld).dirty as usize;
                    front &= (*ld).dirty == (*ld).npages;
                }
            }
            let head = Self::mark_span(r, start, n, SPAN_FREE, 0);
            (*head).dirty = dirty as u32;
            (*head).dirty_front = front;
            (*head).freed_at = now;
            (*head).used = 0;
            (*head).carved = 0;
            (*head).free = ptr::null_mut();
            (*head).in_partial = false;

            if n == (*r).npages - (*r).first_page {
                // Wholly free. The reserve is the largest empty region, so a
                // heap that keeps needing a big region does not map and unmap
                // it on every cycle.
                let other = self.empty_region_except(r);
                if !other.is_null() {
                    if (*other).map_size >= (*r).map_size {
                        self.c.free_pages -= n;
                        self.unmap_region(r);
                        return;
                    }
                    let other_head = RegionHeader::desc(other, (*other).first_page);
                    self.bin_remove(other_head);
                    self.c.free_pages -= (*other).free_pages;
                    self.unmap_region(other);
                }
            }
            self.bin_insert(head);
            self.maybe_purge(now);
            self.enforce_dirty_bound(now);
        }
    }

    /// Wholly free regions other than `r`.
    /// A wholly free region other than `r` (there is at most one: the
    /// reserve), or null.
    unsafe fn empty_region_except(&self, r: *mut RegionHeader) -> *mut RegionHeader {
        let mut x = self.regions;
        // SAFETY: the region list holds live regions of ours.
        unsafe {
            while !x.is_null() {
                if x != r && (*x).free_pages == (*x).npages - (*x).first_page {
                    return x;
                }
                x = (*x).next;
            }
        }
        ptr::null_mut()
    }

    /// Maps a new region able to hold a run of `n` pages.
    unsafe fn grow(&mut self, owner: usize, n: usize) -> bool {
        let mut size = self
            .c
            .region_bytes
            .next_power_of_two()
            .clamp(MIN_REGION_SIZE, REGION_ALIGN);
        while size < REGION_ALIGN && (size >> PAGE_SHIFT) - metadata_pages(size >> PAGE_SHIFT) < n {
            size *= 2;
        }
        if (size >> PAGE_SHIFT) - metadata_pages(size >> PAGE_SHIFT) < n {
            return false;
        }
        // SAFETY: page-multiple length, power-of-two alignment.
        let base = unsafe { os::map(size, REGION_ALIGN, 0) };
        if base.is_null() {
            return false;
        }
        if !region::addressable(base as usize, size) {
            // SAFETY: the fresh mapping is unused.
            unsafe { os::unmap(base, size) };
            return false;
        }
        // SAFETY: `base` is a fresh, aligned mapping of `size` bytes.
        unsafe {
            let r = region::init_header(base, owner, RegionKind::Pages, size);
            let head = region::init_page_map(r);
            let usable = (*r).npages - (*r).first_page;
            (*r).free_pages = usable;
            (*r).next = self.regions;
            if !self.regions.is_null() {
                (*self.regions).prev = r;
            }
            self.regions = r;
            region::register(base as usize);
            (*head).freed_at = os::now_ms();
            (*head).dirty = 0; // fresh pages are not resident
            (*head).dirty_front = true;
            self.bin_insert(head);
            self.c.free_pages += usable;
        }
        self.c.region_bytes += size;
        self.c.regions += 1;
        self.c.maps += 1;
        true
    }

    /// Unlinks, unregisters and unmaps `r`; its free run must be unbinned.
    unsafe fn unmap_region(&mut self, r: *mut RegionHeader) {
        // SAFETY: `r` is a live region of ours with no live blocks (caller).
        unsafe {
            if (*r).prev.is_null() {
                self.regions = (*r).next;
            } else {
                (*(*r).prev).next = (*r).next;
            }
            if !(*r).next.is_null() {
                (*(*r).next).prev = (*r).prev;
            }
            let size = (*r).map_size;
            self.c.region_bytes -= size;
            self.c.regions -= 1;
            self.c.unmaps += 1;
            region::unregister(r as usize);
            os::unmap(r as *mut u8, size);
        }
    }

    // ---------------- small blocks ----------------

    unsafe fn partial_insert(&mut self, class: usize, s: *mut PageDesc) {
        // SAFETY: `s` is a small span of `class` not on the list.
        unsafe {
            let sc = &mut self.classes[class];
            (*s).prev = ptr::null_mut();
            (*s).next = sc.partial;
            if !sc.partial.is_null() {
                (*sc.partial).prev = s;
            }
            sc.partial = s;
            (*s).in_partial = true;
        }
    }

    unsafe fn partial_remove(&mut self, class: usize, s: *mut PageDesc) {
        // SAFETY: `s` is on `class`'s partial list.
        unsafe {
            let sc = &mut self.classes[class];
            if (*s).prev.is_null() {
                sc.partial = (*s).next;
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

    unsafe fn take_blocks(
        &mut self,
        owner: usize,
        class: usize,
        want: usize,
    ) -> (*mut Block, usize) {
        let info = CLASSES[class];
        let size = info.block_size as usize;
        let batch = self.limits.batch(class) as usize;
        // SAFETY: lock held; batches and partial spans belong to `class`.
        unsafe {
            let sc = &mut self.classes[class];
            if sc.nbatches > 0 && want >= batch {
                sc.moved_at = self.clock_ms;
                let head = sc.batches;
                sc.batches = *next_batch(head);
                sc.nbatches -= 1;
                self.c.transfer -= batch * size;
                return (head, batch);
            }
            let mut head: *mut Block = ptr::null_mut();
            let mut tail: *mut Block = ptr::null_mut();
            let mut count = 0;
            while count < want {
                let mut s = self.classes[class].partial;
                if s.is_null() {
                    s = self.alloc_run(owner, info.span_pages as usize);
                    if s.is_null() {
                        break;
                    }
                    let r = RegionHeader::of_desc(s);
                    Self::mark_span(
                        r,
                        (*s).index as usize,
                        info.span_pages as usize,
                        SPAN_SMALL,
                        class as u8,
                    );
                    (*s).used = 0;
                    (*s).carved = 0;
                    (*s).free = ptr::null_mut();
                    self.partial_insert(class, s);
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
                    self.partial_remove(class, s);
                }
            }
            self.c.small_out += count * size;
            (head, count)
        }
    }

    unsafe fn give_blocks(&mut self, class: usize, head: *mut Block, count: usize) {
        let limits = self.limits;
        let sc = &mut self.classes[class];
        if count == limits.batch(class) as usize && sc.nbatches < limits.transfer_capacity(class) {
            // SAFETY: `head` is a free block of this class, now ours.
            unsafe { *next_batch(head) = sc.batches };
            sc.moved_at = self.clock_ms;
            sc.batches = head;
            sc.nbatches += 1;
            self.c.transfer += count * block_size(class);
            return;
        }
        // SAFETY: caller's precondition (blocks of `class` from this heap).
        unsafe { self.return_list(class, head) };
    }

    /// Returns every block of a null-terminated list to its span.
    unsafe fn return_list(&mut self, class: usize, mut b: *mut Block) {
        let size = block_size(class);
        let now = os::now_ms();
        // SAFETY: each block is a live-span block of `class` from this heap.
        unsafe {
            while !b.is_null() {
                let next = (*b).next;
                let r = (b as usize & !(REGION_ALIGN - 1)) as *mut RegionHeader;
                let page = (b as usize - r as usize) >> PAGE_SHIFT;
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
                self.c.small_out -= size;
                if (*s).used == 0 {
                    if (*s).in_partial {
                        self.partial_remove(class, s);
                    }
                    self.free_run(s, now);
                } else if !(*s).in_partial {
                    self.partial_insert(class, s);
                }
                b = next;
            }
        }
    }

    // ---------------- large ----------------

    unsafe fn alloc_large_run(&mut self, owner: usize, n: usize, align: usize) -> *mut u8 {
        let extra = if align > PAGE_SIZE {
            align / PAGE_SIZE - 1
        } else {
            0
        };
        // SAFETY: lock held.
        unsafe {
            let d = self.alloc_run(owner, n + extra);
            if d.is_null() {
                return ptr::null_mut();
            }
            let r = RegionHeader::of_desc(d);
            let start = (*d).index as usize;
            let addr = RegionHeader::page_addr(r, start) as usize;
            let lead = (((addr + align - 1) & !(align - 1)) - addr) / PAGE_SIZE;
            let lead = if extra == 0 { 0 } else { lead };
            let now = os::now_ms();
            if lead > 0 {
                let l = Self::mark_span(r, start, lead, SPAN_LARGE, 0);
                self.free_run(l, now);
            }
            let tail = extra - lead;
            if tail > 0 {
                let t = Self::mark_span(r, start + lead + n, tail, SPAN_LARGE, 0);
                self.free_run(t, now);
            }
            let b = Self::mark_span(r, start + lead, n, SPAN_LARGE, 0);
            self.c.large_pages += n;
            self.c.large_allocs += 1;
            RegionHeader::page_addr(r, (*b).index as usize)
        }
    }

    unsafe fn resize_large_run(&mut self, d: *mut PageDesc, want: usize) -> bool {
        // SAFETY: `d` heads a live large span; lock held.
        unsafe {
            let r = RegionHeader::of_desc(d);
            let start = (*d).index as usize;
            let n = (*d).npages as usize;
            if want == n {
                return true;
            }
            if want < n {
                Self::mark_span(r, start, want, SPAN_LARGE, 0);
                let t = Self::mark_span(r, start + want, n - want, SPAN_LARGE, 0);
                self.c.large_pages -= n - want;
                self.free_run(t, os::now_ms());
                return true;
            }
            let right = start + n;
            if right >= (*r).npages {
                return false;
            }
            let rd = RegionHeader::desc(r, right);
            let need = want - n;
            if !(*rd).head || (*rd).kind != SPAN_FREE || ((*rd).npages as usize) < need {
                return false;
            }
            self.bin_remove(rd);
            let m = (*rd).npages as usize;
            (*rd).head = false;
            if m > need {
                let rest = Self::mark_span(r, right + need, m - need, SPAN_FREE, 0);
                Self::split_dirty(rd, rest, need);
                (*rest).freed_at = (*rd).freed_at;
                self.bin_insert(rest);
            }
            (*r).free_pages -= need;
            self.c.free_pages -= need;
            self.c.large_pages += need;
            Self::mark_span(r, start, want, SPAN_LARGE, 0);
            true
        }
    }

    // ---------------- huge ----------------

    unsafe fn link_huge(&mut self, r: *mut RegionHeader) {
        // SAFETY: `r` is a live huge mapping not on the list.
        unsafe {
            (*r).prev = ptr::null_mut();
            (*r).next = self.huge;
            if !self.huge.is_null() {
                (*self.huge).prev = r;
            }
            self.huge = r;
            region::register(r as usize);
            self.c.huge_bytes += (*r).map_size;
            self.c.huge_user_bytes += (*r).user_size;
            self.c.huges += 1;
        }
    }

    /// Takes a huge mapping off the list and out of the registry; returns
    /// its length. (The caller unmaps it, or moves it and links it again.)
    unsafe fn unlink_huge(&mut self, r: *mut RegionHeader) -> usize {
        // SAFETY: `r` is on the huge list.
        unsafe {
            if (*r).prev.is_null() {
                self.huge = (*r).next;
            } else {
                (*(*r).prev).next = (*r).next;
            }
            if !(*r).next.is_null() {
                (*(*r).next).prev = (*r).prev;
            }
            region::unregister(r as usize);
            self.c.huge_bytes -= (*r).map_size;
            self.c.huge_user_bytes -= (*r).user_size;
            self.c.huges -= 1;
            (*r).map_size
        }
    }

    // ---------------- stats & check ----------------

    unsafe fn stats(&self, mut bins_out: Option<&mut [BinLine; NUM_BINS]>) -> Stats {
        let mut runs = 0;
        let mut largest = 0;
        let mut purged = 0;
        for b in 0..NUM_BINS {
            let (lo, hi) = bin_range(b);
            let mut line = BinLine {
                pages_lo: lo,
                pages_hi: hi,
                runs: 0,
                bytes: 0,
            };
            let mut d = self.bins[b];
            // SAFETY: bins hold live free heads.
            unsafe {
                while !d.is_null() {
                    let bytes = (*d).npages as usize * PAGE_SIZE;
                    runs += 1;
                    largest = largest.max(bytes);
                    purged += ((*d).npages - (*d).dirty) as usize * PAGE_SIZE;
                    line.runs += 1;
                    line.bytes += bytes;
                    d = (*d).next;
                }
            }
            if let Some(out) = bins_out.as_deref_mut() {
                out[b] = line;
            }
        }
        let c = &self.c;
        Stats {
            bytes_in_use: c.small_out.saturating_sub(c.transfer + c.cached)
                + c.large_pages * PAGE_SIZE
                + c.huge_user_bytes,
            bytes_in_thread_caches: c.cached,
            bytes_in_central_batches: c.transfer,
            bytes_mapped: c.region_bytes + c.huge_bytes,
            bytes_free_runs: c.free_pages * PAGE_SIZE,
            bytes_purged: purged,
            regions: c.regions,
            huge_allocations: c.huges,
            free_runs: runs,
            largest_free_run: largest,
            large_allocs: c.large_allocs,
            huge_allocs: c.huge_allocs,
            small_blocks_refilled: c.refilled,
            small_blocks_flushed: c.flushed,
            maps: c.maps,
            unmaps: c.unmaps,
            purges: c.purges,
        }
    }

    /// The invariant walker. See the module docs of `region` and the
    /// invariants on [`ClassSupply`] and [`Counters`].
    unsafe fn check(&self, owner: usize) -> Result<(), &'static str> {
        let mut free_runs_seen = 0usize;
        let mut free_pages = 0usize;
        let mut large_pages = 0usize;
        let mut region_bytes = 0usize;
        let mut regions = 0usize;
        let mut small_out = 0usize;
        let mut empty_regions = 0usize;
        let mut dirty_pages = 0usize;
        let mut transfer = 0usize;
        // SAFETY: lock held; every pointer reached is a live structure of ours.
        unsafe {
            let mut r = self.regions;
            let mut prev: *mut RegionHeader = ptr::null_mut();
            while !r.is_null() {
                if (*r).prev != prev {
                    return Err("region list back-link is wrong");
                }
                if region::find((r as *const u8).add(PAGE_SIZE * (*r).first_page)) != r {
                    return Err("region is not registered or not findable by masking");
                }
                if (*r).owner != owner || (*r).kind != RegionKind::Pages {
                    return Err("region on the list has the wrong owner or kind");
                }
                if (*r).npages * PAGE_SIZE != (*r).map_size
                    || (*r).first_page != metadata_pages((*r).npages)
                {
                    return Err("region geometry is inconsistent");
                }
                regions += 1;
                region_bytes += (*r).map_size;
                let mut p = (*r).first_page;
                let mut prev_free = false;
                let mut region_free = 0;
                while p < (*r).npages {
                    let d = RegionHeader::desc(r, p);
                    let n = (*d).npages as usize;
                    if !(*d).head || (*d).span_start as usize != p || n == 0 || p + n > (*r).npages
                    {
                        return Err("spans do not tile the region");
                    }
                    if (*RegionHeader::desc(r, p + n - 1)).span_start as usize != p {
                        return Err("last page of a span does not name its head");
                    }
                    for i in p + 1..p + n {
                        let di = RegionHeader::desc(r, i);
                        if (*di).head {
                            return Err("a head descriptor lies inside another span");
                        }
                        if (*d).kind == SPAN_SMALL && (*di).span_start as usize != p {
                            return Err("page of a small span does not name its head");
                        }
                    }
                    match (*d).kind {
                        SPAN_FREE => {
                            if prev_free {
                                return Err("two free runs are adjacent (missed coalesce)");
                            }
                            let b = bin_of(n);
                            let mut x = self.bins[b];
                            while !x.is_null() && x != d {
                                x = (*x).next;
                            }
                            if x.is_null() {
                                return Err("free run is not in the bin of its size");
                            }
                            free_runs_seen += 1;
                            region_free += n;
                            if (*d).dirty > (*d).npages {
                                return Err("free run has more dirty pages than pages");
                            }
                            dirty_pages += (*d).dirty as usize;
                            prev_free = true;
                        }
                        SPAN_LARGE => {
                            large_pages += n;
                            prev_free = false;
                        }
                        SPAN_SMALL => {
                            let class = (*d).class as usize;
                            if class >= NUM_CLASSES {
                                return Err("small span has an invalid class");
                            }
                            let info = CLASSES[class];
                            if n != info.span_pages as usize || (*d).carved > info.blocks_per_span {
                                return Err("small span geometry is wrong");
                            }
                            let base = RegionHeader::page_addr(r, p) as usize;
                            let mut free = 0u32;
                            let mut b = (*d).free;
                            while !b.is_null() {
                                let off = b as usize - base;
                                if b as usize <= base.wrapping_sub(1)
                                    || !off.is_multiple_of(info.block_size as usize)
                                    || off / info.block_size as usize >= (*d).carved as usize
                                {
                                    return Err("span free list holds a foreign block");
                                }
                                free += 1;
                                if free > (*d).carved {
                                    return Err("span free list is cyclic");
                                }
                                b = (*b).next;
                            }
                            if (*d).used + free != (*d).carved || (*d).used == 0 {
                                return Err(
                                    "span counts do not add up (used + free != carved, or empty span kept)",
                                );
                            }
                            let has_room = free > 0 || (*d).carved < info.blocks_per_span;
                            if has_room != (*d).in_partial {
                                return Err("partial list membership is wrong");
                            }
                            small_out += (*d).used as usize * info.block_size as usize;
                            prev_free = false;
                        }
                        _ => return Err("span has an unknown kind"),
                    }
                    p += n;
                }
                if region_free != (*r).free_pages {
                    return Err("region free-page count is wrong");
                }
                if region_free == (*r).npages - (*r).first_page {
                    empty_regions += 1;
                }
                free_pages += region_free;
                prev = r;
                r = (*r).next;
            }
            let mut binned = 0;
            for b in 0..NUM_BINS {
                let nonempty = !self.bins[b].is_null();
                if nonempty != (self.bin_bits[b / 64] & (1 << (b % 64)) != 0) {
                    return Err("bin bitmap disagrees with the bins");
                }
                let mut d = self.bins[b];
                let mut prev: *mut PageDesc = ptr::null_mut();
                while !d.is_null() {
                    if (*d).prev != prev
                        || !(*d).head
                        || (*d).kind != SPAN_FREE
                        || bin_of((*d).npages as usize) != b
                    {
                        return Err("bin holds a run that is not a free run of its size");
                    }
                    binned += 1;
                    prev = d;
                    d = (*d).next;
                }
            }
            if binned != free_runs_seen {
                return Err("bins hold runs the page map does not");
            }
            for (class, sc) in self.classes.iter().enumerate() {
                let mut s = sc.partial;
                while !s.is_null() {
                    if !(*s).in_partial || (*s).kind != SPAN_SMALL || (*s).class as usize != class {
                        return Err("partial list holds a span of another class");
                    }
                    s = (*s).next;
                }
                let per_batch = self.limits.batch(class);
                let mut batch = sc.batches;
                for _ in 0..sc.nbatches {
                    if batch.is_null() {
                        return Err("fewer transfer batches than counted");
                    }
                    let mut n = 0;
                    let mut b = batch;
                    batch = *next_batch(batch);
                    while !b.is_null() && n <= per_batch {
                        n += 1;
                        b = (*b).next;
                    }
                    if n != per_batch {
                        return Err("transfer batch does not hold exactly one batch of blocks");
                    }
                }
                if !batch.is_null() || sc.nbatches > self.limits.transfer_capacity(class) {
                    return Err("more transfer batches than counted or allowed");
                }
                transfer += sc.nbatches * per_batch as usize * block_size(class);
            }
            let mut huge_bytes = 0;
            let mut huges = 0;
            let mut h = self.huge;
            while !h.is_null() {
                if (*h).kind != RegionKind::Huge || region::find((*h).user_ptr) != h {
                    return Err("huge mapping is not findable from its block");
                }
                huge_bytes += (*h).map_size;
                huges += 1;
                h = (*h).next;
            }
            let c = &self.c;
            if empty_regions > 1 {
                return Err("more wholly free regions kept than the reserve allows");
            }
            if c.free_pages != free_pages
                || c.large_pages != large_pages
                || c.region_bytes != region_bytes
                || c.regions != regions
                || c.small_out != small_out
                || c.huge_bytes != huge_bytes
                || c.huges != huges
                || c.dirty_pages != dirty_pages
            {
                return Err("counters disagree with the page map");
            }
            if c.transfer != transfer {
                return Err("transfer counter disagrees with the batch stacks");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn page_run(h: &CentralHeap, pages: usize) -> *mut u8 {
        let p = h.alloc_large(pages * PAGE_SIZE, 16);
        assert!(!p.is_null());
        h.check().unwrap();
        p
    }

    pub(super) fn free(h: &CentralHeap, p: *mut u8) {
        let k = h.classify(p);
        // SAFETY: `p` is a live large block of `h`.
        unsafe { h.free_big(k) };
        h.check().unwrap();
    }

    pub(super) fn release(h: CentralHeap) {
        // SAFETY: the test is done with every block.
        unsafe { h.release_all() };
    }

    #[test]
    fn bins_cover_every_run_size_once() {
        let mut last = None;
        for n in 1..MAX_REGION_PAGES {
            let b = bin_of(n);
            let (lo, hi) = bin_range(b);
            assert!(lo <= n && n <= hi, "{n} pages in bin {b} = {lo}..={hi}");
            assert!(b < NUM_BINS);
            if let Some(l) = last {
                assert!(b == l || b == l + 1);
            }
            last = Some(b);
        }
    }

    #[test]
    fn free_coalesces_both_neighbours() {
        let h = CentralHeap::new();
        let a = page_run(&h, 3);
        let b = page_run(&h, 5);
        let c = page_run(&h, 7);
        let guard = page_run(&h, 1);
        assert_eq!(
            b as usize,
            a as usize + 3 * PAGE_SIZE,
            "runs are carved in address order"
        );
        let runs_before = h.stats(None).free_runs;
        free(&h, a);
        free(&h, c);
        assert_eq!(h.stats(None).free_runs, runs_before + 2);
        free(&h, b); // joins a's run on the left and c's on the right
        assert_eq!(h.stats(None).free_runs, runs_before + 1);
        let again = page_run(&h, 15);
        assert_eq!(again, a, "the coalesced 15-page run is reused whole");
        free(&h, again);
        free(&h, guard);
        release(h);
    }

    #[test]
    fn best_fit_picks_the_smallest_run_that_fits() {
        let h = CentralHeap::new();
        let mut keep = Vec::new();
        let mut holes = Vec::new();
        for pages in [9, 4, 6, 5] {
            holes.push((pages, page_run(&h, pages)));
            keep.push(page_run(&h, 1));
        }
        for &(_, p) in &holes {
            free(&h, p);
        }
        let hole = |n: usize| holes.iter().find(|(p, _)| *p == n).unwrap().1;
        assert_eq!(page_run(&h, 5), hole(5), "exact fit");
        assert_eq!(page_run(&h, 3), hole(4), "smallest run that fits, split");
        assert_eq!(page_run(&h, 6), hole(6));
        release(h);
    }

    #[test]
    fn wholly_free_regions_beyond_the_reserve_are_unmapped() {
        let h = CentralHeap::new();
        // Each request needs a region of its own (more than half of 1 MiB... of each).
        let big = (MIN_REGION_SIZE / PAGE_SIZE) * 3 / 4;
        let a = page_run(&h, big);
        let b = page_run(&h, big * 2);
        let c = page_run(&h, big * 4);
        let s = h.stats(None);
        assert_eq!(s.regions, 3);
        free(&h, a);
        assert_eq!(
            h.stats(None).regions,
            3,
            "first empty region is kept as the reserve"
        );
        free(&h, b);
        assert_eq!(
            h.stats(None).regions,
            2,
            "a second empty region is unmapped"
        );
        free(&h, c);
        assert_eq!(h.stats(None).regions, 1);
        let s = h.stats(None);
        assert_eq!(s.unmaps, 2);
        h.trim();
        assert_eq!(h.stats(None).regions, 0, "trim releases the reserve too");
        h.check().unwrap();
        release(h);
    }

    #[test]
    fn the_largest_empty_region_is_kept_as_the_reserve() {
        let h = CentralHeap::new();
        let small = page_run(&h, 4);
        let big = page_run(&h, LARGE_MAX / PAGE_SIZE);
        assert_eq!(h.stats(None).regions, 2);
        free(&h, small);
        free(&h, big);
        let s = h.stats(None);
        assert_eq!(
            (s.regions, s.bytes_mapped),
            (1, REGION_ALIGN),
            "the big one stays: {s:?}"
        );
        // Cycling big and small requests maps nothing new.
        for _ in 0..10 {
            let b = page_run(&h, LARGE_MAX / PAGE_SIZE);
            free(&h, b);
            let a = page_run(&h, 4);
            free(&h, a);
        }
        assert_eq!(h.stats(None).maps, s.maps, "no map/unmap cycle");
        release(h);
    }

    #[test]
    fn regions_grow_geometrically_with_the_heap() {
        let h = CentralHeap::new();
        let mut blocks = Vec::new();
        let mut sizes = Vec::new();
        let mut mapped = 0;
        for _ in 0..200 {
            blocks.push(page_run(&h, 16));
            let s = h.stats(None);
            if s.bytes_mapped != mapped {
                sizes.push(s.bytes_mapped - mapped);
                mapped = s.bytes_mapped;
            }
        }
        assert_eq!(sizes[0], MIN_REGION_SIZE);
        for w in sizes.windows(2) {
            assert!(
                w[1] >= w[0],
                "region sizes never shrink while growing: {sizes:?}"
            );
        }
        assert!(sizes.len() <= 6, "25 MiB in O(log n) regions: {sizes:?}");
        for p in blocks {
            free(&h, p);
        }
        release(h);
    }

    #[test]
    fn large_realloc_grows_into_a_free_neighbour_and_shrinks_in_place() {
        let h = CentralHeap::new();
        let a = page_run(&h, 4);
        let b = page_run(&h, 4);
        let fence = page_run(&h, 1);
        free(&h, b);
        let k = h.classify(a);
        // SAFETY: `a` is live and `k` describes it.
        let grown = unsafe { h.realloc_big(a, k, 8 * PAGE_SIZE) };
        assert_eq!(grown, a, "grew in place into the freed neighbour");
        h.check().unwrap();
        assert_eq!(CentralHeap::usable_size(h.classify(a)), 8 * PAGE_SIZE);
        let k = h.classify(a);
        // SAFETY: as above.
        let grown = unsafe { h.realloc_big(a, k, 9 * PAGE_SIZE) };
        assert!(grown.is_null(), "the fence blocks growth: caller must move");
        let k = h.classify(a);
        // SAFETY: as above.
        assert_eq!(unsafe { h.realloc_big(a, k, 2 * PAGE_SIZE) }, a);
        h.check().unwrap();
        assert_eq!(
            page_run(&h, 6),
            a.wrapping_add(2 * PAGE_SIZE),
            "the tail was freed and reused"
        );
        let _ = fence;
        release(h);
    }

    #[test]
    fn aligned_large_blocks_give_back_their_padding() {
        let h = CentralHeap::new();
        let p = h.alloc_large(3 * PAGE_SIZE, 256 << 10);
        assert_eq!(p as usize % (256 << 10), 0);
        h.check().unwrap();
        let s = h.stats(None);
        assert_eq!(
            s.bytes_in_use,
            3 * PAGE_SIZE,
            "only the block's pages stay in use"
        );
        free(&h, p);
        release(h);
    }

    #[test]
    fn a_freed_large_run_is_reused_without_mapping_again() {
        let h = CentralHeap::new();
        let p = h.alloc_large(LARGE_MAX, 16);
        assert!(!p.is_null());
        let maps = h.stats(None).maps;
        free(&h, p);
        let q = h.alloc_large(LARGE_MAX - PAGE_SIZE, 16);
        assert_eq!(q, p, "the same resident run comes back");
        assert_eq!(h.stats(None).maps, maps, "no new mapping");
        free(&h, q);
        // Alignments too large to fit a region's run go to their own mapping.
        let a = h.alloc_large(LARGE_MAX, LARGE_MAX);
        assert_eq!(a as usize % LARGE_MAX, 0);
        assert_eq!(h.stats(None).huge_allocations, 1);
        free(&h, a);
        release(h);
    }

    #[test]
    fn huge_blocks_get_their_own_mapping_and_remap_on_growth() {
        let h = CentralHeap::new();
        let p = h.alloc_large(LARGE_MAX + 1, 16);
        assert!(!p.is_null());
        let s = h.stats(None);
        assert_eq!((s.huge_allocations, s.regions), (1, 0));
        // SAFETY: the block is ours.
        unsafe { p.write_bytes(9, LARGE_MAX + 1) };
        let k = h.classify(p);
        // SAFETY: `k` describes the live block `p`.
        let q = unsafe { h.realloc_big(p, k, 3 * LARGE_MAX) };
        assert!(!q.is_null());
        // SAFETY: `q` is the live, grown block.
        unsafe { assert_eq!(*q.add(LARGE_MAX), 9) };
        assert!(CentralHeap::usable_size(h.classify(q)) >= 3 * LARGE_MAX);
        h.check().unwrap();
        free(&h, q);
        let s = h.stats(None);
        assert_eq!((s.huge_allocations, s.bytes_mapped), (0, 0));
        assert_eq!(
            s.maps, s.unmaps,
            "an mremap is neither a map nor an unmap: {s:?}"
        );
        release(h);
    }

    #[test]
    fn whole_batches_move_through_the_central_heap_without_touching_spans() {
        let h = CentralHeap::new();
        let class = 3;
        let batch = CLASSES[class].batch as usize;
        let (head, n) = h.alloc_batch(class, batch, 0);
        assert_eq!(n, batch);
        let before = h.stats(None);
        // SAFETY: a full batch of class-3 blocks from `h`.
        unsafe { h.free_batch(class, head, n, 0) };
        let after = h.stats(None);
        assert_eq!(after.bytes_in_central_batches, batch * block_size(class));
        assert_eq!(after.free_runs, before.free_runs, "spans untouched");
        let (head2, n2) = h.alloc_batch(class, batch, 0);
        assert_eq!((head2, n2), (head, n), "the same batch comes back whole");
        h.check().unwrap();
        // SAFETY: as above.
        unsafe { h.free_batch(class, head2, n2, 0) };
        h.trim();
        let s = h.stats(None);
        assert_eq!((s.bytes_in_use, s.regions), (0, 0), "{s:?}");
        release(h);
    }
}
