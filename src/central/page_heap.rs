//! The page heap: regions, free runs in size bins, best fit, split and
//! coalesce, behind the page-heap lock.
//!
//! ```text
//!   bins[0..128]   runs of exactly 1..=128 pages
//!   bins[128..]    runs of [2^k, 2^(k+1)) pages, k = 7..13
//!   bin_bits       bit b set iff bins[b] is non-empty
//!
//!   alloc_run(n): best fit ─▶ split the front off ─▶ rest back to its bin
//!   free_run(d):  merge with a free left and right neighbour ─▶ bin
//!                 (a wholly free region: the reserve, or unmapped)
//! ```
//!
//! What this lock protects ([`PageState`]): the bins, the region list, the
//! page counters, and every field of a page descriptor except the
//! small-span fields (`used`, `carved`, `free`, `in_partial`, and the
//! `next`/`prev` links while the span is on a partial list), which belong
//! to the span's class lock (`supply.rs`) for as long as the span is
//! small. The page heap writes a span's `head`, `span_start`, `npages`,
//! `kind` and `class` only while no class owns it: when it hands a run
//! out (`alloc_span`, `alloc_large`) and when it takes one back
//! (`free_spans`, `free_large`). Coalescing reads its neighbours' `head`,
//! `kind` and `npages`, which only this lock writes.
//!
//! Lock order: a class lock may be held when this one is taken (to get or
//! return whole spans); never the reverse. Nothing is called with this lock
//! held that takes another memalloc lock.

use super::LockCounts;
use crate::os::{self, Os};
use crate::region::{
    self, MAX_REGION_PAGES, MIN_REGION_SIZE, PAGE_SHIFT, PAGE_SIZE, PageDesc, PageMark, REGION_ALIGN,
    RegionHeader, RegionKind, SPAN_FREE, SPAN_LARGE, SPAN_SMALL, metadata_pages,
};
use crate::size_class::CLASSES;
use crate::stats::BinLine;
use crate::sync::{Lock, UnsafeCell};
use core::ptr;

/// The longest run a region can hold.
pub(super) const MAX_RUN_PAGES: usize = MAX_REGION_PAGES - metadata_pages(MAX_REGION_PAGES);
/// Bins 0..128 hold runs of exactly 1..=128 pages; the rest hold
/// [2^k, 2^(k+1)) pages for k = 7..13.
const EXACT_BINS: usize = 128;
pub(super) const NUM_BINS: usize =
    EXACT_BINS + (MAX_REGION_PAGES.trailing_zeros() as usize - 7) + 1;

/// Requests of at least this many pages (128 KiB) prefer resident runs
/// over the best fit: below it, faulting a few pages costs less than the
/// fragmentation a looser fit brings.
const RESIDENT_FIT_MIN_PAGES: usize = 16;
/// Wholly free regions kept mapped at once (the reserve and those the
/// decay has not unmapped yet); a region emptied past this count unmaps
/// the smallest at once.
const MAX_EMPTY_REGIONS: usize = 3;
/// The most free runs [`PageState::resident_fit`] looks at.
const RESIDENT_FIT_SCAN: usize = 32;

/// Counters kept exactly under the page-heap lock.
#[derive(Clone, Copy, Default)]
pub(super) struct PageCounters {
    pub(super) region_bytes: usize,
    pub(super) regions: usize,
    pub(super) free_pages: usize,
    pub(super) large_pages: usize,
    /// Pages in free runs marked dirty (maybe resident).
    pub(super) dirty_pages: usize,
    pub(super) large_allocs: u64,
    pub(super) maps: u64,
    pub(super) unmaps: u64,
    pub(super) purges: u64,
}

/// Everything behind the page-heap lock.
///
/// Invariants (checked by `check.rs`): the spans of every listed region
/// tile its usable pages; every free run is binned by its size, and no two
/// free runs are adjacent; the counters equal what the page map says.
/// Wholly free regions beyond the reserve are unmapped once free for the
/// purge delay (`purge.rs`).
pub(super) struct PageState {
    pub(super) bins: [*mut PageDesc; NUM_BINS],
    /// Bit `b` set iff `bins[b]` is non-empty.
    pub(super) bin_bits: [u64; 3],
    pub(super) regions: *mut RegionHeader,
    pub(super) c: PageCounters,
    pub(super) next_purge_ms: u64,
    /// The largest span freed within the purge delay (pages), and when.
    pub(super) recent_big_free: usize,
    pub(super) recent_big_at: u64,
    /// The most large pages in use during this half delay and the one
    /// before (see `purge.rs`, `dirty_bound_pages`).
    pub(super) large_peak: usize,
    pub(super) large_peak_prev: usize,
    /// When a large allocation last took mostly resident pages.
    pub(super) reused_at: u64,
    pub(super) lock: LockCounts,
    /// Nanoseconds this lock was held, summed over acquisitions.
    pub(super) hold_ns: u64,
    /// Whether this is the process-wide heap, whose regions go into
    /// `region::FreeTables` for its lock-free `free`.
    pub(super) process: bool,
    /// Where regions are mapped, unmapped and purged; fixed at
    /// construction.
    pub(super) os: Os,
}

