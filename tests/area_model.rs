//! Randomized operation sequences on an area heap against a shadow model:
//! alloc, free and realloc with random sizes and alignments; every live
//! block is filled with a pattern and verified before it is freed and
//! after every realloc; no two live blocks overlap and all lie in the
//! area; the invariant checker runs every 64th operation
//! (`MEMALLOC_CHECK_EVERY=1` for every one), and the model's accounting is
//! compared with the heap's statistics each time. A null return is
//! accepted only when best fit says it must be: no free run holds the
//! request.

mod common;
#[path = "area/support.rs"]
mod support;

use common::{Rng, fill, verify, verify_prefix};
use memalloc::area::OVERHEAD;
use std::alloc::{GlobalAlloc, Layout};
use std::collections::BTreeMap;
use support::{OwnedArea, chunk};

struct Live {
    size: usize,
    align: usize,
    tag: u64,
}

fn check_every() -> usize {
    std::env::var("MEMALLOC_CHECK_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// A random alignment: mostly ≤ 16, sometimes up to 4 KiB.
fn random_align(rng: &mut Rng) -> usize {
    match rng.below(10) {
        0..=6 => 1 << rng.below(5),
        _ => 1 << rng.below(13),
    }
}

/// Heap statistics against the model: block count, bytes in use equal to
/// the chunks of the live blocks (usable size plus header), and in-use
/// plus free covering the area.
fn assert_accounting(heap: &OwnedArea, live: &BTreeMap<usize, Live>) {
    let s = heap.stats();
    assert_eq!(s.live_blocks, live.len(), "{s:?}");
    // SAFETY: every key is a live block of `heap`.
    let chunks: usize = live
        .keys()
        .map(|&p| unsafe { heap.usable_size(p as *mut u8) } + OVERHEAD)
        .sum();
    assert_eq!(s.bytes_in_use, chunks, "{s:?}");
    assert_eq!(s.bytes_in_use + s.bytes_free, s.area_bytes, "{s:?}");
    assert!(s.largest_free_run <= s.bytes_free);
}

/// Asserts that the live blocks are disjoint and inside `[lo, hi)`.
fn assert_disjoint(live: &BTreeMap<usize, Live>, lo: usize, hi: usize) {
    let mut end = lo;
    for (&addr, b) in live {
        assert!(addr >= end, "block {addr:#x} overlaps the one before");
        end = addr + b.size;
    }
    assert!(end <= hi, "a block runs past the area");
}

fn random_ops(seed: u64, area: usize, ops: usize, max_size: usize) {
    let heap = OwnedArea::new(area);
    let (lo, hi) = heap.range();
    let mut rng = Rng::new(seed);
    let mut live: BTreeMap<usize, Live> = BTreeMap::new();
    let mut tag = 0u64;
    let (mut nulls, mut in_place) = (0usize, 0usize);
    let every = check_every();
    for step in 0..ops {
        let r = rng.below(100);
        tag += 1;
        if r < 45 || live.is_empty() {
            let (size, align) = (rng.log_size(max_size), random_align(&mut rng));
            let l = Layout::from_size_align(size, align).unwrap();
            // SAFETY: a valid non-zero layout.
            let p = unsafe { heap.alloc(l) };
            if p.is_null() {
                nulls += 1;
                if align <= 16 {
                    // Best fit fails only when no free run is large enough.
                    assert!(
                        heap.stats().largest_free_run < chunk(size),
                        "null for {size} B with a run of {} B free",
                        heap.stats().largest_free_run
                    );
                }
            } else {
                assert_eq!(p as usize % align, 0);
                // SAFETY: `p` holds `size` bytes.
                unsafe { fill(p, size, tag) };
                live.insert(p as usize, Live { size, align, tag });
            }
        } else if r < 80 {
            let k = *live
                .keys()
                .nth(rng.below(live.len() as u64) as usize)
                .unwrap();
            let b = live.remove(&k).unwrap();
            let p = k as *mut u8;
            // SAFETY: `p` is live, filled with `b.tag` over `b.size` bytes.
            unsafe {
                verify(p, b.size, b.tag);
                heap.dealloc(p, Layout::from_size_align(b.size, b.align).unwrap());
            }
        } else {
            let k = *live
                .keys()
                .nth(rng.below(live.len() as u64) as usize)
                .unwrap();
            let b = live.remove(&k).unwrap();
            let p = k as *mut u8;
            let new = rng.log_size(max_size);
            let old = Layout::from_size_align(b.size, b.align).unwrap();
            // SAFETY: `p` is live for `old`; `new` is non-zero and small.
            let q = unsafe { heap.realloc(p, old, new) };
            if q.is_null() {
                nulls += 1;
                // The old block is untouched and still live.
                // SAFETY: as before the call.
                unsafe { verify(p, b.size, b.tag) };
                live.insert(k, b);
            } else {
                in_place += usize::from(q == p);
                assert_eq!(q as usize % b.align, 0, "realloc kept the alignment");
                // SAFETY: `q` holds `new` bytes, the first min(old, new)
                // copied from the old block.
                unsafe {
                    verify_prefix(q, b.size, b.size.min(new), b.tag);
                    fill(q, new, tag);
                }
                live.insert(
                    q as usize,
                    Live {
                        size: new,
                        align: b.align,
                        tag,
                    },
                );
            }
        }
        if step % every == 0 {
            heap.check()
                .unwrap_or_else(|e| panic!("seed {seed} step {step}: {e}"));
            assert_disjoint(&live, lo, hi);
            assert_accounting(&heap, &live);
        }
    }
    assert!(nulls > 0 || area > 4 * max_size, "the area never filled up");
    assert!(in_place > 0, "no realloc stayed in place");
    heap.check().unwrap();
    assert_disjoint(&live, lo, hi);
    assert_accounting(&heap, &live);
    for (k, b) in std::mem::take(&mut live) {
        // SAFETY: every remaining block is live for its layout.
        unsafe {
            verify(k as *const u8, b.size, b.tag);
            heap.dealloc(
                k as *mut u8,
                Layout::from_size_align(b.size, b.align).unwrap(),
            );
        }
    }
    let s = heap.stats();
    assert_eq!((s.bytes_in_use, s.live_blocks, s.free_runs), (0, 0, 1));
    assert_eq!(s.largest_free_run, s.area_bytes);
    heap.check().unwrap();
}

#[test]
fn random_small_blocks_in_a_64_kib_area_match_the_model() {
    for seed in 1..=4 {
        random_ops(seed, 64 * 1024, 6_000, 512);
    }
}

#[test]
fn random_mixed_sizes_in_a_64_kib_area_fill_it_and_match_the_model() {
    for seed in 11..=14 {
        random_ops(seed, 64 * 1024, 6_000, 8 * 1024);
    }
}

#[test]
fn random_mixed_sizes_in_a_1_mib_area_match_the_model() {
    for seed in 21..=22 {
        random_ops(seed, 1 << 20, 10_000, 64 * 1024);
    }
}
