//! The area heap's behaviours, one test each: packing a 64 KiB area,
//! coalescing, best fit, alignment, exhaustion, in-place realloc, bad
//! frees, and the checker catching a corrupted area. Every test ends with
//! `check()`.

#[path = "area/support.rs"]
mod support;

use memalloc::AreaHeap;
use memalloc::area::{AlreadyClaimed, BadFree, BadFreeKind, MIN_CHUNK, OVERHEAD};
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};
use support::{OwnedArea, chunk};

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// Allocates `size` bytes at 16-byte alignment, asserting success.
fn take(heap: &AreaHeap, size: usize) -> *mut u8 {
    // SAFETY: a valid non-zero layout.
    let p = unsafe { heap.alloc(layout(size, 16)) };
    assert!(!p.is_null(), "alloc({size}) failed: {:?}", heap.stats());
    p
}

fn give(heap: &AreaHeap, p: *mut u8, size: usize) {
    // SAFETY: `p` came from `take(heap, size)`.
    unsafe { heap.dealloc(p, layout(size, 16)) }
}

#[test]
#[cfg(target_pointer_width = "64")]
fn a_64_kib_area_holds_2047_small_blocks() {
    let heap = OwnedArea::new(64 * 1024);
    let mut blocks = Vec::new();
    loop {
        // SAFETY: a valid non-zero layout.
        let p = unsafe { heap.alloc(layout(24, 8)) };
        if p.is_null() {
            break;
        }
        blocks.push(p);
    }
    // 64 KiB less 8 bytes before the first 16-aligned payload: 65 520
    // bytes, 2047 chunks of 32 (the last one takes the 16 left over).
    assert_eq!(blocks.len(), 2047);
    let s = heap.stats();
    assert_eq!(s.area_bytes, 65_520);
    assert_eq!(
        (s.bytes_in_use, s.bytes_free, s.live_blocks),
        (65_520, 0, 2047)
    );
    heap.check().unwrap();
    for p in blocks {
        give(&heap, p, 24);
    }
    let s = heap.stats();
    assert_eq!(
        (s.bytes_in_use, s.free_runs, s.largest_free_run),
        (0, 1, 65_520)
    );
    heap.check().unwrap();
}

#[test]
fn free_coalesces_both_neighbours() {
    let heap = OwnedArea::new(16 * 1024);
    let [a, b, c, guard] = [100, 200, 300, 50].map(|n| take(&heap, n));
    give(&heap, a, 100);
    give(&heap, c, 300);
    // a's run, c's run, and the tail after the guard.
    assert_eq!(heap.stats().free_runs, 3);
    heap.check().unwrap();
    give(&heap, b, 200);
    let s = heap.stats();
    assert_eq!(s.free_runs, 2, "a, b and c merged into one run");
    assert_eq!(s.bytes_in_use, chunk(50));
    heap.check().unwrap();
    // The merged run serves a request as large as the three together.
    let whole = chunk(100) + chunk(200) + chunk(300) - OVERHEAD;
    assert_eq!(take(&heap, whole), a);
    give(&heap, a, whole);
    give(&heap, guard, 50);
    assert_eq!(heap.stats().free_runs, 1);
    heap.check().unwrap();
}

#[test]
fn best_fit_picks_the_smallest_fitting_run() {
    let heap = OwnedArea::new(64 * 1024);
    // Holes of 2000, 1104, 1504 and 1232 bytes (chunks), each fenced by a
    // live block, so no two merge. 1104 and 1232 share a bin (69 and 77
    // units); 1232 is freed last, so it heads that bin's list.
    let sizes = [2000, 1104, 1504, 1232].map(|c| c - OVERHEAD);
    let mut holes = Vec::new();
    let mut fences = Vec::new();
    for &n in &sizes {
        holes.push(take(&heap, n));
        fences.push(take(&heap, 16));
    }
    for (&p, &n) in holes.iter().zip(&sizes) {
        give(&heap, p, n);
    }
    heap.check().unwrap();
    // 1090 bytes need a 1104-byte chunk: the exact hole, not the list head.
    let p = take(&heap, 1090);
    assert_eq!(p, holes[1]);
    // 1200 bytes need 1216: the 1232 hole is the smallest that fits.
    let q = take(&heap, 1200);
    assert_eq!(q, holes[3]);
    // Small sizes: exact bins. Holes of 64 and 96 bytes; a 48-byte chunk
    // goes to the 64 one.
    let h96 = take(&heap, 96 - OVERHEAD);
    let f1 = take(&heap, 16);
    let h64 = take(&heap, 64 - OVERHEAD);
    let f2 = take(&heap, 16);
    give(&heap, h96, 96 - OVERHEAD);
    give(&heap, h64, 64 - OVERHEAD);
    assert_eq!(take(&heap, 40), h64);
    heap.check().unwrap();
    let _ = (f1, f2, fences);
}

