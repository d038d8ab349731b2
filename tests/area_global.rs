//! The area heap as a program's `#[global_allocator]`: this whole test
//! binary (the harness, its threads, std's collections) runs on a
//! `static` `AreaHeap` over a `static` 64 MiB area, built by the `const`
//! constructor and formatted on the first allocation, as a `no_std`
//! binary would declare it.

use memalloc::AreaHeap;
use std::alloc::{GlobalAlloc, Layout};
use std::collections::BTreeMap;
use std::sync::mpsc;

/// 64 MiB of `.bss`: ample for the tests, and for std to symbolize a
/// panic's backtrace (which reads the debug info into the heap).
const AREA_LEN: usize = 64 << 20;
static mut AREA: [u8; AREA_LEN] = [0; AREA_LEN];

#[global_allocator]
// SAFETY: AREA is used by nothing but this heap, for the whole program.
static HEAP: AreaHeap = unsafe { AreaHeap::from_raw_parts((&raw mut AREA).cast(), AREA_LEN) };

/// Whether `p` lies in the static area.
fn in_area(p: *const u8) -> bool {
    let lo = (&raw const AREA) as usize;
    (lo..lo + AREA_LEN).contains(&(p as usize))
}

#[test]
fn std_collections_live_in_the_static_area() {
    let words: Vec<String> = (0..2000).map(|i| format!("word {i}")).collect();
    let map: BTreeMap<&str, usize> = words.iter().map(|w| (w.as_str(), w.len())).collect();
    assert!(in_area(words.as_ptr().cast()));
    assert!(in_area(words[1999].as_ptr()));
    assert_eq!(map["word 1999"], 9);
    let s = HEAP.stats();
    assert!(s.live_blocks >= 2000, "{s:?}");
    assert_eq!(s.bytes_in_use + s.bytes_free, s.area_bytes);
    HEAP.check().unwrap();
}

#[test]
fn threads_allocate_and_free_across_each_other_under_the_spin_lock() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 3000;
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..THREADS).map(|_| mpsc::channel::<Box<[u8]>>()).unzip();
    let handles: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(t, rx)| {
            let next = senders[(t + 1) % THREADS].clone();
            std::thread::spawn(move || {
                let mut x = t as u64 * 7919 + 1;
                for i in 0..ROUNDS {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let len = 1 + (x % 700) as usize;
                    let fill = (i % 251) as u8;
                    let b = vec![fill; len].into_boxed_slice();
                    assert!(in_area(b.as_ptr()));
                    if i % 2 == 0 {
                        // Freed by the next thread.
                        next.send(b).unwrap();
                    } else {
                        assert!(b.iter().all(|&v| v == fill));
                    }
                    while let Ok(theirs) = rx.try_recv() {
                        let first = theirs[0];
                        assert!(theirs.iter().all(|&v| v == first));
                    }
                }
                drop(next);
                rx
            })
        })
        .collect();
    drop(senders);
    // Every thread finishes before any receiver drops: a later sender
    // still sends to it.
    let receivers: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for rx in receivers {
        for theirs in rx.try_iter() {
            let first = theirs[0];
            assert!(theirs.iter().all(|&v| v == first));
        }
    }
    HEAP.check().unwrap();
}

#[test]
fn exhausting_the_area_gives_null_not_an_abort() {
    let too_big = Layout::from_size_align(AREA_LEN, 16).unwrap();
    // SAFETY: a valid non-zero layout.
    let p = unsafe { HEAP.alloc(too_big) };
    assert!(p.is_null());
    // std's fallible paths see the failure as an error.
    let mut v: Vec<u8> = Vec::new();
    assert!(v.try_reserve(AREA_LEN).is_err());
    v.push(1);
    assert!(in_area(v.as_ptr()));
    HEAP.check().unwrap();
}
