//! Fault injection: heaps over a fake OS (`memalloc::fault::FakeOs`) that
//! fails the Nth map, remap or purge and counts every call. A failed call
//! must turn into a null return for exactly the request that needed it,
//! leave a heap that passes `check()`, and let later requests succeed;
//! and fixed scenarios map a bounded number of regions.

mod common;

use common::{fill, verify};
use memalloc::Heap;
use memalloc::fault::{Backing, Call, FakeOs};
use memalloc::limits::{LARGE_MAX, PAGE_SIZE};
use std::alloc::{GlobalAlloc, Layout};

/// A heap over a fresh fake backed by real mappings.
fn faulty_heap() -> (Heap, &'static FakeOs) {
    let os = FakeOs::leak(Backing::System);
    let heap = Heap::with_fake_os(os).expect("the fake maps the heap's bookkeeping");
    (heap, os)
}

/// Uses every free page of the heap's regions (after one small block has
/// bound this thread's cache), so the next request of a new size class or
/// a large size must map a region. Returns the blocks to free later.
fn fill_regions(heap: &Heap) -> Vec<*mut u8> {
    let mut held = Vec::new();
    // SAFETY: blocks of this heap, freed by the caller.
    unsafe {
        held.push(heap.malloc(64));
        loop {
            let run = heap.stats().largest_free_run;
            if run == 0 {
                break;
            }
            let p = heap.malloc(run);
            assert!(!p.is_null());
            held.push(p);
        }
    }
    held
}

fn free_all(heap: &Heap, blocks: Vec<*mut u8>) {
    for p in blocks {
        // SAFETY: live blocks of this heap.
        unsafe { heap.free(p) };
    }
}

/// One request that must map; `fail_nth(Map, 1)` makes exactly it fail.
fn assert_one_failed_map_fails_only_that_request(
    what: &str,
    request: impl Fn(&Heap) -> *mut u8,
    release: impl Fn(&Heap, *mut u8),
) {
    let (heap, os) = faulty_heap();
    let held = fill_regions(&heap);
    let maps = os.maps();
    os.fail_nth(Call::Map, 1);
    let p = request(&heap);
    assert!(p.is_null(), "{what}: a failed map must give null");
    assert_eq!(
        os.failures(Call::Map),
        1,
        "{what}: the request tried to map"
    );
    assert_eq!(os.maps(), maps, "{what}: nothing was mapped");
    heap.check().unwrap();
    let q = request(&heap);
    assert!(!q.is_null(), "{what}: the next request maps and succeeds");
    assert_eq!(os.maps(), maps + 1);
    heap.check().unwrap();
    release(&heap, q);
    free_all(&heap, held);
    heap.trim();
    heap.check().unwrap();
    let s = heap.stats();
    assert_eq!(s.bytes_in_use, 0, "{what}: nothing is lost");
}

fn free_block(heap: &Heap, p: *mut u8) {
    // SAFETY: a live block of this heap.
    unsafe { heap.free(p) }
}

#[test]
fn failed_map_fails_exactly_a_small_request() {
    // SAFETY: malloc on a live heap; the block is freed by `free_block`.
    assert_one_failed_map_fails_only_that_request(
        "small",
        |h| unsafe { h.malloc(1024) },
        free_block,
    );
}

#[test]
fn failed_map_fails_exactly_a_large_request() {
    assert_one_failed_map_fails_only_that_request(
        "large",
        // SAFETY: as above.
        |h| unsafe { h.malloc(256 * 1024) },
        free_block,
    );
}

#[test]
fn failed_map_fails_exactly_a_huge_request() {
    assert_one_failed_map_fails_only_that_request(
        "huge",
        // SAFETY: as above.
        |h| unsafe { h.malloc(LARGE_MAX + 1) },
        free_block,
    );
}

