//! Returning memory to the OS: the policies that decide when free pages
//! are purged and when idle central batches go back to their spans. Page
//! purging runs under the page-heap lock, batch draining under each
//! class's lock in turn, on the free path or from the opt-in background
//! purger; memalloc starts no thread for it.
//!
//! ```text
//!   free ──▶ free_run ──▶ coalesce ──▶ dirty += pages of the freed span
//!                                        │
//!              dirty > bound? ──yes──▶ purge_oldest: oldest runs first,
//!                                        until dirty ≤ bound / 2
//!   page-heap activity, ≥ 50 ms apart ──▶ purge runs free ≥ 100 ms
//!   a free reaching the central heap, ≥ 50 ms apart ──▶ batches of classes
//!                                        idle ≥ 50 ms back to their spans
//!   opt-in purger tick (every 50 ms) ──▶ both of the above
//! ```
//!
//! Policies, with why:
//! - Dirty pages (free but maybe resident) are bounded: at most
//!   `max(DIRTY_MIN_BYTES, in use / DIRTY_FRACTION, 2 × the largest span
//!   freed within PURGE_DELAY_MS)` = max(8 MiB, 1/8 of the region bytes in
//!   use, twice the latest big buffer), raised to twice the most large
//!   pages in use over the last delay while allocations of 1 MiB or more
//!   keep reusing resident pages (threads cycling big buffers together). A free that passes the bound
//!   purges the oldest free runs (`MADV_DONTNEED`) until half the bound is
//!   left, so a program that frees everything is back near its starting
//!   RSS at once (1 GiB freed: 2.7 MiB at start, 12.3 MiB right after). The
//!   last term keeps a buffer that is freed and taken again in a loop
//!   resident: without it, 64 KiB–32 MiB buffers ran 160× slower, faulting
//!   every page on every cycle.
//! - Wholly free regions stay mapped until free for [`PURGE_DELAY_MS`]
//!   (the largest is kept as the reserve), so threads cycling big buffers
//!   across regions reuse them resident instead of mapping fresh ones.
//! - Large requests (≥ 128 KiB) take the run with the most of its front
//!   resident when one has any, before the best fit (`page_heap.rs`).
//! - Each run's dirty count is exact while its resident pages are a prefix
//!   of it (`PageDesc::dirty_front`: the common case, as buffers reuse the
//!   front of a free run) and an over-estimate otherwise, never an
//!   under-estimate, so the bound can purge early but never late.
//! - Below the bound, free runs are purged once free for
//!   [`PURGE_DELAY_MS`]; the check runs on page-heap allocations and frees,
//!   at most twice per delay. Short-lived free runs are reused while still
//!   resident. An idle heap keeps what is under the bound until `trim`, or
//!   until the opt-in background purger ticks.
//! - A class whose batch stack no thread pushed or popped for half a purge
//!   delay gets its batches returned to their spans, checked on the free
//!   path at most every 50 ms, so their pages can be purged too.

use super::CentralHeap;
use super::page_heap::{NUM_BINS, PageState};
use crate::region::{PAGE_SIZE, PageDesc, RegionHeader};
use crate::size_class::NUM_CLASSES;
use crate::sync::atomic::Ordering;

/// How long a free run stays resident before its pages go back to the OS
/// (the default; `MEMALLOC_PURGE_DELAY_MS` and `Options` change it).
pub const PURGE_DELAY_MS: u64 = 100;
/// The dirty-page bound's floor: a heap may keep this many bytes of free
/// but resident pages however small it is (see `enforce_dirty_bound`; the
/// default: `MEMALLOC_DIRTY_MIN_BYTES` and `Options` change it).
pub const DIRTY_MIN_BYTES: usize = 8 << 20;
/// Large allocations of at least this many pages (1 MiB) that take
/// mostly resident pages mark a heap as cycling big buffers (see
/// `dirty_bound_pages`). Smaller blocks are served well by the floor; with
/// 128 KiB, refilling the holes of freed 64 KiB objects counted as cycling
/// and kept 600 MiB resident after everything was freed.
const REUSE_MIN_PAGES: usize = (1 << 20) / PAGE_SIZE;
/// The dirty-page bound's share of the region bytes in use: 1/8 (the
/// default: `MEMALLOC_DIRTY_FRACTION` and `Options` change it).
pub const DIRTY_FRACTION: usize = 8;

