//! Unit tests of the page heap, the huge mappings and the class supply,
//! driven through `CentralHeap`.

use super::page_heap::{NUM_BINS, bin_of, bin_range};
use super::*;
use crate::central::purge::PURGE_DELAY_MS;
use crate::region::{MAX_REGION_PAGES, MIN_REGION_SIZE};

pub(crate) fn page_run(h: &CentralHeap, pages: usize) -> *mut u8 {
    let p = h.alloc_large(pages * PAGE_SIZE, 16);
    assert!(!p.is_null());
    h.check().unwrap();
    p
}

pub(crate) fn free(h: &CentralHeap, p: *mut u8) {
    let k = h.classify(p);
    // SAFETY: `p` is a live large block of `h`.
    unsafe { h.free_big(k) };
    h.check().unwrap();
}

pub(crate) fn release(h: CentralHeap) {
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

/// Lets the purge delay pass, then runs the decay as the next page-heap
/// allocation or free would.
fn after_the_delay(h: &CentralHeap) {
    std::thread::sleep(std::time::Duration::from_millis(PURGE_DELAY_MS + 20));
    h.pages.locked(|s| {
        // SAFETY: lock held.
        unsafe { s.maybe_purge(os::now_ms()) }
    });
}

#[test]
fn wholly_free_regions_beyond_the_reserve_are_unmapped_after_the_delay() {
    let h = CentralHeap::new();
    // Each request needs a region of its own (more than half of 1 MiB... of each).
    let big = (MIN_REGION_SIZE / PAGE_SIZE) * 3 / 4;
    let a = page_run(&h, big);
    let b = page_run(&h, big * 2);
    let c = page_run(&h, big * 4);
    assert_eq!(h.stats(None).regions, 3);
    free(&h, a);
    free(&h, b);
    assert_eq!(
        h.stats(None).regions,
        3,
        "wholly free regions stay mapped while they may be reused"
    );
    after_the_delay(&h);
    let s = h.stats(None);
    assert_eq!(
        (s.regions, s.unmaps),
        (2, 1),
        "after the delay, only the reserve (the larger) is kept: {s:?}"
    );
    free(&h, c);
    after_the_delay(&h);
    assert_eq!(h.stats(None).regions, 1, "the largest one is the reserve");
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
    after_the_delay(&h);
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
fn threads_cycling_big_buffers_together_keep_them_resident() {
    // Two buffers of 24 MiB freed and taken again in turn, as two threads
    // cycling big buffers do: neither purges the other's pages, and no
    // region is unmapped only to be mapped again.
    let h = CentralHeap::new();
    let pages = (24 << 20) / PAGE_SIZE;
    let mut a = page_run(&h, pages);
    let mut b = page_run(&h, pages);
    // SAFETY: both blocks are ours and writable.
    unsafe {
        a.write_bytes(1, pages * PAGE_SIZE);
        b.write_bytes(1, pages * PAGE_SIZE);
    }
    let before = h.stats(None);
    for _ in 0..20 {
        free(&h, a);
        a = page_run(&h, pages);
        free(&h, b);
        b = page_run(&h, pages);
    }
    let s = h.stats(None);
    assert_eq!(s.purges, before.purges, "nothing purged: {s:?}");
    assert_eq!(s.maps, before.maps, "nothing mapped again: {s:?}");
    free(&h, a);
    free(&h, b);
    release(h);
}

#[test]
fn a_large_request_prefers_the_run_whose_pages_are_resident() {
    let h = CentralHeap::new();
    let big = 64; // pages
    // [hot: 4×big | fence | cold: big + 8 | fence]; best fit alone would
    // pick the cold run, the tighter one.
    let hot = page_run(&h, 4 * big);
    let f1 = page_run(&h, 1);
    let cold = page_run(&h, big + 8);
    let f2 = page_run(&h, 1);
    free(&h, cold);
    h.pages.locked(|s| {
        // SAFETY: lock held. Only the cold run is free: it is purged.
        unsafe { s.purge_older_than(u64::MAX, 0) };
    });
    // SAFETY: the block is ours and writable.
    unsafe { hot.write_bytes(1, 4 * big * PAGE_SIZE) };
    free(&h, hot);
    let p = page_run(&h, big);
    assert_eq!(p, hot, "the resident run wins over the tighter cold one");
    free(&h, p);
    let q = page_run(&h, 8);
    assert_eq!(q, cold, "small requests still take the best fit");
    free(&h, q);
    free(&h, f1);
    free(&h, f2);
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

// Linux only: growth by `mremap`. Elsewhere `realloc_big` answers null for
// a huge block that must grow, and the caller copies.
#[cfg(target_os = "linux")]
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

#[test]
fn every_lock_counts_its_acquisitions_and_the_ones_that_waited() {
    let h = CentralHeap::new();
    let class = 3;
    let batch = CLASSES[class].batch as usize;
    let before = h.stats(None);
    assert_eq!(
        h.stats(None),
        before,
        "whole-heap snapshots are not counted"
    );
    for _ in 0..10 {
        let (head, n) = h.alloc_batch(class, batch, 0);
        // SAFETY: a batch of `class` blocks from `h`.
        unsafe { h.free_batch(class, head, n, 0) };
    }
    let s = h.stats(None);
    // Twenty exchanges, plus one pass over every class when the first free
    // looked for idle batches.
    assert_eq!(
        s.class_lock_acquisitions - before.class_lock_acquisitions,
        20 + NUM_CLASSES as u64,
        "{s:?}"
    );
    assert_eq!(s.class_lock_contended, 0, "one thread never waits: {s:?}");
    assert_eq!(s.page_lock_acquisitions, 1, "one fresh span: {s:?}");
    assert!(s.page_lock_hold_ns > 0, "{s:?}");
    let p = h.alloc_large(LARGE_MAX + 1, 16);
    free(&h, p);
    assert_eq!(h.stats(None).huge_lock_acquisitions, 2);

    // A second thread asks for the class lock while this one holds it.
    let asking = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        h.classes[class].locked(|_| {
            scope.spawn(|| {
                asking.store(true, std::sync::atomic::Ordering::Release);
                let (head, n) = h.alloc_batch(class, batch, 0);
                // SAFETY: a batch of `class` blocks from `h`.
                unsafe { h.free_batch(class, head, n, 0) };
            });
            while !asking.load(std::sync::atomic::Ordering::Acquire) {
                std::hint::spin_loop();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        });
    });
    let s = h.stats(None);
    assert!(
        s.class_lock_contended >= 1,
        "the other thread waited: {s:?}"
    );
    assert!(s.class_lock_contended <= s.class_lock_acquisitions);
    h.trim();
    h.check().unwrap();
    release(h);
}
