//! `core::alloc::Allocator for &Heap` (feature `nightly`, nightly Rust):
//! the trait's contract (`tests/allocator/contract.rs`, shared with the
//! `allocator-api2` impl) and the standard library's own `Vec` and `Box`
//! in a heap instance.
//!
//! Run: `cargo +nightly test --features nightly --test nightly_allocator`
#![cfg(feature = "nightly")]
// Newer nightlies have stabilized the trait and these collection methods
// (1.100); older ones still need the gate.
#![allow(stable_features)]
#![feature(allocator_api)]

/// The trait and the collection the shared contract tests use.
mod api {
    pub use std::alloc::Allocator;
    pub use std::vec::Vec;
}
#[path = "allocator/contract.rs"]
mod contract;

use contract::assert_all_freed;
use memalloc::Heap;

#[test]
fn std_box_lives_in_the_heap_and_goes_back_on_drop() {
    let heap = Heap::new();
    {
        let b = Box::new_in([7u64; 1000], &heap);
        assert!(heap.stats().bytes_in_use >= 8000);
        assert!(b.iter().all(|&x| x == 7));
        let small = Box::new_in(42u8, &heap);
        assert_eq!(*small, 42);
    }
    assert_all_freed(&heap);
}

#[test]
fn std_vec_of_boxes_keeps_every_box_in_the_heap() {
    let heap = Heap::new();
    {
        let mut v: Vec<Box<u64, &Heap>, &Heap> = Vec::new_in(&heap);
        for i in 0..50_000u64 {
            v.push(Box::new_in(i * 7, &heap));
            if i % 3 == 0 {
                let b = v.swap_remove((i / 3) as usize);
                assert_eq!(*b % 7, 0);
            }
        }
        assert_eq!(v.len(), 50_000 - 16_667);
        v.truncate(10);
        v.shrink_to_fit();
        assert!(v.iter().all(|b| **b % 7 == 0));
        heap.check().unwrap();
    }
    assert_all_freed(&heap);
}

#[test]
fn dropping_the_heap_after_std_collections_releases_everything() {
    let heap = Heap::new();
    {
        let mut v: Vec<Vec<u8, &Heap>, &Heap> = Vec::new_in(&heap);
        for i in 0..5000usize {
            let mut inner = Vec::with_capacity_in(i % 100, &heap);
            inner.resize(i % 100, i as u8);
            v.push(inner);
        }
        let mut big = Vec::with_capacity_in(3 << 20, &heap);
        big.resize(3 << 20, 0x5Au8);
        let big: Box<[u8], &Heap> = big.into_boxed_slice();
        assert_eq!(big.len(), 3 << 20);
        assert!(heap.stats().bytes_mapped > 0);
        heap.check().unwrap();
    }
    heap.flush_thread_cache();
    let s = heap.stats();
    assert_eq!((s.bytes_in_use, s.huge_allocations), (0, 0), "{s:?}");
    heap.check().unwrap();
    drop(heap); // unmaps every region the collections used
}