impl PageState {
    /// Purges free runs that have been free for at least the delay.
    pub(super) unsafe fn maybe_purge(&mut self, now: u64) {
        if now < self.next_purge_ms {
            return;
        }
        self.next_purge_ms = now + crate::options::purge_delay_ms() / 2;
        self.large_peak_prev = self.large_peak;
        self.large_peak = self.c.large_pages;
        // SAFETY: lock held.
        unsafe {
            self.purge_older_than(now, crate::options::purge_delay_ms());
            self.unmap_idle_regions(now);
        }
    }

    /// Unmaps every region that has been wholly free for the purge delay,
    /// except the reserve: the largest wholly free region (the most
    /// recently freed among equals), kept so that a heap that keeps needing
    /// a big region does not map and unmap it on every cycle.
    ///
    /// Why not at once: with several threads cycling big buffers, each
    /// region became wholly free in turn and the one just freed (still
    /// resident) was unmapped, only for the next buffer to map a fresh one
    /// and fault every page in: 64 KiB–32 MiB buffers at 2 threads ran at
    /// 0.22× System with 6× its page faults. The dirty bound still purges
    /// an empty region's pages early if they are too many.
    ///
    /// # Safety
    /// The page-heap lock is held.
    pub(super) unsafe fn unmap_idle_regions(&mut self, now: u64) {
        let empty = |r: *mut RegionHeader| {
            // SAFETY: `r` is a live region of ours (lock held).
            unsafe { (*r).free_pages == (*r).npages - (*r).first_page }
        };
        let freed_at = |r: *mut RegionHeader| {
            // SAFETY: a wholly free region's first usable page heads its run.
            unsafe { (*RegionHeader::desc(r, (*r).first_page)).freed_at }
        };
        let mut reserve: *mut RegionHeader = core::ptr::null_mut();
        let mut r = self.regions;
        // SAFETY: the region list holds live regions of ours.
        unsafe {
            while !r.is_null() {
                if empty(r)
                    && (reserve.is_null()
                        || (*r).map_size > (*reserve).map_size
                        || ((*r).map_size == (*reserve).map_size
                            && freed_at(r) > freed_at(reserve)))
                {
                    reserve = r;
                }
                r = (*r).next;
            }
            let mut r = self.regions;
            while !r.is_null() {
                let next = (*r).next;
                if r != reserve
                    && empty(r)
                    && now.saturating_sub(freed_at(r)) >= crate::options::purge_delay_ms()
                {
                    self.bin_remove(RegionHeader::desc(r, (*r).first_page));
                    self.c.free_pages -= (*r).free_pages;
                    self.unmap_region(r);
                }
                r = next;
            }
        }
    }

    /// The most dirty (free but maybe resident) pages this heap keeps:
    /// `max(DIRTY_MIN_BYTES, region bytes in use / DIRTY_FRACTION)`, and at least twice
    /// the largest span freed within the purge delay, so a program that
    /// keeps freeing and reallocating one big buffer does not fault it in
    /// again on every cycle. While large allocations keep taking resident
    /// pages (reuse within the purge delay), also at least twice the most
    /// large pages in use over the last delay: threads cycling big buffers
    /// together need that many resident, and with only the single-buffer
    /// term two threads purged each other's buffers and faulted them back
    /// in 6× as often as System. A program that frees everything without
    /// reusing it still drops to the floor at once. The price: one that
    /// cycled big buffers and then frees everything keeps up to twice its
    /// recent peak of large blocks resident until its next page-heap call
    /// after the delay (or `trim`, or a tick of the opt-in purger). Tried
    /// and measured instead: twice the large pages in use *now* (two
    /// threads cycling purged each other's buffers again, 4× System's page
    /// faults), and forgetting the term whenever no large block is live
    /// (two threads are often both between buffers: same result).
    pub(super) fn dirty_bound_pages(&self, now: u64) -> usize {
        // The share is of the region bytes in use, not mapped: wholly free
        // regions stay mapped for a purge delay, and counting them let a
        // heap that had just freed 1 GiB keep 128 MiB of it resident.
        let in_use = self.c.region_bytes - self.c.free_pages * PAGE_SIZE;
        let floor = (in_use / crate::options::dirty_fraction())
            .max(crate::options::dirty_min_bytes())
            / PAGE_SIZE;
        let bound = floor.max(2 * self.recent_big_free);
        if self.reused_at != 0
            && now.saturating_sub(self.reused_at) < crate::options::purge_delay_ms()
        {
            bound.max(2 * self.large_peak.max(self.large_peak_prev))
        } else {
            bound
        }
    }

