//! A `Heap` instance: create it, use it through `Layout`s and malloc-style
//! calls, inspect it, drop it (which unmaps everything it mapped).
//!
//! Run: `cargo run --example basic`

use memalloc::Heap;
use std::alloc::{GlobalAlloc, Layout};

fn main() {
    let heap = Heap::new();
    unsafe {
        // Layout-based, like any GlobalAlloc.
        let layout = Layout::from_size_align(4096, 64).unwrap();
        let page = heap.alloc(layout);
        assert_eq!(page as usize % 64, 0);
        page.write_bytes(0xAB, layout.size());

        // malloc-style: no size needed to free.
        let mut words: Vec<*mut u8> = (1..=1000).map(|i| heap.malloc(i * 8)).collect();
        for (i, &p) in words.iter().enumerate() {
            p.write_bytes(i as u8, (i + 1) * 8);
        }
        let big = heap.calloc(1 << 20, 4); // 4 MiB, zeroed
        let big = heap.resize(big, 8 << 20); // grows in place when it can
        println!(
            "usable sizes: 8 B -> {}, 4 KiB@64 -> {}, 8 MiB -> {}",
            heap.usable_size(words[0]),
            heap.usable_size(page),
            heap.usable_size(big)
        );
        heap.print_stats();

        for p in words.drain(..) {
            heap.free(p);
        }
        heap.free(big);
        heap.dealloc(page, layout);
    }
    heap.check().expect("heap invariants hold");
    heap.trim();
    let s = heap.stats();
    println!(
        "after freeing everything and trim: {} B in use, {} B mapped",
        s.bytes_in_use, s.bytes_mapped
    );
    drop(heap); // releases every mapping
}