impl PageState {
    /// Free runs per bin.
    pub(super) fn bin_lines(&self, out: &mut [BinLine; NUM_BINS]) {
        for (b, line) in out.iter_mut().enumerate() {
            let (lo, hi) = bin_range(b);
            *line = BinLine {
                pages_lo: lo,
                pages_hi: hi,
                runs: 0,
                bytes: 0,
            };
            let mut d = self.bins[b];
            // SAFETY: bins hold live free heads (the caller holds the lock).
            unsafe {
                while !d.is_null() {
                    line.runs += 1;
                    line.bytes += (*d).npages as usize * PAGE_SIZE;
                    d = (*d).next;
                }
            }
        }
    }

    pub(super) const fn new(os: Os, process: bool) -> Self {
        PageState {
            bins: [ptr::null_mut(); NUM_BINS],
            bin_bits: [0; 3],
            regions: ptr::null_mut(),
            c: PageCounters {
                region_bytes: 0,
                regions: 0,
                free_pages: 0,
                large_pages: 0,
                dirty_pages: 0,
                large_allocs: 0,
                maps: 0,
                unmaps: 0,
                purges: 0,
            },
            next_purge_ms: 0,
            recent_big_free: 0,
            recent_big_at: 0,
            large_peak: 0,
            large_peak_prev: 0,
            reused_at: 0,
            lock: LockCounts::new(),
            hold_ns: 0,
            os,
            process,
        }
    }
}

/// The page heap: its lock and the state behind it.
pub(super) struct PageHeap {
    pub(super) lock: Lock,
    state: UnsafeCell<PageState>,
}

impl PageHeap {
    /// An empty page heap that maps through `os`; `process` says whether
    /// it is the process-wide heap's (see `PageState::process`).
    pub(super) const fn new(os: Os, process: bool) -> Self {
        PageHeap {
            lock: Lock::new(),
            state: UnsafeCell::new(PageState::new(os, process)),
        }
    }

    #[cfg(loom)]
    pub(super) fn new_modelled() -> Self {
        PageHeap {
            lock: Lock::new_modelled(),
            state: UnsafeCell::new_modelled(PageState::new(Os::System, false)),
        }
    }

    /// Runs `f` on the state with the lock held, counting the acquisition,
    /// whether it had to wait, and how long the lock was held.
    #[inline]
    pub(super) fn locked<R>(&self, f: impl FnOnce(&mut PageState) -> R) -> R {
        let (_guard, contended) = self.lock.lock_noting_contention();
        let start = os::now_ns();
        self.state.with_mut(|s| {
            // SAFETY: the lock is held for the closure's whole duration, so
            // this is the only reference to the state.
            let s = unsafe { &mut *s };
            s.lock.note(contended);
            let r = f(s);
            s.hold_ns += os::now_ns().wrapping_sub(start);
            r
        })
    }

    /// The state, for a caller that holds the lock through a guard of its
    /// own (statistics, checking, teardown: see `CentralHeap::everything`).
    ///
    /// # Safety
    /// The caller holds `self.lock` for as long as it uses the pointer.
    pub(super) unsafe fn state_ptr(&self) -> *mut PageState {
        self.state.with_mut(|s| s)
    }

    /// A fresh span of `class`: a run of the class's span pages marked
    /// small, with every page naming its head. Its small-span fields are
    /// the caller's (its class lock) to set. Null if out of memory.
    pub(super) fn alloc_span(&self, owner: usize, class: usize) -> *mut PageDesc {
        let pages = CLASSES[class].span_pages as usize;
        self.locked(|s| {
            // SAFETY: lock held; the run is ours and unbinned.
            unsafe {
                let d = s.alloc_run(owner, pages);
                if !d.is_null() {
                    let r = RegionHeader::of_desc(d);
                    PageState::mark_span(r, (*d).index as usize, pages, SPAN_SMALL, class as u8);
                }
                d
            }
        })
    }

