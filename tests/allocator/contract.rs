//! The `Allocator` contract of `&Heap`, method by method, written once for
//! both traits: `tests/allocator_api2.rs` runs it against
//! `allocator_api2::alloc::Allocator` and `allocator_api2::vec::Vec`,
//! `tests/nightly_allocator.rs` against `core::alloc::Allocator` and std's
//! `Vec` (the includer's `api` module names them). Covered: collections
//! growing and shrinking, zero-size layouts, whole-block lengths, zeroing,
//! grow/shrink across the small/large boundary and across alignments, and
//! frees from another thread, each ending with the heap checked and every
//! byte given back.

use super::api::{Allocator, Vec};
use memalloc::Heap;
use memalloc::limits::SMALL_MAX;
use std::alloc::Layout;
use std::ptr::NonNull;

/// The heap's invariants hold and nothing is in use once this thread's
/// cache is flushed.
pub fn assert_all_freed(heap: &Heap) {
    heap.flush_thread_cache();
    heap.check().unwrap();
    let s = heap.stats();
    assert_eq!(s.bytes_in_use, 0, "{s:?}");
}

fn pattern(i: usize, seed: u8) -> u8 {
    (i as u8).wrapping_mul(31).wrapping_add(seed)
}

/// Writes the fill pattern over `len` bytes at `p`.
///
/// # Safety
/// `p` is valid for `len` bytes of writes.
unsafe fn fill(p: NonNull<u8>, len: usize, seed: u8) {
    for i in 0..len {
        // SAFETY: `i < len` (caller's precondition).
        unsafe { p.as_ptr().add(i).write(pattern(i, seed)) };
    }
}

/// Panics unless the `len` bytes at `p` hold the fill pattern.
///
/// # Safety
/// `p` is valid for `len` bytes of reads.
unsafe fn verify(p: NonNull<u8>, len: usize, seed: u8) {
    for i in 0..len {
        // SAFETY: `i < len` (caller's precondition).
        let b = unsafe { p.as_ptr().add(i).read() };
        assert_eq!(b, pattern(i, seed), "byte {i} of {len}");
    }
}

/// Panics unless bytes `from..to` at `p` are zero.
///
/// # Safety
/// `p` is valid for `to` bytes of reads.
unsafe fn verify_zero(p: NonNull<u8>, from: usize, to: usize) {
    for i in from..to {
        // SAFETY: `i < to` (caller's precondition).
        let b = unsafe { p.as_ptr().add(i).read() };
        assert_eq!(b, 0, "byte {i} of {from}..{to}");
    }
}

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

#[test]
fn vec_in_heap_holds_many_pushes_through_growth() {
    let heap = Heap::new();
    {
        let mut v: Vec<u64, &Heap> = Vec::new_in(&heap);
        for i in 0..200_000u64 {
            v.push(i * 3);
        }
        assert!(v.capacity() * 8 > SMALL_MAX, "grew into page runs");
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64 * 3));
        heap.check().unwrap();
    }
    assert_all_freed(&heap);
}

#[test]
fn vec_shrink_to_fit_keeps_contents_and_frees_the_rest() {
    let heap = Heap::new();
    {
        let mut v: Vec<u32, &Heap> = Vec::with_capacity_in(100_000, &heap);
        v.extend(0..100_000u32);
        v.truncate(1000);
        v.shrink_to_fit();
        assert!(v.capacity() >= 1000 && v.capacity() < 2000);
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u32));
        v.truncate(3);
        v.shrink_to_fit();
        assert_eq!(&v[..], &[0, 1, 2]);
        v.clear();
        v.shrink_to_fit();
        assert_eq!(v.capacity(), 0);
        heap.flush_thread_cache();
        assert_eq!(heap.stats().bytes_in_use, 0);
        v.push(7);
        assert_eq!(v[0], 7);
    }
    assert_all_freed(&heap);
}