#[test]
fn every_alignment_up_to_the_area_size_is_honoured() {
    let area = 128 * 1024;
    let heap = OwnedArea::new(area);
    let (lo, hi) = heap.range();
    let mut align = 1;
    while align <= area / 2 {
        for size in [1, 24, 100, 5000] {
            let l = layout(size, align);
            // SAFETY: a valid non-zero layout.
            let p = unsafe { heap.alloc(l) };
            assert!(!p.is_null(), "align {align} size {size}");
            assert_eq!(p as usize % align, 0, "align {align}");
            assert!(p as usize >= lo && p as usize + size <= hi);
            // SAFETY: `p` holds `size` bytes.
            unsafe { p.write_bytes(0xA5, size) };
            heap.check().unwrap();
            // SAFETY: `p` came from `alloc(l)`.
            unsafe { heap.dealloc(p, l) };
        }
        align *= 2;
    }
    // Everything went back: one run again.
    assert_eq!(heap.stats().free_runs, 1);
    // An alignment no address in the area meets (2^62: beyond any user
    // address) gives null, with no overflow on the way.
    // SAFETY: a valid non-zero layout.
    assert!(unsafe { heap.alloc(layout(16, 1 << (usize::BITS - 2))) }.is_null());
    heap.check().unwrap();
}

#[test]
fn an_aligned_block_leaves_its_leading_piece_free_and_usable() {
    let heap = OwnedArea::new(64 * 1024);
    let mut fences = vec![take(&heap, 16)];
    if (fences[0] as usize + chunk(16)).is_multiple_of(4096) {
        // The next payload would be aligned already: no leading piece.
        fences.push(take(&heap, 16));
    }
    let l = layout(64, 4096);
    // SAFETY: a valid layout.
    let p = unsafe { heap.alloc(l) };
    assert_eq!(p as usize % 4096, 0);
    let s = heap.stats();
    assert_eq!(
        s.free_runs, 2,
        "the piece before the aligned block, and the tail"
    );
    assert_eq!(s.bytes_in_use, fences.len() * chunk(16) + chunk(64));
    heap.check().unwrap();
    // A small block fits into the leading piece (best fit: it is smaller
    // than the tail).
    let q = take(&heap, 16);
    assert!((fences[0] as usize) < q as usize && (q as usize) < p as usize);
    // SAFETY: `p` came from `alloc(l)`.
    unsafe { heap.dealloc(p, l) };
    give(&heap, q, 16);
    for f in fences {
        give(&heap, f, 16);
    }
    assert_eq!(heap.stats().free_runs, 1);
    heap.check().unwrap();
}

#[test]
fn exhaustion_returns_null_and_the_heap_stays_usable() {
    let heap = OwnedArea::new(64 * 1024);
    let mut blocks = Vec::new();
    loop {
        // SAFETY: a valid non-zero layout.
        let p = unsafe { heap.alloc(layout(1000, 16)) };
        if p.is_null() {
            break;
        }
        blocks.push(p);
    }
    assert_eq!(blocks.len(), 65_520 / chunk(1000));
    // Whatever is left is smaller than one more block.
    assert!(heap.stats().largest_free_run < chunk(1000));
    heap.check().unwrap();
    // Free every other block: holes, but none large enough for 2000 bytes.
    for p in blocks.iter().step_by(2) {
        give(&heap, *p, 1000);
    }
    // SAFETY: a valid non-zero layout.
    assert!(unsafe { heap.alloc(layout(2000, 16)) }.is_null());
    let p = take(&heap, 1000);
    give(&heap, p, 1000);
    for p in blocks.iter().skip(1).step_by(2) {
        give(&heap, *p, 1000);
    }
    let s = heap.stats();
    assert_eq!((s.bytes_in_use, s.free_runs), (0, 1));
    let big = take(&heap, 60_000);
    give(&heap, big, 60_000);
    heap.check().unwrap();
}