    /// Notes whether the run `d`, about to give its first `n` pages to a
    /// large allocation, has most of them resident (reuse, for
    /// [`Self::dirty_bound_pages`]).
    ///
    /// # Safety
    /// `d` is a free head of ours (lock held).
    pub(super) unsafe fn note_reuse(&mut self, d: *mut PageDesc, n: usize, now: u64) {
        // SAFETY: caller's precondition.
        let covered = unsafe {
            if (*d).dirty_front {
                ((*d).dirty as usize).min(n)
            } else {
                0
            }
        };
        if n >= REUSE_MIN_PAGES && 2 * covered >= n {
            self.reused_at = now.max(1);
        }
    }

    /// Records a freed span of `n` pages for [`Self::dirty_bound_pages`]:
    /// the largest within the purge delay, or the latest after it.
    pub(super) fn note_freed_span(&mut self, n: usize, now: u64) {
        if n >= self.recent_big_free
            || now.saturating_sub(self.recent_big_at) >= crate::options::purge_delay_ms()
        {
            self.recent_big_free = n;
            self.recent_big_at = now;
        }
    }

    /// Splits the dirty count of free run `from` when its first `taken`
    /// pages leave it and `rest` (the remainder, already marked) stays
    /// free. A run whose resident pages are a prefix loses `taken` of them
    /// to the taken part; otherwise the rest keeps the whole count (capped
    /// at its size), since where the resident pages lie is not known.
    ///
    /// # Safety
    /// `from` and `rest` are descriptors of the same region; lock held.
    pub(super) unsafe fn split_dirty(from: *mut PageDesc, rest: *mut PageDesc, taken: usize) {
        // SAFETY: caller's precondition.
        unsafe {
            let (d, n) = ((*from).dirty, (*rest).npages);
            if (*from).dirty_front {
                (*rest).dirty = d.saturating_sub(taken as u32);
                (*rest).dirty_front = true;
            } else {
                (*rest).dirty = d.min(n);
                (*rest).dirty_front = false;
            }
        }
    }

    /// Keeps the dirty pages under [`Self::dirty_bound_pages`] without a
    /// background thread: once the bound is passed, the oldest free runs
    /// are purged until half the bound is left (hysteresis, so a heap at
    /// the bound does not purge on every free).
    pub(super) unsafe fn enforce_dirty_bound(&mut self, now: u64) {
        let bound = self.dirty_bound_pages(now);
        if self.c.dirty_pages <= bound {
            return;
        }
        // SAFETY: lock held.
        unsafe { self.purge_oldest(now, self.c.dirty_pages - bound / 2) };
    }

    /// Purges the oldest dirty runs until at least `excess` dirty pages
    /// are gone (or none is left). Two passes over the free runs: the
    /// first sorts their dirty pages into power-of-two age buckets, the
    /// second purges every run older than the bucket where the excess is
    /// reached, and runs of that bucket until it is.
    unsafe fn purge_oldest(&mut self, now: u64, excess: usize) {
        const AGE_BUCKETS: usize = 64;
        let bucket = |freed_at: u64| -> usize {
            let age = now.saturating_sub(freed_at);
            (u64::BITS - age.leading_zeros()) as usize
        };
        let mut pages_by_age = [0usize; AGE_BUCKETS + 1];
        // SAFETY: bins hold live free heads of our regions (lock held).
        unsafe {
            self.for_each_binned(|d| {
                pages_by_age[bucket((*d).freed_at)] += (*d).dirty as usize;
            });
        }
        let mut cutoff = AGE_BUCKETS;
        let mut older = 0;
        while cutoff > 0 && older + pages_by_age[cutoff] < excess {
            older += pages_by_age[cutoff];
            cutoff -= 1;
        }
        // Purge every run older than the cutoff bucket, then runs of that
        // bucket until the excess is gone.
        let mut left_in_cutoff = excess.saturating_sub(older);
        for b in 0..NUM_BINS {
            let mut d = self.bins[b];
            // SAFETY: as above; purging does not unlink runs from bins.
            unsafe {
                while !d.is_null() {
                    if (*d).dirty > 0 {
                        let k = bucket((*d).freed_at);
                        if k > cutoff || (k == cutoff && left_in_cutoff > 0) {
                            if k == cutoff {
                                left_in_cutoff = left_in_cutoff.saturating_sub((*d).dirty as usize);
                            }
                            self.purge_run(d);
                        }
                    }
                    d = (*d).next;
                }
            }
        }
    }