#[test]
fn vec_of_overaligned_elements_keeps_their_alignment() {
    #[derive(Clone, Copy, PartialEq, Debug)]
    #[repr(align(64))]
    struct Line(u64);
    #[derive(Clone, Copy, PartialEq, Debug)]
    #[repr(align(4096))]
    struct Page(u64);

    let heap = Heap::new();
    {
        let mut lines: Vec<Line, &Heap> = Vec::new_in(&heap);
        let mut pages: Vec<Page, &Heap> = Vec::new_in(&heap);
        for i in 0..2000u64 {
            lines.push(Line(i));
            assert_eq!(lines.as_ptr() as usize % 64, 0);
            if i < 40 {
                pages.push(Page(i));
                assert_eq!(pages.as_ptr() as usize % 4096, 0);
            }
        }
        lines.truncate(5);
        lines.shrink_to_fit();
        assert_eq!(lines.as_ptr() as usize % 64, 0);
        pages.truncate(2);
        pages.shrink_to_fit();
        assert_eq!(pages.as_ptr() as usize % 4096, 0);
        assert_eq!(
            &lines[..],
            &(0..5).map(Line).collect::<std::vec::Vec<_>>()[..]
        );
        assert_eq!(&pages[..], &[Page(0), Page(1)]);
    }
    assert_all_freed(&heap);
}

#[test]
fn zero_size_requests_get_aligned_dangling_pointers_and_never_reach_the_heap() {
    let heap = Heap::new();
    heap.flush_thread_cache();
    let before = heap.stats();
    {
        let mut units: Vec<(), &Heap> = Vec::new_in(&heap);
        for _ in 0..1000 {
            units.push(());
        }
        assert_eq!(units.len(), 1000);
        let empty: Vec<u64, &Heap> = Vec::with_capacity_in(0, &heap);
        assert_eq!(empty.capacity(), 0);
        for align in [1, 2, 8, 64, 4096, 1 << 21] {
            let l = layout(0, align);
            let a = &heap;
            let p = a.allocate(l).unwrap();
            let z = a.allocate_zeroed(l).unwrap();
            for q in [p, z] {
                assert_eq!(q.len(), 0);
                assert_eq!(q.cast::<u8>().as_ptr() as usize % align, 0);
            }
            // SAFETY: zero-size blocks of this allocator, with their layout.
            unsafe {
                a.deallocate(p.cast(), l);
                a.deallocate(z.cast(), l);
            }
        }
    }
    heap.flush_thread_cache();
    assert_eq!(heap.stats().bytes_in_use, before.bytes_in_use);
    assert_eq!(
        heap.stats().small_blocks_refilled,
        before.small_blocks_refilled
    );
    assert_all_freed(&heap);
}

#[test]
fn grow_from_and_shrink_to_zero_size_allocate_and_free() {
    let heap = Heap::new();
    let a = &heap;
    let zero = layout(0, 32);
    let p = a.allocate(zero).unwrap();
    // SAFETY: `p` is this allocator's block for `zero`; each later call
    // passes the block and layout the previous one returned.
    unsafe {
        let g = a.grow(p.cast(), zero, layout(100, 32)).unwrap();
        assert_eq!(g.cast::<u8>().as_ptr() as usize % 32, 0);
        fill(g.cast(), 100, 1);
        let s = a.shrink(g.cast(), layout(100, 32), layout(0, 64)).unwrap();
        assert_eq!((s.len(), s.cast::<u8>().as_ptr() as usize % 64), (0, 0));
        let z = a
            .grow_zeroed(s.cast(), layout(0, 64), layout(5000, 64))
            .unwrap();
        verify_zero(z.cast(), 0, z.len());
        a.deallocate(z.cast(), layout(5000, 64));
    }
    assert_all_freed(&heap);
}