#[test]
fn huge_and_overflowing_requests_return_null() {
    let heap = OwnedArea::new(4096);
    for size in [8192, 1 << 40, isize::MAX as usize - 15] {
        // SAFETY: a valid non-zero layout.
        assert!(unsafe { heap.alloc(layout(size, 16)) }.is_null(), "{size}");
    }
    let p = take(&heap, 100);
    // SAFETY: `p` holds 100 bytes.
    unsafe { p.write_bytes(7, 100) };
    for new in [1 << 20, isize::MAX as usize - 15] {
        // SAFETY: `p` is live for layout(100, 16); the new size is non-zero.
        let q = unsafe { heap.realloc(p, layout(100, 16), new) };
        assert!(q.is_null(), "{new}");
    }
    // The block is untouched after the failed reallocs.
    // SAFETY: `p` is still live, 100 bytes.
    assert!(
        unsafe { std::slice::from_raw_parts(p, 100) }
            .iter()
            .all(|&b| b == 7)
    );
    give(&heap, p, 100);
    heap.check().unwrap();
}

#[test]
fn zero_size_layouts_get_real_blocks_through_global_alloc() {
    let heap = OwnedArea::new(4096);
    let l = layout(0, 1);
    // SAFETY: undefined for callers by the trait, but the heap serves it.
    let p = unsafe { heap.alloc(l) };
    assert!(!p.is_null());
    assert_eq!(heap.stats().bytes_in_use, MIN_CHUNK);
    // SAFETY: `p` came from `alloc(l)`.
    unsafe { heap.dealloc(p, l) };
    assert_eq!(heap.stats().bytes_in_use, 0);
    heap.check().unwrap();
}

#[test]
fn realloc_grows_in_place_into_a_free_right_neighbour() {
    let heap = OwnedArea::new(16 * 1024);
    let a = take(&heap, 100);
    let b = take(&heap, 500);
    let _fence = take(&heap, 16);
    // SAFETY: `a` holds 100 bytes.
    unsafe { a.write_bytes(0x3C, 100) };
    give(&heap, b, 500);
    // SAFETY: `a` is live for layout(100, 16).
    let q = unsafe { heap.realloc(a, layout(100, 16), 400) };
    assert_eq!(q, a, "grew in place");
    // SAFETY: 100 bytes kept.
    assert!(
        unsafe { std::slice::from_raw_parts(q, 100) }
            .iter()
            .all(|&b| b == 0x3C)
    );
    // SAFETY: live block.
    assert!(unsafe { heap.usable_size(q) } >= 400);
    assert_eq!(heap.stats().bytes_in_use, chunk(400) + chunk(16));
    heap.check().unwrap();
    // Exactly the whole neighbour: still in place, nothing left to split.
    let all = chunk(100) + chunk(500) - OVERHEAD;
    // SAFETY: `q` is live for layout(400, 16).
    let r = unsafe { heap.realloc(q, layout(400, 16), all) };
    assert_eq!(r, a);
    assert_eq!(heap.stats().free_runs, 1, "only the tail after the fence");
    heap.check().unwrap();
}

#[test]
fn realloc_shrinks_in_place_and_frees_the_tail() {
    let heap = OwnedArea::new(16 * 1024);
    let a = take(&heap, 4000);
    let before = heap.stats();
    // SAFETY: `a` is live for layout(4000, 16).
    let q = unsafe { heap.realloc(a, layout(4000, 16), 100) };
    assert_eq!(q, a);
    let after = heap.stats();
    assert_eq!(
        before.bytes_in_use - after.bytes_in_use,
        chunk(4000) - chunk(100)
    );
    assert_eq!(
        after.free_runs, 1,
        "the tail merged with the free run after it"
    );
    heap.check().unwrap();
}