#[test]
fn failed_map_fails_exactly_a_calloc_and_the_retry_is_zeroed() {
    assert_one_failed_map_fails_only_that_request(
        "calloc",
        |h| {
            // SAFETY: as above.
            let p = unsafe { h.calloc(1000, 300) };
            if !p.is_null() {
                // SAFETY: 300 000 bytes were allocated.
                let bytes = unsafe { std::slice::from_raw_parts(p, 300_000) };
                assert!(bytes.iter().all(|&b| b == 0), "calloc memory is zero");
            }
            p
        },
        free_block,
    );
}

#[test]
fn failed_map_fails_exactly_an_aligned_request() {
    assert_one_failed_map_fails_only_that_request(
        "aligned",
        |h| {
            // SAFETY: as above.
            let p = unsafe { h.aligned_alloc(1 << 21, 100) };
            assert_eq!(p as usize % (1 << 21), 0);
            p
        },
        free_block,
    );
}

#[test]
fn failed_map_fails_exactly_a_layout_request() {
    let layout = Layout::from_size_align(64 * 1024, 4096).unwrap();
    assert_one_failed_map_fails_only_that_request(
        "GlobalAlloc::alloc",
        // SAFETY: a non-zero layout.
        |h| unsafe { h.alloc(layout) },
        // SAFETY: allocated with `layout`.
        |h, p| unsafe { h.dealloc(p, layout) },
    );
}

#[test]
fn failed_map_fails_realloc_growth_and_keeps_the_old_block() {
    let (heap, os) = faulty_heap();
    // SAFETY: a block of this heap, used within its size.
    let p = unsafe { heap.malloc(100) };
    // SAFETY: as above.
    unsafe { fill(p, 100, 7) };
    let held = fill_regions(&heap);
    // SAFETY: blocks of this heap, used within their sizes.
    unsafe {
        os.fail_nth(Call::Map, 1);
        assert!(heap.resize(p, 512 * 1024).is_null());
        assert_eq!(os.failures(Call::Map), 1);
        verify(p, 100, 7);
        heap.check().unwrap();
        let q = heap.resize(p, 512 * 1024);
        assert!(!q.is_null(), "the retry maps a region and moves the block");
        verify(q, 100, 7);
        heap.free(q);
    }
    free_all(&heap, held);
    heap.check().unwrap();
}

#[test]
fn failed_remap_and_map_fail_huge_growth_and_keep_the_block() {
    let (heap, os) = faulty_heap();
    // SAFETY: blocks of this heap, used within their sizes.
    unsafe {
        let p = heap.malloc(LARGE_MAX + PAGE_SIZE);
        fill(p, LARGE_MAX + PAGE_SIZE, 9);
        os.fail_all(Call::Remap);
        os.fail_all(Call::Map);
        assert!(heap.resize(p, 3 * LARGE_MAX).is_null());
        assert!(os.failures(Call::Remap) + os.failures(Call::Map) >= 1);
        verify(p, LARGE_MAX + PAGE_SIZE, 9);
        heap.check().unwrap();
        assert_eq!(heap.stats().huge_allocations, 1);
        os.stop_failing();
        let q = heap.resize(p, 3 * LARGE_MAX);
        assert!(!q.is_null());
        verify(q, LARGE_MAX + PAGE_SIZE, 9);
        heap.check().unwrap();
        heap.free(q);
    }
    assert_eq!(heap.stats().huge_allocations, 0);
    heap.check().unwrap();
}

#[test]
fn failed_remap_falls_back_to_a_copy_for_huge_growth() {
    let (heap, os) = faulty_heap();
    // SAFETY: blocks of this heap, used within their sizes.
    unsafe {
        let p = heap.malloc(LARGE_MAX + PAGE_SIZE);
        fill(p, LARGE_MAX + PAGE_SIZE, 5);
        let maps = os.maps();
        os.fail_nth(Call::Remap, 1);
        let q = heap.resize(p, 3 * LARGE_MAX);
        assert!(!q.is_null(), "a refused remap is not an out-of-memory");
        assert_eq!(os.failures(Call::Remap), 1);
        assert_eq!(os.maps(), maps + 1, "a new mapping took the copy");
        verify(q, LARGE_MAX + PAGE_SIZE, 5);
        heap.check().unwrap();
        assert_eq!(
            heap.stats().huge_allocations,
            1,
            "the old mapping went back"
        );
        heap.free(q);
    }
    assert_eq!(os.live_mappings(), 1, "only the bookkeeping is left");
}