    /// Takes back a list of empty small spans (linked through `next`),
    /// all under one acquisition.
    ///
    /// # Safety
    /// Every span on the list is a small span of this heap with no block
    /// out, on no partial list; the caller gives it up.
    pub(super) unsafe fn free_spans(&self, mut list: *mut PageDesc, now: u64) {
        self.locked(|s| {
            // SAFETY: caller's precondition; lock held.
            unsafe {
                while !list.is_null() {
                    let next = (*list).next;
                    (*list).next = ptr::null_mut();
                    PageState::unmark_small(list);
                    s.free_run(list, now);
                    list = next;
                }
            }
        })
    }

    /// `pages` pages aligned to `align` (≤ what a region can give), or null.
    pub(super) fn alloc_large(&self, owner: usize, pages: usize, align: usize) -> *mut u8 {
        self.locked(|s| {
            // SAFETY: lock held.
            unsafe { s.alloc_large_run(owner, pages, align) }
        })
    }

    /// Frees the large span headed by `d`.
    ///
    /// # Safety
    /// `d` heads a live large span of this heap, whose block is not used
    /// any more.
    pub(super) unsafe fn free_large(&self, d: *mut PageDesc) {
        self.locked(|s| {
            // Read under the lock: a free that waited must not date its run
            // (and maybe its region) earlier than it was freed.
            let now = os::now_ms();
            // SAFETY: caller's precondition; lock held.
            unsafe {
                s.c.large_pages -= (*d).npages as usize;
                s.free_run(d, now);
            }
        })
    }

    /// Resizes the large span headed by `d` to `want` pages in place.
    ///
    /// # Safety
    /// `d` heads a live large span of this heap.
    pub(super) unsafe fn resize_large(&self, d: *mut PageDesc, want: usize) -> bool {
        self.locked(|s| {
            // SAFETY: caller's precondition; lock held.
            unsafe { s.resize_large_run(d, want) }
        })
    }
}

pub(super) fn bin_of(npages: usize) -> usize {
    if npages <= EXACT_BINS {
        npages - 1
    } else {
        EXACT_BINS + (usize::BITS - 1 - npages.leading_zeros()) as usize - 7
    }
}

pub(super) fn bin_range(bin: usize) -> (usize, usize) {
    if bin < EXACT_BINS {
        (bin + 1, bin + 1)
    } else {
        let k = bin - EXACT_BINS + 7;
        (1 << k, (2 << k) - 1)
    }
}

impl PageState {
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

    pub(super) unsafe fn bin_remove(&mut self, d: *mut PageDesc) {
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

    /// The run a request of `n` pages takes: for a large request, the run
    /// that already has the most of those pages resident, if one has any
    /// ([`Self::resident_fit`]); otherwise the smallest that fits.
    unsafe fn choose_run(&self, n: usize) -> *mut PageDesc {
        if n >= RESIDENT_FIT_MIN_PAGES {
            // SAFETY: forwarded (lock held).
            let d = unsafe { self.resident_fit(n) };
            if !d.is_null() {
                return d;
            }
        }
        // SAFETY: forwarded (lock held).
        unsafe { self.best_fit(n) }
    }

    /// Among the first [`RESIDENT_FIT_SCAN`] runs of at least `n` pages
    /// (smallest bins first), the one whose resident prefix covers most of
    /// the `n` pages a request takes from its front; ties go to the
    /// smaller run, then the lower address. Null if none has a resident
    /// page at its front.
    ///
    /// Why: with several threads cycling big buffers, plain best fit kept
    /// handing a buffer the never-touched tail of a region (the smallest
    /// run that fit) while the run another thread had just freed, still
    /// resident, sat beside it; every cycle faulted its pages in again, and
    /// 64 KiB–32 MiB buffers at 2 threads ran at 0.22× System. Preferring
    /// resident pages, as jemalloc prefers its dirty extents, reuses them.
    unsafe fn resident_fit(&self, n: usize) -> *mut PageDesc {
        let mut best: *mut PageDesc = ptr::null_mut();
        let mut best_key = (0usize, usize::MAX);
        let mut seen = 0;
        let mut from = bin_of(n);
        while let Some(b) = self.next_nonempty_bin(from) {
            let mut d = self.bins[b];
            // SAFETY: bin lists hold live free heads.
            unsafe {
                while !d.is_null() && seen < RESIDENT_FIT_SCAN {
                    let m = (*d).npages as usize;
                    if m >= n {
                        seen += 1;
                        let covered = if (*d).dirty_front {
                            ((*d).dirty as usize).min(n)
                        } else {
                            0
                        };
                        if covered > best_key.0
                            || (covered == best_key.0
                                && covered > 0
                                && (m < best_key.1 || (m == best_key.1 && d < best)))
                        {
                            best = d;
                            best_key = (covered, m);
                        }
                    }
                    d = (*d).next;
                }
            }
            if seen >= RESIDENT_FIT_SCAN {
                break;
            }
            from = b + 1;
        }
        best
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
    pub(super) unsafe fn mark_span(
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
                for i in 0..n {
                    let di = RegionHeader::desc(r, start + i);
                    (*di).span_start = start as u32;
                    RegionHeader::mark(r, start + i).set(PageMark::small(
                        class as usize,
                        RegionHeader::page_addr(r, start) as usize,
                    ));
                }
            } else {
                (*RegionHeader::desc(r, start + n - 1)).span_start = start as u32;
            }
            d
        }
    }

