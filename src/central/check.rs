//! Whole-heap views taken with every lock held: the statistics snapshot,
//! the invariant walker, and teardown.

use super::page_heap::{NUM_BINS, PageState, bin_of};
use super::supply::{ClassState, next_batch};
use super::{Everything, LockCounts};
use crate::region::{
    self, PAGE_SIZE, PageDesc, PageMark, RegionHeader, RegionKind, SPAN_FREE, SPAN_LARGE,
    SPAN_SMALL, metadata_pages,
};
use crate::size_class::{CLASSES, NUM_CLASSES, block_size};
use crate::stats::Stats;
use core::ptr;

impl Everything<'_> {
    /// The counters of every lock's state, summed into one snapshot.
    pub(super) fn stats(&self) -> Stats {
        let p = &*self.pages;
        let h = &*self.huge;
        let (mut runs, mut largest, mut purged) = (0, 0, 0);
        p.for_each_binned(|d| {
            // SAFETY: a live free head (page-heap lock held).
            let (n, dirty) = unsafe { ((*d).npages as usize, (*d).dirty as usize) };
            runs += 1;
            largest = largest.max(n * PAGE_SIZE);
            purged += (n - dirty) * PAGE_SIZE;
        });
        let (mut small_out, mut transfer, mut cached) = (0usize, 0usize, 0usize);
        let (mut refilled, mut flushed) = (0, 0);
        let mut class_lock = LockCounts::new();
        let mut hold_est_ns = 0u64;
        for s in self.classes.iter() {
            hold_est_ns += s.hold_est_ns;
            small_out += s.small_out;
            transfer += s.transfer;
            cached = cached.wrapping_add(s.cached);
            refilled += s.refilled;
            flushed += s.flushed;
            class_lock.add(s.lock);
        }
        let c = &p.c;
        Stats {
            bytes_in_use: small_out.saturating_sub(transfer + cached)
                + c.large_pages * PAGE_SIZE
                + h.user_bytes,
            bytes_in_thread_caches: cached,
            bytes_in_central_batches: transfer,
            bytes_mapped: c.region_bytes + h.bytes,
            bytes_free_runs: c.free_pages * PAGE_SIZE,
            bytes_purged: purged,
            regions: c.regions,
            huge_allocations: h.count,
            free_runs: runs,
            largest_free_run: largest,
            large_allocs: c.large_allocs,
            huge_allocs: h.allocs,
            small_blocks_refilled: refilled,
            small_blocks_flushed: flushed,
            maps: c.maps + h.maps,
            unmaps: c.unmaps + h.unmaps,
            purges: c.purges,
            class_lock_acquisitions: class_lock.acquired,
            class_lock_contended: class_lock.contended,
            class_lock_hold_ns: hold_est_ns,
            page_lock_acquisitions: p.lock.acquired,
            page_lock_contended: p.lock.contended,
            page_lock_hold_ns: p.hold_ns,
            huge_lock_acquisitions: h.lock.acquired,
            huge_lock_contended: h.lock.contended,
        }
    }

    /// Unmaps every region and huge mapping and resets every state,
    /// keeping the lifetime counters of maps and lock use.
    ///
    /// # Safety
    /// No block of this heap is used any more.
    pub(super) unsafe fn release_all(&mut self) {
        // SAFETY: caller's precondition; every lock is held.
        unsafe {
            self.huge.release_all(self.pages.os);
            while !self.pages.regions.is_null() {
                self.pages.unmap_region(self.pages.regions);
            }
        }
        let mut fresh = PageState::new(self.pages.os, self.pages.process);
        fresh.c.maps = self.pages.c.maps;
        fresh.c.unmaps = self.pages.c.unmaps;
        fresh.lock = self.pages.lock;
        fresh.hold_ns = self.pages.hold_ns;
        *self.pages = fresh;
        for s in self.classes.iter_mut() {
            let (lock, ns) = (s.lock, s.hold_est_ns);
            **s = ClassState::new();
            (s.lock, s.hold_est_ns) = (lock, ns);
        }
    }

    /// The invariant walker. See the module docs of `region` and the
    /// invariants on [`ClassSupply`] and [`Counters`].
    pub(super) unsafe fn check(&self) -> Result<(), &'static str> {
        let mut free_runs_seen = 0usize;
        let mut free_pages = 0usize;
        let mut large_pages = 0usize;
        let mut region_bytes = 0usize;
        let mut regions = 0usize;
        let mut small_out = 0usize;
        let mut dirty_pages = 0usize;
        let mut small_out_counted = 0usize;
        let owner = self.owner;
        let ps = &*self.pages;
        // SAFETY: every lock held; every pointer reached is a live structure of ours.
        unsafe {
            let mut r = ps.regions;
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
                if region::is_process_region(r as usize) != ps.process {
                    return Err("region's entry in the process-wide lookup table is wrong");
                }
                if (*r).npages * PAGE_SIZE != (*r).map_size
                    || (*r).first_page != metadata_pages((*r).npages)
                {
                    return Err("region geometry is inconsistent");
                }
                // Marks of metadata pages and past the last page stay zero:
                // the lock-free lookup reads them with no bound test. (Not
                // under Miri, where 8 192 loads per region per check cost
                // more than the rest of the walk.)
                #[cfg(not(miri))]
                for i in (0..(*r).first_page).chain((*r).npages..region::MAX_REGION_PAGES) {
                    if RegionHeader::mark(r, i).get() != 0 {
                        return Err("a page mark outside the region's usable pages is set");
                    }
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
                    for i in p..p + n {
                        let di = RegionHeader::desc(r, i);
                        if i > p && (*di).head {
                            return Err("a head descriptor lies inside another span");
                        }
                        if (*d).kind == SPAN_SMALL && (*di).span_start as usize != p {
                            return Err("page of a small span does not name its head");
                        }
                        let mark = if (*d).kind == SPAN_SMALL {
                            PageMark::small((*d).class as usize, RegionHeader::page_addr(r, p) as usize)
                        } else {
                            0
                        };
                        if RegionHeader::mark(r, i).get() != mark {
                            return Err("a page's small-span mark (class, page in span) is wrong");
                        }
                    }
                    match (*d).kind {
                        SPAN_FREE => {
                            if prev_free {
                                return Err("two free runs are adjacent (missed coalesce)");
                            }
                            let b = bin_of(n);
                            let mut x = ps.bins[b];
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
                free_pages += region_free;
                prev = r;
                r = (*r).next;
            }
            let mut binned = 0;
            for b in 0..NUM_BINS {
                let nonempty = !ps.bins[b].is_null();
                if nonempty != (ps.bin_bits[b / 64] & (1 << (b % 64)) != 0) {
                    return Err("bin bitmap disagrees with the bins");
                }
                let mut d = ps.bins[b];
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
                let mut class_transfer = 0;
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
                class_transfer += sc.nbatches * per_batch as usize * block_size(class);
                if sc.transfer != class_transfer {
                    return Err("transfer counter disagrees with the batch stacks");
                }
                small_out_counted += sc.small_out;
            }
            let mut huge_bytes = 0;
            let mut huges = 0;
            let mut h = self.huge.list;
            while !h.is_null() {
                if (*h).kind != RegionKind::Huge || region::find((*h).user_ptr) != h {
                    return Err("huge mapping is not findable from its block");
                }
                huge_bytes += (*h).map_size;
                huges += 1;
                h = (*h).next;
            }
            let c = &ps.c;
            let hs = &*self.huge;
            if c.free_pages != free_pages
                || c.large_pages != large_pages
                || c.region_bytes != region_bytes
                || c.regions != regions
                || small_out_counted != small_out
                || hs.bytes != huge_bytes
                || hs.count != huges
                || c.dirty_pages != dirty_pages
            {
                return Err("counters disagree with the page map");
            }
        }
        Ok(())
    }
}