#[test]
fn every_request_fails_while_maps_fail_and_all_succeed_after() {
    let (heap, os) = faulty_heap();
    os.fail_all(Call::Map);
    // SAFETY: requests on a live heap; only null results while failing.
    unsafe {
        for size in [1, 64, 4096, 100_000, 1 << 20, LARGE_MAX + 1] {
            assert!(heap.malloc(size).is_null(), "malloc({size})");
            assert!(heap.calloc(size, 1).is_null(), "calloc({size})");
            heap.check().unwrap();
        }
        assert_eq!(heap.stats().bytes_mapped, 0);
        os.stop_failing();
        let blocks: Vec<_> = [1, 64, 4096, 100_000, 1 << 20, LARGE_MAX + 1]
            .iter()
            .map(|&n| (heap.malloc(n), n))
            .collect();
        for &(p, n) in &blocks {
            assert!(!p.is_null(), "malloc({n}) after the fake stopped failing");
            fill(p, n, n as u64);
        }
        heap.check().unwrap();
        for (p, n) in blocks {
            verify(p, n, n as u64);
            heap.free(p);
        }
    }
    heap.check().unwrap();
}

#[test]
fn heap_creation_fails_cleanly_when_its_bookkeeping_cannot_be_mapped() {
    let os = FakeOs::leak(Backing::System);
    os.fail_nth(Call::Map, 1);
    assert!(Heap::with_fake_os(os).is_none());
    assert_eq!(os.live_mappings(), 0);
    let heap = Heap::with_fake_os(os).expect("the second attempt maps");
    drop(heap);
    assert_eq!(os.live_mappings(), 0, "a dropped heap unmaps everything");
    assert_eq!(os.maps(), os.unmaps());
}

#[test]
fn failed_purge_keeps_every_page_accounted_and_reusable() {
    for backing in [Backing::System, Backing::Memory] {
        let os = FakeOs::leak(backing);
        let heap = Heap::with_fake_os(os).unwrap();
        // SAFETY: blocks of this heap, used within their sizes.
        unsafe {
            // A live small block keeps the region mapped through `trim`,
            // so its free runs are purged rather than unmapped.
            let anchor = heap.malloc(64);
            let blocks: Vec<_> = (0..8).map(|_| heap.malloc(64 * 1024)).collect();
            for &p in &blocks {
                assert!(!p.is_null());
                p.write_bytes(0xA5, 64 * 1024);
            }
            for p in blocks {
                heap.free(p);
            }
            let before = heap.stats();
            os.fail_all(Call::Purge);
            heap.trim();
            assert!(os.failures(Call::Purge) > 0, "{backing:?}: trim purged");
            assert_eq!(os.purges(), 0);
            heap.check().unwrap();
            let after = heap.stats();
            assert_eq!(
                after.bytes_in_use, 64,
                "only the anchor is live (trim freed the cache)"
            );
            assert!(
                after.bytes_purged <= before.bytes_purged,
                "{backing:?}: pages the OS kept are not counted as returned"
            );
            assert_eq!(after.bytes_mapped, before.bytes_mapped);
            assert_eq!(
                os.live_bytes(),
                after.bytes_mapped + 65536,
                "{backing:?}: the heap's mapped bytes are the fake's (plus its bookkeeping)"
            );
            os.stop_failing();
            // The unpurged pages still hold the old bytes: zeroed memory
            // must be cleared by the heap, not assumed from the purge.
            let z = heap.calloc(8, 64 * 1024);
            assert!(!z.is_null());
            let bytes = std::slice::from_raw_parts(z, 8 * 64 * 1024);
            assert!(bytes.iter().all(|&b| b == 0), "{backing:?}: calloc is zero");
            heap.free(z);
            heap.trim();
            assert!(os.purges() > 0, "{backing:?}: purges work again");
            assert!(heap.stats().bytes_purged > after.bytes_purged);
            heap.free(anchor);
            heap.check().unwrap();
        }
        drop(heap);
        assert_eq!(os.live_mappings(), 0, "{backing:?}: drop unmaps everything");
    }
}