#[test]
fn realloc_moves_when_the_neighbour_is_in_use_and_keeps_the_contents() {
    let heap = OwnedArea::new(16 * 1024);
    let a = take(&heap, 100);
    let _fence = take(&heap, 16);
    for i in 0..100 {
        // SAFETY: `a` holds 100 bytes.
        unsafe { a.add(i).write(i as u8) };
    }
    // SAFETY: `a` is live for layout(100, 16).
    let q = unsafe { heap.realloc(a, layout(100, 16), 3000) };
    assert!(!q.is_null() && q != a);
    for i in 0..100 {
        // SAFETY: `q` holds 3000 bytes, the first 100 copied.
        assert_eq!(unsafe { q.add(i).read() }, i as u8);
    }
    assert_eq!(heap.stats().live_blocks, 2);
    heap.check().unwrap();
}

#[test]
#[should_panic(expected = "memalloc area heap: double free")]
fn a_double_free_panics_with_a_clear_message() {
    let heap = OwnedArea::new(4096);
    let a = take(&heap, 64);
    let _b = take(&heap, 64);
    give(&heap, a, 64);
    give(&heap, a, 64);
}

#[test]
#[should_panic(expected = "memalloc area heap: double free")]
fn a_double_free_after_merging_left_is_still_caught() {
    let heap = OwnedArea::new(4096);
    let a = take(&heap, 64);
    let b = take(&heap, 64);
    let _c = take(&heap, 64);
    give(&heap, a, 64);
    give(&heap, b, 64); // merges into a's run: b's header is stale now
    give(&heap, b, 64);
}

#[test]
#[should_panic(expected = "memalloc area heap: pointer outside the area")]
fn a_pointer_outside_the_area_panics_with_a_clear_message() {
    let heap = OwnedArea::new(4096);
    let mut elsewhere = [0u128; 4];
    give(
        &heap,
        elsewhere.as_mut_ptr().cast::<u8>().wrapping_add(16),
        16,
    );
}

#[test]
#[should_panic(expected = "memalloc area heap: layout larger than the block")]
fn a_layout_larger_than_the_block_panics() {
    let heap = OwnedArea::new(4096);
    let a = take(&heap, 24);
    give(&heap, a, 1000);
}

#[test]
fn the_heap_stays_usable_after_a_reported_bad_free() {
    let heap = OwnedArea::new(4096);
    let a = take(&heap, 64);
    give(&heap, a, 64);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| give(&heap, a, 64)));
    assert!(r.is_err());
    // The lock was not held when the handler ran.
    let b = take(&heap, 64);
    give(&heap, b, 64);
    heap.check().unwrap();
}

static HANDLED: AtomicUsize = AtomicUsize::new(0);

fn counting_handler(bad: BadFree) -> ! {
    HANDLED.store(bad.kind as usize + 1, Ordering::SeqCst);
    panic!("custom handler: {bad}")
}

#[test]
fn a_custom_bad_free_handler_receives_the_fault() {
    let buf = Box::leak(vec![0u128; 256].into_boxed_slice());
    // SAFETY: a leaked buffer, used by nothing else.
    let bytes = unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<u8>(), 4096) };
    let heap = AreaHeap::from_slice(bytes).with_bad_free_handler(counting_handler);
    let a = take(&heap, 64);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        give(&heap, a.wrapping_add(16), 16)
    }));
    assert!(r.is_err());
    assert_eq!(
        HANDLED.load(Ordering::SeqCst),
        BadFreeKind::NotABlock as usize + 1
    );
    give(&heap, a, 64);
    heap.check().unwrap();
}

#[test]
fn an_area_too_small_for_one_chunk_serves_nothing() {
    let heap = OwnedArea::skewed(MIN_CHUNK, 1);
    // SAFETY: a valid non-zero layout.
    assert!(unsafe { heap.alloc(layout(1, 1)) }.is_null());
    assert_eq!(heap.stats().area_bytes, 0);
    heap.check().unwrap();
}

