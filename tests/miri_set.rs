//! The Miri set: small, fast scenarios that run under
//! `cargo +nightly miri test --test miri_set` (Stacked Borrows, Miri's
//! default) as well as in the ordinary suite. Everything here maps through
//! the memory-backed fake OS (`Backing::Memory`: the global allocator, no
//! system call), so Miri checks the size classes, the bins and free lists,
//! and the thread-cache / central-heap handoff for aliasing, provenance,
//! alignment and use-after-free errors. README "Testing" says what runs.

use memalloc::fault::{Backing, FakeOs};
use memalloc::harness::{OpLimits, run_ops};
use memalloc::size_class::{CLASSES, NUM_CLASSES, SMALL_MAX, block_size, class_for, class_of};
use memalloc::{Heap, limits::PAGE_SIZE};

/// A fixed operation stream: every op kind, all three caches, sizes from
/// tiny to a few large blocks (xorshift, seed 7).
fn stream(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ 7;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn size_classes_fit_and_align_at_their_boundaries() {
    for (class, c) in CLASSES.iter().enumerate() {
        let size = block_size(class);
        assert_eq!(class_of(size), class, "a class's own size maps to it");
        if class > 0 {
            assert_eq!(class_of(block_size(class - 1) + 1), class);
        }
        assert!(c.blocks_per_span > 0);
    }
    assert_eq!(CLASSES.len(), NUM_CLASSES);
    assert_eq!(class_for(SMALL_MAX + 1, 16), None);
    assert!(class_for(100, PAGE_SIZE).is_none_or(|c| block_size(c).is_multiple_of(PAGE_SIZE)));
}

/// The fakes live in statics rather than leaked boxes, so Miri's leak
/// check stays meaningful.
static OPS_OS: FakeOs = FakeOs::new(Backing::Memory);
static HEAP_OS: FakeOs = FakeOs::new(Backing::Memory);

#[test]
fn operations_across_three_caches_keep_the_shadow_model() {
    let os = &OPS_OS;
    let ops = if cfg!(miri) { 100 } else { 4000 };
    run_ops(&stream(4 * ops), OpLimits::MIRI, Some(os));
    assert!(os.maps() > 0);
    assert_eq!(os.live_mappings(), 0, "the heap returned every mapping");
}

#[test]
fn a_heap_instance_serves_blocks_freed_on_another_thread() {
    let os = &HEAP_OS;
    let heap = Heap::with_fake_os(os).unwrap();
    let n = if cfg!(miri) { 24 } else { 2000 };
    // SAFETY: blocks of this heap, used within their sizes, freed once.
    let blocks: Vec<usize> = (0..n)
        .map(|i| unsafe {
            let size = [24, 200, 3000, 40_000][i % 4];
            let p = heap.malloc(size);
            assert!(!p.is_null());
            p.write_bytes(i as u8, size);
            p as usize
        })
        .collect();
    std::thread::scope(|s| {
        s.spawn(|| {
            for (i, &p) in blocks.iter().enumerate() {
                // SAFETY: as above; this thread is the only user now.
                unsafe {
                    assert_eq!(*(p as *const u8), i as u8);
                    heap.free(p as *mut u8);
                }
            }
        })
        // An explicit join waits for the thread's exit hook, which
        // flushes its cache (the scope's own wait may return before it).
        .join()
        .unwrap();
    });
    heap.check().unwrap();
    heap.trim();
    let s = heap.stats();
    assert_eq!((s.bytes_in_use, s.regions), (0, 0), "{s:?}");
    drop(heap);
    assert_eq!(os.live_mappings(), 0);
}
