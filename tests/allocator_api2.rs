//! `allocator_api2::alloc::Allocator for &Heap`: the trait's contract
//! (`tests/allocator/contract.rs`, shared with the nightly
//! `core::alloc::Allocator` impl) and hashbrown's maps in a heap instance.
#![cfg(feature = "allocator-api2")]

/// The trait and the collection the shared contract tests use.
mod api {
    pub use allocator_api2::alloc::Allocator;
    pub use allocator_api2::vec::Vec;
}
#[path = "allocator/contract.rs"]
mod contract;

use allocator_api2::vec::Vec;
use contract::assert_all_freed;
use memalloc::Heap;

#[test]
fn hashmap_in_heap_survives_many_inserts_and_removes() {
    let heap = Heap::new();
    {
        let mut map = hashbrown::HashMap::new_in(&heap);
        for i in 0..50_000u64 {
            map.insert(i, i.wrapping_mul(0x9E37_79B9));
        }
        for i in (0..50_000u64).step_by(2) {
            assert_eq!(map.remove(&i), Some(i.wrapping_mul(0x9E37_79B9)));
        }
        assert_eq!(map.len(), 25_000);
        for i in 0..50_000u64 {
            assert_eq!(map.get(&i).is_some(), i % 2 == 1);
        }
        map.shrink_to_fit();
        assert_eq!(map.len(), 25_000);
        heap.check().unwrap();
    }
    assert_all_freed(&heap);
}
#[test]
fn dropping_the_heap_after_its_collections_releases_everything() {
    let heap = Heap::new();
    {
        let mut v: Vec<std::vec::Vec<u8>, &Heap> = Vec::new_in(&heap);
        let mut m = hashbrown::HashMap::new_in(&heap);
        let mut big: Vec<u8, &Heap> = Vec::new_in(&heap);
        big.resize(3 << 20, 0x5A);
        for i in 0..5000usize {
            v.push(vec![i as u8; i % 50]);
            let mut inner: Vec<usize, &Heap> = Vec::new_in(&heap);
            inner.extend(0..i % 100);
            m.insert(i, inner);
        }
        assert!(heap.stats().bytes_mapped > 0);
        heap.check().unwrap();
    }
    heap.flush_thread_cache();
    let s = heap.stats();
    assert_eq!(s.bytes_in_use, 0, "{s:?}");
    assert_eq!(s.huge_allocations, 0, "{s:?}");
    heap.check().unwrap();
    drop(heap); // unmaps every region the collections used
}