    /// Clears the mark of every page of the small span headed by `d`,
    /// which is about to become free.
    ///
    /// # Safety
    /// `d` heads a small span with no block out.
    unsafe fn unmark_small(d: *mut PageDesc) {
        // SAFETY: the span's pages lie in its region (caller).
        unsafe {
            let r = RegionHeader::of_desc(d);
            let start = (*d).index as usize;
            for i in start..start + (*d).npages as usize {
                RegionHeader::mark(r, i).set(0);
            }
        }
    }

    /// Takes a run of exactly `n` pages out of the page heap (growing it if
    /// needed). The returned head is unbinned; the caller sets its kind.
    unsafe fn alloc_run(&mut self, owner: usize, n: usize) -> *mut PageDesc {
        let now = os::now_ms();
        // SAFETY: lock held by caller; all descriptors are ours.
        unsafe {
            let mut d = self.choose_run(n);
            if d.is_null() {
                if !self.grow(owner, n) {
                    return ptr::null_mut();
                }
                d = self.choose_run(n);
                debug_assert!(!d.is_null());
            }
            self.bin_remove(d);
            self.note_reuse(d, n, now);
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
            self.maybe_purge(now);
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

            // A region left wholly free stays mapped for now: the decay
            // unmaps it once it has been free for the purge delay, unless
            // it is the reserve (`purge.rs`). But at most
            // MAX_EMPTY_REGIONS stay: past that, the smallest goes at once,
            // so a heap that frees everything does not keep a page map
            // resident for each of its regions (1 GiB in 64 MiB regions:
            // 7 MiB of page maps).
            if n == (*r).npages - (*r).first_page {
                let mut count = 0;
                let mut smallest: *mut RegionHeader = ptr::null_mut();
                let mut x = self.regions;
                while !x.is_null() {
                    if (*x).free_pages == (*x).npages - (*x).first_page {
                        count += 1;
                        if smallest.is_null() || (*x).map_size < (*smallest).map_size {
                            smallest = x;
                        }
                    }
                    x = (*x).next;
                }
                if count > MAX_EMPTY_REGIONS {
                    if smallest == r {
                        self.c.free_pages -= n;
                        self.unmap_region(r);
                        return;
                    }
                    self.bin_remove(RegionHeader::desc(smallest, (*smallest).first_page));
                    self.c.free_pages -= (*smallest).free_pages;
                    self.unmap_region(smallest);
                }
            }
            self.bin_insert(head);
            self.maybe_purge(now);
            self.enforce_dirty_bound(now);
        }
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
        let base = unsafe { self.os.map(size, REGION_ALIGN, 0) };
        if base.is_null() {
            return false;
        }
        if !region::addressable(base as usize, size) {
            // SAFETY: the fresh mapping is unused.
            unsafe { self.os.unmap(base, size) };
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
            if self.process {
                // SAFETY: a live page region of the process-wide heap, its
                // page map written, below the address limit (checked).
                region::register_process_region(r);
            }
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
    pub(super) unsafe fn unmap_region(&mut self, r: *mut RegionHeader) {
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
            if self.process {
                region::unregister_process_region(r as usize);
            }
            self.os.unmap(r as *mut u8, size);
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
            self.large_peak = self.large_peak.max(self.c.large_pages);
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
            self.large_peak = self.large_peak.max(self.c.large_pages);
            Self::mark_span(r, start, want, SPAN_LARGE, 0);
            true
        }
    }
}
