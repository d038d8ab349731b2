//! `core::alloc::Allocator for &AreaHeap` (feature `nightly`, nightly
//! Rust): the standard library's own `Vec` and `Box` in a fixed area.
//!
//! Run: `cargo +nightly test --features nightly --test area_nightly_allocator`
#![cfg(feature = "nightly")]
// Newer nightlies have stabilized the trait and these collection methods
// (1.100); older ones still need the gate.
#![allow(stable_features)]
#![feature(allocator_api)]

#[path = "area/support.rs"]
mod support;

use memalloc::AreaHeap;
use support::OwnedArea;

#[test]
fn std_vec_and_box_live_in_an_area_heap_and_give_everything_back() {
    let heap = OwnedArea::new(64 * 1024);
    let (lo, hi) = heap.range();
    {
        let a: &AreaHeap = &heap;
        let mut v: Vec<u64, &AreaHeap> = Vec::new_in(a);
        v.extend(0..2000u64);
        let b = Box::new_in([7u8; 1000], a);
        let mut nested: Vec<Vec<u16, &AreaHeap>, &AreaHeap> = Vec::new_in(a);
        for i in 0..20u16 {
            let mut inner = Vec::new_in(a);
            inner.extend(0..i);
            nested.push(inner);
        }
        for p in [
            v.as_ptr() as usize,
            b.as_ptr() as usize,
            nested.as_ptr() as usize,
        ] {
            assert!((lo..hi).contains(&p));
        }
        assert_eq!(v.iter().sum::<u64>(), 1_999_000);
        assert_eq!(nested[19].len(), 19);
        heap.check().unwrap();
    }
    heap.check().unwrap();
    let s = heap.stats();
    assert_eq!((s.bytes_in_use, s.free_runs), (0, 1));
}