/// Allocates `count` blocks of `size`, frees them, `rounds` times, and
/// checks the heap.
fn cycle(heap: &Heap, count: usize, size: usize, rounds: usize) {
    let mut blocks = Vec::with_capacity(count);
    for round in 0..rounds {
        // SAFETY: blocks of this heap, used within their sizes.
        unsafe {
            for i in 0..count {
                let p = heap.malloc(size);
                assert!(!p.is_null());
                *p = (round + i) as u8;
                blocks.push(p);
            }
            for (i, p) in blocks.drain(..).enumerate() {
                assert_eq!(*p, (round + i) as u8);
                heap.free(p);
            }
        }
    }
    heap.check().unwrap();
}

#[test]
fn thousand_64k_blocks_cycled_100_times_map_at_most_eight_regions_and_keep_three() {
    // 1 000 × 64 KiB = 62.5 MiB in use at the peak. Regions double from
    // 1 MiB (1, 1, 2, 4, 8, 16, 32 MiB: 64 MiB in seven regions), and the
    // page maps take a few pages, so round one maps at most eight. After
    // each round every region is wholly free again; at most three stay
    // mapped (MAX_EMPTY_REGIONS in page_heap.rs: the largest are kept,
    // the smallest unmapped at once), and they hold the next round
    // entirely, so the 99 later rounds map nothing new.
    let (heap, os) = faulty_heap();
    let start = os.maps();
    cycle(&heap, 1000, 64 * 1024, 100);
    let maps = os.maps() - start;
    assert!(maps <= 8, "{maps} regions mapped over 100 rounds");
    heap.flush_thread_cache();
    let kept = heap.stats().regions;
    assert!(kept <= 3, "{kept} wholly free regions kept mapped");
    assert_eq!(
        os.live_mappings(),
        kept + 1,
        "all but the kept regions (and the bookkeeping) returned"
    );
    heap.trim();
    assert_eq!(
        os.live_mappings(),
        1,
        "trim returns every region, the reserve too"
    );
    drop(heap);
    assert_eq!(os.live_mappings(), 0);
    assert_eq!(os.maps(), os.unmaps());
}

#[test]
fn hundred_thousand_small_blocks_cycled_20_times_map_at_most_five_regions() {
    // 100 000 blocks of 48 bytes: 4.6 MiB of blocks, plus partly used
    // spans and cached batches. Doubling from 1 MiB, 1 + 1 + 2 + 4 MiB
    // (four regions, 8 MiB) hold it; one spare for span slack. Later
    // rounds reuse the same spans.
    let (heap, os) = faulty_heap();
    let start = os.maps();
    cycle(&heap, 100_000, 48, 20);
    let maps = os.maps() - start;
    assert!(maps <= 5, "{maps} regions mapped over 20 rounds");
    heap.trim();
    assert_eq!(os.live_mappings(), 1, "trim returns every region");
}

#[test]
fn huge_blocks_cycled_map_and_unmap_one_mapping_each() {
    // 4 blocks of 40 MiB (above LARGE_MAX: one mapping each), 10 rounds:
    // exactly 40 maps and 40 unmaps, nothing kept.
    let (heap, os) = faulty_heap();
    let (maps, unmaps) = (os.maps(), os.unmaps());
    cycle(&heap, 4, 40 << 20, 10);
    assert_eq!(os.maps() - maps, 40);
    assert_eq!(os.unmaps() - unmaps, 40);
    assert_eq!(heap.stats().huge_allocations, 0);
}