#[test]
fn allocate_returns_the_whole_block_and_frees_with_any_fitting_size() {
    let heap = Heap::new();
    let a = &heap;
    for (size, align) in [
        (1, 1),
        (100, 8),
        (1000, 64),
        (SMALL_MAX, 16),
        (SMALL_MAX + 1, 16),
        (100_000, 8),
        (3000, 4096),
        (100, 1 << 14),
        (40 << 20, 16),
    ] {
        let l = layout(size, align);
        let p = a.allocate(l).unwrap();
        let ptr = p.cast::<u8>();
        assert!(p.len() >= size);
        assert_eq!(ptr.as_ptr() as usize % align, 0);
        // SAFETY: `p` is a live block of this heap, writable for its whole
        // length; freed with a size between the request and that length.
        unsafe {
            assert_eq!(heap.usable_size(ptr.as_ptr()), p.len(), "{l:?}");
            fill(ptr, p.len(), 7);
            verify(ptr, p.len(), 7);
            a.deallocate(ptr, layout(p.len(), align));
        }
        heap.check().unwrap();
    }
    assert_all_freed(&heap);
}

#[test]
fn allocate_zeroed_clears_the_whole_block_even_on_reuse() {
    let heap = Heap::new();
    let a = &heap;
    for (size, align) in [(24, 8), (700, 64), (20_000, 16), (50_000, 4096)] {
        let l = layout(size, align);
        // Dirty blocks first, so a zeroed one is likely a reused block.
        let dirty: std::vec::Vec<_> = (0..8).map(|_| a.allocate(l).unwrap()).collect();
        for p in &dirty {
            // SAFETY: live blocks of their full length.
            unsafe { std::ptr::write_bytes(p.cast::<u8>().as_ptr(), 0xAB, p.len()) };
        }
        for p in dirty {
            // SAFETY: this allocator's block for `l`.
            unsafe { a.deallocate(p.cast(), l) };
        }
        let z = a.allocate_zeroed(l).unwrap();
        // SAFETY: a live block of its full length, then freed with `l`.
        unsafe {
            verify_zero(z.cast(), 0, z.len());
            a.deallocate(z.cast(), l);
        }
    }
    assert_all_freed(&heap);
}

/// Sizes from one byte past the 32 KiB small/large boundary to a dedicated
/// mapping.
const GROWTH: [usize; 10] = [
    1,
    24,
    200,
    4000,
    SMALL_MAX - 100,
    SMALL_MAX,
    SMALL_MAX + 1,
    100_000,
    1 << 20,
    40 << 20,
];

#[test]
fn grow_keeps_contents_across_the_small_large_boundary() {
    let heap = Heap::new();
    let a = &heap;
    for align in [1, 16, 64, 4096] {
        let mut old = layout(GROWTH[0], align);
        let mut p = a.allocate(old).unwrap();
        // SAFETY: each call passes the live block and layout the previous
        // one returned; the pattern covers the requested bytes only.
        unsafe {
            fill(p.cast(), old.size(), 3);
            for &size in &GROWTH[1..] {
                let new = layout(size, align);
                p = a.grow(p.cast(), old, new).unwrap();
                assert!(p.len() >= size);
                assert_eq!(p.cast::<u8>().as_ptr() as usize % align, 0);
                verify(p.cast(), old.size(), 3);
                fill(p.cast(), size, 3);
                old = new;
            }
            a.deallocate(p.cast(), old);
        }
        heap.check().unwrap();
    }
    assert_all_freed(&heap);
}

#[test]
fn grow_zeroed_zeroes_everything_past_the_old_size() {
    let heap = Heap::new();
    let a = &heap;
    for align in [8, 256, 4096] {
        let mut old = layout(GROWTH[0], align);
        let mut p = a.allocate(old).unwrap();
        // SAFETY: as in the growth test; the whole returned length is
        // readable.
        unsafe {
            // Dirty the whole block, slack included.
            fill(p.cast(), p.len(), 9);
            for &size in &GROWTH[1..] {
                let new = layout(size, align);
                p = a.grow_zeroed(p.cast(), old, new).unwrap();
                verify(p.cast(), old.size(), 9);
                verify_zero(p.cast(), old.size(), p.len());
                fill(p.cast(), p.len(), 9);
                old = new;
            }
            a.deallocate(p.cast(), old);
        }
    }
    assert_all_freed(&heap);
}