#[test]
fn an_unaligned_area_is_trimmed_to_the_16_byte_grid() {
    let heap = OwnedArea::skewed(1000, 3);
    let (lo, hi) = heap.range();
    let s = heap.stats();
    assert!(s.area_bytes <= 1000 && s.area_bytes >= 1000 - 32);
    let mut blocks = Vec::new();
    loop {
        // SAFETY: a valid non-zero layout.
        let p = unsafe { heap.alloc(layout(10, 16)) };
        if p.is_null() {
            break;
        }
        assert_eq!(p as usize % 16, 0);
        assert!(p as usize >= lo + 3 && p as usize + 10 <= lo + 3 + 1000 && p as usize <= hi);
        blocks.push(p);
    }
    assert_eq!(blocks.len(), s.area_bytes / chunk(10));
    heap.check().unwrap();
}

#[test]
fn claim_gives_an_empty_heap_its_area_once() {
    let heap = AreaHeap::new();
    // SAFETY: a valid non-zero layout.
    assert!(unsafe { heap.alloc(layout(8, 8)) }.is_null());
    assert_eq!(heap.stats().area_bytes, 0);
    heap.check().unwrap();
    let first: &'static mut [u8] = Box::leak(vec![0u8; 4096].into_boxed_slice());
    let second: &'static mut [u8] = Box::leak(vec![0u8; 4096].into_boxed_slice());
    heap.claim(first).unwrap();
    assert_eq!(heap.claim(second), Err(AlreadyClaimed));
    let p = take(&heap, 100);
    give(&heap, p, 100);
    assert!(heap.stats().area_bytes >= 4096 - 32);
    heap.check().unwrap();
}

#[test]
fn usable_size_covers_the_request_and_the_rounding() {
    let heap = OwnedArea::new(4096);
    for n in [1, 8, 24, 25, 100, 1000] {
        let p = take(&heap, n);
        // SAFETY: a live block.
        let u = unsafe { heap.usable_size(p) };
        assert_eq!(u, chunk(n) - OVERHEAD, "{n}");
        // SAFETY: the whole usable size is the caller's.
        unsafe { p.write_bytes(0xEE, u) };
        heap.check().unwrap();
        give(&heap, p, n);
    }
}

#[test]
fn check_reports_a_header_overwritten_by_an_overflow() {
    let heap = OwnedArea::new(4096);
    let a = take(&heap, 24);
    let _b = take(&heap, 24);
    heap.check().unwrap();
    // SAFETY: writes stay inside the test's own buffer: 8 bytes past a's
    // usable size land on b's header, as a buggy caller's overflow would.
    unsafe { a.write_bytes(0xFF, chunk(24) - OVERHEAD + 8) };
    assert!(heap.check().is_err());
}

#[test]
fn check_reports_a_broken_footer() {
    let heap = OwnedArea::new(4096);
    let a = take(&heap, 100);
    let _fence = take(&heap, 16);
    give(&heap, a, 100);
    heap.check().unwrap();
    // SAFETY: the footer of a's free chunk is its last word, inside the
    // test's buffer.
    unsafe { a.add(chunk(100) - 2 * OVERHEAD).cast::<usize>().write(48) };
    assert_eq!(
        heap.check().unwrap_err().0,
        "a free chunk's footer differs from its size"
    );
}

#[test]
#[cfg(target_pointer_width = "64")]
fn chunk_sizes_match_the_documented_overhead_table() {
    // README and src/area/mod.rs: request → chunk on a 64-bit target.
    let table = [
        (1, 32),
        (12, 32),
        (24, 32),
        (25, 48),
        (40, 48),
        (64, 80),
        (100, 112),
        (1000, 1008),
    ];
    let heap = OwnedArea::new(16 * 1024);
    for (n, expected) in table {
        let p = take(&heap, n);
        // SAFETY: a live block.
        assert_eq!(unsafe { heap.usable_size(p) } + OVERHEAD, expected, "{n} B");
        assert_eq!(heap.stats().bytes_in_use, expected);
        give(&heap, p, n);
    }
    heap.check().unwrap();
}

#[test]
#[cfg(target_pointer_width = "64")]
fn the_heap_value_with_its_bins_takes_about_2_3_kib() {
    let size = std::mem::size_of::<AreaHeap>();
    assert!((2200..=2400).contains(&size), "{size}");
}