    /// Calls `f` on every free run's head (the page-heap lock is held, as
    /// `&self` says); `f` must not unlink runs.
    pub(super) fn for_each_binned(&self, mut f: impl FnMut(*mut PageDesc)) {
        for &head in &self.bins {
            let mut d = head;
            // SAFETY: bins hold live free heads of our regions.
            unsafe {
                while !d.is_null() {
                    f(d);
                    d = (*d).next;
                }
            }
        }
    }

    /// Returns the pages of free run `d` to the OS (`MADV_DONTNEED`). If
    /// the OS refuses, the run stays dirty: its pages are still resident,
    /// and a later purge tries again.
    ///
    /// # Safety
    /// Lock held; `d` is a binned free head of ours.
    unsafe fn purge_run(&mut self, d: *mut PageDesc) {
        // SAFETY: caller's precondition: the run's pages hold no live data.
        unsafe {
            let r = RegionHeader::of_desc(d);
            if !self.os.purge(
                RegionHeader::page_addr(r, (*d).index as usize),
                (*d).npages as usize * PAGE_SIZE,
            ) {
                return;
            }
            self.c.dirty_pages -= (*d).dirty as usize;
            (*d).dirty = 0;
            (*d).dirty_front = true;
        }
        self.c.purges += 1;
    }

    pub(super) unsafe fn purge_older_than(&mut self, now: u64, age: u64) {
        for b in 0..NUM_BINS {
            let mut d = self.bins[b];
            // SAFETY: bins hold live free heads of our regions.
            unsafe {
                while !d.is_null() {
                    if (*d).dirty > 0 && now.saturating_sub((*d).freed_at) >= age {
                        self.purge_run(d);
                    }
                    d = (*d).next;
                }
            }
        }
    }

    /// The page heap's part of the background purger's tick: everything
    /// the decay does on page-heap activity (purge runs older than the
    /// delay, unmap idle regions but the reserve, roll the large-page
    /// peak), now. Returns whether anything is left for a later tick:
    /// dirty pages, or a wholly free region beyond the reserve.
    #[cfg(unix)]
    pub(super) unsafe fn background_tick(&mut self, now: u64) -> bool {
        self.next_purge_ms = 0;
        // SAFETY: lock held.
        unsafe { self.maybe_purge(now) };
        let mut empty = 0;
        let mut r = self.regions;
        // SAFETY: the region list holds live regions of ours (lock held).
        unsafe {
            while !r.is_null() {
                empty += ((*r).free_pages == (*r).npages - (*r).first_page) as usize;
                r = (*r).next;
            }
        }
        self.c.dirty_pages > 0 || empty > 1
    }

    /// Purges every free run and unmaps every wholly free region, reserve
    /// included (after the classes drained their batches).
    ///
    /// # Safety
    /// The page-heap lock is held.
    pub(super) unsafe fn trim(&mut self) {
        // SAFETY: lock held.
        unsafe {
            self.purge_older_than(u64::MAX, 0);
            // Release every wholly free region, reserve included.
            let mut r = self.regions;
            while !r.is_null() {
                let next = (*r).next;
                if (*r).free_pages == (*r).npages - (*r).first_page {
                    let head = RegionHeader::desc(r, (*r).first_page);
                    self.bin_remove(head);
                    self.c.free_pages -= (*r).free_pages;
                    self.unmap_region(r);
                }
                r = next;
            }
        }
    }
}

impl CentralHeap {
    /// Runs [`Self::drain_idle_batches`] if half a purge delay has passed
    /// since it last ran: the free paths call this, so a program whose
    /// threads stopped exchanging a class's batches gets them back into
    /// their spans (and those spans back to the page heap) with no thread
    /// of memalloc's own. Called with no lock held.
    pub(super) fn maybe_drain_idle_batches(&self, now: u64) {
        let next = self.next_drain_ms.load(Ordering::Relaxed);
        if now >= next
            && self
                .next_drain_ms
                .compare_exchange(
                    next,
                    now + crate::options::purge_delay_ms() / 2,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            self.drain_idle_batches(now);
        }
    }