#[test]
fn shrink_keeps_the_prefix_down_to_one_byte() {
    let heap = Heap::new();
    let a = &heap;
    for align in [1, 32, 4096] {
        let mut old = layout(*GROWTH.last().unwrap(), align);
        let mut p = a.allocate(old).unwrap();
        // SAFETY: each call passes the live block and layout the previous
        // one returned.
        unsafe {
            fill(p.cast(), old.size(), 5);
            for &size in GROWTH.iter().rev().skip(1) {
                let new = layout(size, align);
                p = a.shrink(p.cast(), old, new).unwrap();
                assert!(p.len() >= size);
                assert_eq!(p.cast::<u8>().as_ptr() as usize % align, 0);
                verify(p.cast(), size, 5);
                old = new;
            }
            a.deallocate(p.cast(), old);
        }
        heap.check().unwrap();
    }
    assert_all_freed(&heap);
}

#[test]
fn resizing_within_a_size_class_keeps_the_pointer() {
    let heap = Heap::new();
    let a = &heap;
    let p = a.allocate(layout(20, 8)).unwrap();
    let len = p.len();
    assert!(len > 20);
    // SAFETY: each call passes the live block and layout the previous one
    // returned.
    unsafe {
        let g = a.grow(p.cast(), layout(20, 8), layout(len, 8)).unwrap();
        assert_eq!(g.cast::<u8>(), p.cast::<u8>());
        let s = a
            .shrink(g.cast(), layout(len, 8), layout(len - 1, 8))
            .unwrap();
        assert_eq!(s.cast::<u8>(), p.cast::<u8>());
        a.deallocate(s.cast(), layout(len - 1, 8));
    }
    assert_all_freed(&heap);
}

#[test]
fn resizing_to_another_alignment_honours_the_new_one() {
    let heap = Heap::new();
    let a = &heap;
    let aligns = [1, 16, 64, 512, 4096];
    let sizes = [8, 100, 3000, SMALL_MAX, SMALL_MAX + 1, 70_000];
    for &old_align in &aligns {
        for &new_align in &aligns {
            for &old_size in &sizes {
                for &new_size in &sizes {
                    let (old, new) = (layout(old_size, old_align), layout(new_size, new_align));
                    let p = a.allocate(old).unwrap();
                    let keep = old_size.min(new_size);
                    // SAFETY: `p` is a live block for `old`; the result is
                    // one for `new`, freed with it.
                    unsafe {
                        fill(p.cast(), old_size, 11);
                        let q = if new_size >= old_size {
                            a.grow(p.cast(), old, new)
                        } else {
                            a.shrink(p.cast(), old, new)
                        }
                        .unwrap();
                        assert!(q.len() >= new_size);
                        assert_eq!(
                            q.cast::<u8>().as_ptr() as usize % new_align,
                            0,
                            "{old:?} -> {new:?}"
                        );
                        verify(q.cast(), keep, 11);
                        fill(q.cast(), q.len(), 12);
                        // Freed with the new layout's largest fitting size.
                        a.deallocate(q.cast(), layout(q.len(), new_align));
                    }
                }
            }
        }
        heap.check().unwrap();
    }
    assert_all_freed(&heap);
}

#[test]
fn vec_dropped_on_another_thread_returns_to_the_heap() {
    let heap = Heap::new();
    let mut v: Vec<u32, &Heap> = Vec::new_in(&heap);
    v.extend(0..10_000u32);
    let h = &heap;
    std::thread::scope(|s| {
        s.spawn(move || {
            assert_eq!(v.iter().map(|&x| x as u64).sum::<u64>(), 49_995_000);
            let mut w: Vec<u8, &Heap> = Vec::new_in(h);
            w.resize(100, 1);
            drop((v, w));
            // The scope may end before this thread's exit hook has run.
            h.flush_thread_cache();
        });
    });
    assert_all_freed(&heap);
}
