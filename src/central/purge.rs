//! Returning memory to the OS: the policies that decide when free pages
//! are purged and when idle central batches go back to their spans. All of
//! it runs under the central heap's lock, on the free path or from the
//! opt-in background purger; memalloc starts no thread for it.
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
//!   `max(DIRTY_MIN_BYTES, mapped / DIRTY_FRACTION, 2 × the largest span
//!   freed within PURGE_DELAY_MS)` = max(8 MiB, 1/8 of the mapped region
//!   bytes, twice the latest big buffer). A free that passes the bound
//!   purges the oldest free runs (`MADV_DONTNEED`) until half the bound is
//!   left, so a program that frees everything is back near its starting
//!   RSS at once (1 GiB freed: 2.7 MiB at start, 12.3 MiB right after). The
//!   last term keeps a buffer that is freed and taken again in a loop
//!   resident: without it, 64 KiB–32 MiB buffers ran 160× slower, faulting
//!   every page on every cycle.
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

use super::{CentralState, NUM_BINS, next_batch};
use crate::os;
use crate::region::{PAGE_SIZE, PageDesc, RegionHeader};
use crate::size_class::{NUM_CLASSES, block_size};

/// How long a free run stays resident before its pages go back to the OS
/// (the default; `MEMALLOC_PURGE_DELAY_MS` and `Options` change it).
pub const PURGE_DELAY_MS: u64 = 100;
/// The dirty-page bound's floor: a heap may keep this many bytes of free
/// but resident pages however small it is (see `enforce_dirty_bound`; the
/// default: `MEMALLOC_DIRTY_MIN_BYTES` and `Options` change it).
pub const DIRTY_MIN_BYTES: usize = 8 << 20;
/// The dirty-page bound's share of the mapped region bytes: 1/8 (the
/// default: `MEMALLOC_DIRTY_FRACTION` and `Options` change it).
pub const DIRTY_FRACTION: usize = 8;

impl CentralState {
    /// Purges free runs that have been free for at least the delay.
    pub(super) unsafe fn maybe_purge(&mut self, now: u64) {
        if now < self.next_purge_ms {
            return;
        }
        self.next_purge_ms = now + crate::options::purge_delay_ms() / 2;
        // SAFETY: lock held.
        unsafe { self.purge_older_than(now, crate::options::purge_delay_ms()) };
    }

    /// The most dirty (free but maybe resident) pages this heap keeps:
    /// `max(DIRTY_MIN_BYTES, mapped / DIRTY_FRACTION)`, and at least twice
    /// the largest span freed within the purge delay, so a program that
    /// keeps freeing and reallocating one big buffer does not fault it in
    /// again on every cycle.
    fn dirty_bound_pages(&self) -> usize {
        let floor = (self.c.region_bytes / crate::options::dirty_fraction())
            .max(crate::options::dirty_min_bytes())
            / PAGE_SIZE;
        floor.max(2 * self.recent_big_free)
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
        let bound = self.dirty_bound_pages();
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
            self.for_each_free_run(|d| {
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

    /// Calls `f` on every free run's head.
    ///
    /// # Safety
    /// Lock held; `f` does not unlink runs.
    unsafe fn for_each_free_run(&self, mut f: impl FnMut(*mut PageDesc)) {
        for b in 0..NUM_BINS {
            let mut d = self.bins[b];
            // SAFETY: bins hold live free heads of our regions.
            unsafe {
                while !d.is_null() {
                    f(d);
                    d = (*d).next;
                }
            }
        }
    }

    /// Returns the pages of free run `d` to the OS (`MADV_DONTNEED`).
    ///
    /// # Safety
    /// Lock held; `d` is a binned free head of ours.
    unsafe fn purge_run(&mut self, d: *mut PageDesc) {
        // SAFETY: caller's precondition: the run's pages hold no live data.
        unsafe {
            let r = RegionHeader::of_desc(d);
            os::purge(
                RegionHeader::page_addr(r, (*d).index as usize),
                (*d).npages as usize * PAGE_SIZE,
            );
            self.c.dirty_pages -= (*d).dirty as usize;
            (*d).dirty = 0;
            (*d).dirty_front = true;
        }
        self.c.purges += 1;
    }

    unsafe fn purge_older_than(&mut self, now: u64, age: u64) {
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

    #[cfg(unix)]
    pub(super) unsafe fn background_tick(&mut self, now: u64) -> bool {
        // SAFETY: lock held.
        let batches_left = unsafe { self.drain_idle_batches(now) };
        self.next_purge_ms = now + crate::options::purge_delay_ms() / 2;
        // SAFETY: lock held.
        unsafe { self.purge_older_than(now, crate::options::purge_delay_ms()) };
        batches_left || self.c.dirty_pages > 0
    }

    /// Runs [`Self::drain_idle_batches`] if half a purge delay has passed
    /// since it last ran: the free paths call this, so a program whose
    /// threads stopped exchanging a class's batches gets them back into
    /// their spans (and those spans back to the page heap) with no thread
    /// of memalloc's own.
    pub(super) unsafe fn maybe_drain_idle_batches(&mut self, now: u64) {
        if now >= self.next_drain_ms {
            // SAFETY: lock held.
            unsafe { self.drain_idle_batches(now) };
        }
    }

    /// Returns to their spans the batches of every class whose stack no
    /// thread pushed or popped for half a purge delay. Returns whether any
    /// class still keeps batches.
    unsafe fn drain_idle_batches(&mut self, now: u64) -> bool {
        self.next_drain_ms = now + crate::options::purge_delay_ms() / 2;
        let mut batches_left = false;
        // SAFETY: lock held; the batches hold blocks of their class.
        unsafe {
            for class in 0..NUM_CLASSES {
                if now.saturating_sub(self.classes[class].moved_at)
                    < crate::options::purge_delay_ms() / 2
                {
                    batches_left |= self.classes[class].nbatches > 0;
                    continue;
                }
                while self.classes[class].nbatches > 0 {
                    self.drain_one_batch(class);
                }
            }
        }
        batches_left
    }

    /// Returns one whole batch of `class` to its spans.
    unsafe fn drain_one_batch(&mut self, class: usize) {
        let sc = &mut self.classes[class];
        let head = sc.batches;
        // SAFETY: `head` heads a whole batch of `class` (ClassSupply invariant).
        unsafe {
            sc.batches = *next_batch(head);
            sc.nbatches -= 1;
            self.c.transfer -= self.limits.batch(class) as usize * block_size(class);
            self.return_list(class, head);
        }
    }

    pub(super) unsafe fn trim(&mut self) {
        // SAFETY: lock held; the batches hold blocks of their class.
        unsafe {
            for class in 0..NUM_CLASSES {
                while self.classes[class].nbatches > 0 {
                    self.drain_one_batch(class);
                }
            }
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

#[cfg(test)]
mod tests {
    use super::super::tests::{free, page_run, release};
    use super::super::*;
    use super::*;

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
        h.locked(|_, _| {
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
        let bound = h.locked(|s, _| s.dirty_bound_pages());
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
        let dirty = h.locked(|s, _| s.c.dirty_pages);
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
        h.locked(|_, _| {
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
        let bound = h.locked(|s, _| s.dirty_bound_pages());
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
        h.locked(|s, _| {
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