    /// Returns to their spans the batches of every class whose stack no
    /// thread pushed or popped for half a purge delay, taking each class's
    /// lock in turn. Returns whether any class still keeps batches.
    pub(super) fn drain_idle_batches(&self, now: u64) -> bool {
        self.next_drain_ms.store(
            now + crate::options::purge_delay_ms() / 2,
            Ordering::Relaxed,
        );
        let mut batches_left = false;
        for class in 0..NUM_CLASSES {
            self.classes[class].locked(|s| {
                if s.nbatches == 0 {
                    return;
                }
                if now.saturating_sub(s.moved_at) < crate::options::purge_delay_ms() / 2 {
                    batches_left = true;
                    return;
                }
                // SAFETY: class lock held; the page heap is ours.
                unsafe { s.drain_batches(class, &self.limits, &self.pages, now) };
            });
        }
        batches_left
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{free, page_run, release};
    use super::super::*;
    use super::*;
    use crate::os;
    use crate::region::{self, SPAN_FREE};
    use crate::size_class::{CLASSES, block_size};

    #[test]
    fn free_runs_are_purged_after_the_delay() {
        let h = CentralHeap::new();
        let a = page_run(&h, 32);
        let fence = page_run(&h, 1);
        // SAFETY: the block is ours and writable.
        unsafe { a.write_bytes(1, 32 * PAGE_SIZE) };
        free(&h, a);
        assert_eq!(h.stats(None).purges, 0, "not purged at once");
        std::thread::sleep(std::time::Duration::from_millis(PURGE_DELAY_MS + 50));
        // Any page-heap free runs the purge check.
        let b = page_run(&h, 1);
        free(&h, b);
        let s = h.stats(None);
        assert!(s.purges >= 1, "{s:?}");
        assert!(s.bytes_purged >= 32 * PAGE_SIZE, "{s:?}");
        free(&h, fence);
        release(h);
    }

    /// The dirty flag of the free run that `p` (a freed large block) is in.
    fn dirty_pages_at(h: &CentralHeap, p: *mut u8) -> u32 {
        h.pages.locked(|_| {
            // SAFETY: `p` lies in a live region of `h`; the lock is held.
            unsafe {
                let r = region::find(p);
                let d = region::span_of(r, p);
                assert!(!d.is_null() && (*d).kind == SPAN_FREE, "a free run's head");
                (*d).dirty
            }
        })
    }

    #[test]
    fn dirty_pages_past_the_bound_are_purged_oldest_first() {
        let h = CentralHeap::new();
        let mib = (1 << 20) / PAGE_SIZE;
        // One 32 MiB block maps a 64 MiB region that holds everything below.
        let big = page_run(&h, 32 * mib);
        // Twelve 1 MiB runs to free, kept apart by live 1 MiB fences.
        let runs: Vec<_> = (0..12)
            .map(|_| (page_run(&h, mib), page_run(&h, mib)))
            .collect();
        assert_eq!(h.stats(None).regions, 1);
        let bound = h.pages.locked(|s| s.dirty_bound_pages(os::now_ms()));
        assert_eq!(
            bound * PAGE_SIZE,
            DIRTY_MIN_BYTES,
            "a small heap gets the floor"
        );
        for &(p, _) in &runs[..6] {
            free(&h, p);
        }
        assert_eq!(h.stats(None).purges, 0, "6 MiB dirty is under the bound");
        std::thread::sleep(std::time::Duration::from_millis(20));
        for &(p, _) in &runs[6..] {
            free(&h, p);
        }
        let s = h.stats(None);
        let dirty = h.pages.locked(|s| s.c.dirty_pages);
        assert!(s.purges >= 1, "{s:?}");
        assert!(dirty <= bound, "dirty {dirty} pages, bound {bound}");
        // The third newer free passed the bound (9 MiB): purging down to
        // half of it took 5 MiB, all from the older runs.
        let purged_old = runs[..6]
            .iter()
            .filter(|&&(p, _)| dirty_pages_at(&h, p) == 0)
            .count();
        assert_eq!(purged_old, 5, "the oldest runs went first, just enough");
        assert!(
            runs[6..]
                .iter()
                .all(|&(p, _)| dirty_pages_at(&h, p) as usize == mib),
            "the newer runs stay resident"
        );
        for (_, fence) in runs {
            free(&h, fence);
        }
        free(&h, big);
        release(h);
    }

    fn dirty_front_at(h: &CentralHeap, p: *mut u8) -> bool {
        h.pages.locked(|_| {
            // SAFETY: as in `dirty_pages_at`.
            unsafe { (*region::span_of(region::find(p), p)).dirty_front }
        })
    }

    #[test]
    fn a_big_buffer_freed_and_taken_again_in_a_loop_stays_resident() {
        let h = CentralHeap::new();
        let pages = (24 << 20) / PAGE_SIZE; // 24 MiB, three times the floor
        for _ in 0..20 {
            let p = page_run(&h, pages);
            free(&h, p);
        }
        let s = h.stats(None);
        assert_eq!(s.purges, 0, "the bound follows the buffer: {s:?}");
        let bound = h.pages.locked(|s| s.dirty_bound_pages(os::now_ms()));
        assert_eq!(bound, 2 * pages);
        release(h);
    }

    #[test]
    fn a_split_run_keeps_an_exact_count_when_its_resident_pages_lead() {
        let h = CentralHeap::new();
        let a = page_run(&h, 32);
        let fence = page_run(&h, 1);
        free(&h, a);
        assert_eq!((dirty_pages_at(&h, a), dirty_front_at(&h, a)), (32, true));
        // Reusing the front of a freed buffer: the rest keeps what is left
        // of the resident prefix, and freeing again restores the count.
        let b = page_run(&h, 20);
        assert_eq!(b, a, "best fit splits from the front");
        // SAFETY: 20 pages past `b` lie in the same region.
        let rest = unsafe { b.add(20 * PAGE_SIZE) };
        assert_eq!(
            (dirty_pages_at(&h, rest), dirty_front_at(&h, rest)),
            (12, true)
        );
        free(&h, b);
        assert_eq!((dirty_pages_at(&h, a), dirty_front_at(&h, a)), (32, true));
        free(&h, fence);
        release(h);
    }

    #[test]
    fn a_split_run_never_under_counts_when_its_resident_pages_may_lie_anywhere() {
        let h = CentralHeap::new();
        let clean = page_run(&h, 16);
        let hot = page_run(&h, 16);
        let fence = page_run(&h, 1);
        free(&h, clean);
        h.pages.locked(|s| {
            // SAFETY: lock held.
            unsafe { s.purge_older_than(u64::MAX, 0) }
        });
        assert_eq!(dirty_pages_at(&h, clean), 0);
        free(&h, hot);
        // [16 purged | 16 resident]: not a prefix.
        assert_eq!(
            (dirty_pages_at(&h, clean), dirty_front_at(&h, clean)),
            (16, false)
        );
        let b = page_run(&h, 8);
        assert_eq!(b, clean);
        // SAFETY: 8 pages past `b` lie in the same region.
        let rest = unsafe { b.add(8 * PAGE_SIZE) };
        assert_eq!(
            (dirty_pages_at(&h, rest), dirty_front_at(&h, rest)),
            (16, false),
            "the rest may hold every resident page"
        );
        free(&h, b);
        free(&h, fence);
        release(h);
    }

    #[test]
    fn idle_central_batches_go_back_to_their_spans_on_a_later_free() {
        let h = CentralHeap::new();
        let (idle, busy) = (3, 5);
        let (ib, bb) = (CLASSES[idle].batch as usize, CLASSES[busy].batch as usize);
        let (head, n) = h.alloc_batch(idle, ib, 0);
        // SAFETY: a full batch of `idle` blocks from `h`.
        unsafe { h.free_batch(idle, head, n, 0) };
        assert_eq!(
            h.stats(None).bytes_in_central_batches,
            ib * block_size(idle)
        );
        std::thread::sleep(std::time::Duration::from_millis(PURGE_DELAY_MS / 2 + 20));
        // Another class keeps exchanging: its batch stays; the idle one goes
        // back to its spans on this free, with no thread involved.
        let (head, n) = h.alloc_batch(busy, bb, 0);
        // SAFETY: a full batch of `busy` blocks from `h`.
        unsafe { h.free_batch(busy, head, n, 0) };
        let s = h.stats(None);
        assert_eq!(s.bytes_in_central_batches, bb * block_size(busy), "{s:?}");
        h.check().unwrap();
        h.trim();
        let s = h.stats(None);
        assert_eq!((s.bytes_in_use, s.regions), (0, 0), "{s:?}");
        release(h);
    }
}
