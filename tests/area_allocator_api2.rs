//! `allocator_api2::alloc::Allocator for &AreaHeap`: collections in a
//! fixed area, and the trait's contract (zero-size layouts, whole-block
//! lengths, zeroing, grow and shrink in place and across alignments), each
//! test ending with the heap checked and every byte given back.
#![cfg(feature = "allocator-api2")]

#[path = "area/support.rs"]
mod support;

use allocator_api2::alloc::Allocator;
use allocator_api2::vec::Vec;
use memalloc::AreaHeap;
use memalloc::area::OVERHEAD;
use std::alloc::Layout;
use std::ptr::NonNull;
use support::{OwnedArea, chunk};

fn assert_all_freed(heap: &AreaHeap) {
    heap.check().unwrap();
    let s = heap.stats();
    assert_eq!(
        (s.bytes_in_use, s.live_blocks, s.free_runs),
        (0, 0, 1),
        "{s:?}"
    );
}

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

#[test]
fn a_vec_grows_in_place_and_shrinks_in_a_64_kib_area() {
    let heap = OwnedArea::new(64 * 1024);
    {
        let mut v: Vec<u32, &AreaHeap> = Vec::new_in(&*heap);
        let mut moves = 0;
        let mut last = v.as_ptr();
        for i in 0..8_000u32 {
            v.push(i);
            if v.as_ptr() != last {
                moves += 1;
                last = v.as_ptr();
            }
        }
        // Alone in the area, the buffer grows into its free neighbour:
        // it moves only when first allocated.
        assert_eq!(moves, 1);
        assert_eq!(v.iter().map(|&x| x as u64).sum::<u64>(), 31_996_000);
        v.truncate(10);
        v.shrink_to_fit();
        assert_eq!(v.as_ptr(), last, "shrunk in place");
        assert_eq!(heap.stats().bytes_in_use, chunk(v.capacity() * 4));
        heap.check().unwrap();
    }
    assert_all_freed(&heap);
}

#[test]
fn a_hashmap_lives_in_an_area_heap() {
    let heap = OwnedArea::new(1 << 20);
    {
        let mut map = hashbrown::HashMap::new_in(&*heap);
        for i in 0..10_000u64 {
            map.insert(i, i * 3);
        }
        for i in (0..10_000u64).step_by(2) {
            assert_eq!(map.remove(&i), Some(i * 3));
        }
        assert_eq!(map.len(), 5_000);
        heap.check().unwrap();
    }
    assert_all_freed(&heap);
}

#[test]
fn zero_size_layouts_never_reach_the_heap() {
    let heap = OwnedArea::new(4096);
    let a = &*heap;
    for align in [1, 8, 64, 4096] {
        let p = a.allocate(layout(0, align)).unwrap();
        assert_eq!(p.len(), 0);
        assert_eq!(p.cast::<u8>().as_ptr() as usize % align, 0);
        // SAFETY: `p` came from `allocate` with this layout.
        unsafe { a.deallocate(p.cast(), layout(0, align)) };
    }
    assert_eq!(heap.stats().live_blocks, 0);
    assert_all_freed(&heap);
}

#[test]
fn allocate_returns_the_whole_usable_block_and_zeroes_it() {
    let heap = OwnedArea::new(4096);
    let a = &*heap;
    let dirty = a.allocate(layout(100, 8)).unwrap();
    // SAFETY: the whole returned length is the caller's.
    unsafe { dirty.cast::<u8>().as_ptr().write_bytes(0xAB, dirty.len()) };
    // SAFETY: from `allocate`, freed with a size within its length.
    unsafe { a.deallocate(dirty.cast(), layout(dirty.len(), 8)) };
    let z = a.allocate_zeroed(layout(100, 8)).unwrap();
    assert_eq!(z.len(), chunk(100) - OVERHEAD);
    // SAFETY: `z` is live for its whole length.
    assert!(unsafe { z.as_ref() }.iter().all(|&b| b == 0));
    // SAFETY: live block; the requested size.
    unsafe { a.deallocate(z.cast(), layout(100, 8)) };
    assert_all_freed(&heap);
}

#[test]
fn grow_zeroed_clears_everything_past_the_old_size() {
    let heap = OwnedArea::new(8192);
    let a = &*heap;
    let p = a.allocate(layout(40, 16)).unwrap();
    // SAFETY: live block, whole length writable.
    unsafe { p.cast::<u8>().as_ptr().write_bytes(0x11, p.len()) };
    // Dirty the neighbour's memory so in-place growth is tested honestly.
    let q = a.allocate(layout(400, 16)).unwrap();
    // SAFETY: live block, whole length writable; then freed.
    unsafe {
        q.cast::<u8>().as_ptr().write_bytes(0x22, q.len());
        a.deallocate(q.cast(), layout(400, 16));
    }
    // SAFETY: `p` is live for layout(40, 16); 300 ≥ 40.
    let g = unsafe { a.grow_zeroed(p.cast(), layout(40, 16), layout(300, 16)) }.unwrap();
    assert_eq!(g.cast::<u8>(), p.cast::<u8>(), "grew in place");
    // SAFETY: live for its whole length.
    let bytes = unsafe { g.as_ref() };
    assert!(bytes[..40].iter().all(|&b| b == 0x11));
    assert!(bytes[40..].iter().all(|&b| b == 0));
    // SAFETY: live, freed with the size it grew to.
    unsafe { a.deallocate(g.cast(), layout(300, 16)) };
    assert_all_freed(&heap);
}

#[test]
fn grow_and_shrink_across_alignments_keep_the_contents() {
    let heap = OwnedArea::new(64 * 1024);
    let a = &*heap;
    let mut p: NonNull<[u8]> = a.allocate(layout(64, 8)).unwrap();
    let mut l = layout(64, 8);
    for i in 0..64 {
        // SAFETY: `p` holds at least 64 bytes.
        unsafe { p.cast::<u8>().as_ptr().add(i).write(i as u8) };
    }
    for (size, align) in [(200, 256), (5000, 4096), (3000, 16), (64, 1024), (64, 8)] {
        let new = layout(size, align);
        // SAFETY: `p` is live for `l`; grow or shrink by the sizes.
        p = unsafe {
            if size >= l.size() {
                a.grow(p.cast(), l, new)
            } else {
                a.shrink(p.cast(), l, new)
            }
        }
        .unwrap();
        assert_eq!(p.cast::<u8>().as_ptr() as usize % align, 0);
        assert!(p.len() >= size);
        for i in 0..64 {
            // SAFETY: at least 64 bytes, the first 64 kept.
            assert_eq!(unsafe { p.cast::<u8>().as_ptr().add(i).read() }, i as u8);
        }
        heap.check().unwrap();
        l = new;
    }
    // SAFETY: live for `l`; shrinking to zero frees it.
    let z = unsafe { a.shrink(p.cast(), l, layout(0, 8)) }.unwrap();
    assert_eq!(z.len(), 0);
    assert_all_freed(&heap);
}

#[test]
fn exhaustion_is_an_alloc_error_and_the_heap_stays_usable() {
    let heap = OwnedArea::new(4096);
    let a = &*heap;
    assert!(a.allocate(layout(8192, 8)).is_err());
    let mut v: Vec<u8, &AreaHeap> = Vec::new_in(&*heap);
    assert!(v.try_reserve(100_000).is_err());
    v.extend_from_slice(&[1, 2, 3]);
    assert_eq!(v.len(), 3);
    drop(v);
    assert_all_freed(&heap);
}
