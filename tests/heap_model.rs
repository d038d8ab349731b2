//! Randomized operation sequences on a `Heap` instance, and on the
//! process-wide heap, against a shadow model: every live block is filled
//! with a pattern, checked before it is freed and after every realloc, and
//! the heap-invariant checker runs throughout.

mod common;

use common::{Rng, fill, verify, verify_prefix};
use memalloc::{Heap, Memalloc};
use std::alloc::{GlobalAlloc, Layout};
use std::collections::BTreeMap;

/// The operations the model drives: `GlobalAlloc` for the layout-based
/// ones, and the heap's malloc-style functions.
trait ModelHeap: GlobalAlloc {
    unsafe fn malloc(&self, size: usize) -> *mut u8;
    unsafe fn calloc(&self, n: usize, size: usize) -> *mut u8;
    unsafe fn aligned_alloc(&self, align: usize, size: usize) -> *mut u8;
    unsafe fn resize(&self, ptr: *mut u8, size: usize) -> *mut u8;
    unsafe fn free(&self, ptr: *mut u8);
    unsafe fn usable_size(&self, ptr: *const u8) -> usize;
    fn check(&self);
    /// With every block freed: returns the cached blocks and free memory,
    /// and checks that nothing is left in use.
    fn finish(&self);
}

impl ModelHeap for Heap {
    unsafe fn malloc(&self, size: usize) -> *mut u8 {
        unsafe { Heap::malloc(self, size) }
    }
    unsafe fn calloc(&self, n: usize, size: usize) -> *mut u8 {
        unsafe { Heap::calloc(self, n, size) }
    }
    unsafe fn aligned_alloc(&self, align: usize, size: usize) -> *mut u8 {
        unsafe { Heap::aligned_alloc(self, align, size) }
    }
    unsafe fn resize(&self, ptr: *mut u8, size: usize) -> *mut u8 {
        unsafe { Heap::resize(self, ptr, size) }
    }
    unsafe fn free(&self, ptr: *mut u8) {
        unsafe { Heap::free(self, ptr) }
    }
    unsafe fn usable_size(&self, ptr: *const u8) -> usize {
        unsafe { Heap::usable_size(self, ptr) }
    }
    fn check(&self) {
        Heap::check(self).unwrap();
    }
    fn finish(&self) {
        self.flush_thread_cache();
        self.trim();
        Heap::check(self).unwrap();
        let s = self.stats();
        assert_eq!(s.bytes_in_use, 0, "{s:?}");
        assert_eq!(
            s.regions, 0,
            "trim releases every wholly free region: {s:?}"
        );
        assert_eq!(s.huge_allocations, 0);
    }
}

/// The process-wide heap. Nothing else in this test binary uses it (its
/// global allocator is std's), so its counters are this model's alone.
impl ModelHeap for Memalloc {
    unsafe fn malloc(&self, size: usize) -> *mut u8 {
        unsafe { memalloc::malloc(size) }
    }
    unsafe fn calloc(&self, n: usize, size: usize) -> *mut u8 {
        unsafe { memalloc::calloc(n, size) }
    }
    unsafe fn aligned_alloc(&self, align: usize, size: usize) -> *mut u8 {
        unsafe { memalloc::aligned_alloc(align, size) }
    }
    unsafe fn resize(&self, ptr: *mut u8, size: usize) -> *mut u8 {
        unsafe { memalloc::realloc(ptr, size) }
    }
    unsafe fn free(&self, ptr: *mut u8) {
        unsafe { memalloc::free(ptr) }
    }
    unsafe fn usable_size(&self, ptr: *const u8) -> usize {
        unsafe { memalloc::usable_size(ptr) }
    }
    fn check(&self) {
        memalloc::check().unwrap();
    }
    fn finish(&self) {
        memalloc::flush_thread_cache();
        memalloc::trim();
        memalloc::check().unwrap();
        let s = memalloc::stats();
        assert_eq!(s.bytes_in_use, 0, "{s:?}");
        assert_eq!(s.huge_allocations, 0);
    }
}

#[derive(Clone, Copy)]
enum How {
    Layout(usize), // alignment
    Malloc,
}

struct Live {
    len: usize,
    tag: u64,
    how: How,
}

/// Asserts that no two live blocks overlap.
fn assert_disjoint(live: &BTreeMap<usize, Live>) {
    let mut end = 0;
    for (&addr, b) in live {
        assert!(addr >= end, "block {addr:#x} overlaps the previous one");
        end = addr + b.len.max(1);
    }
}

fn random_ops(heap: &impl ModelHeap, seed: u64, ops: usize, max_size: usize) {
    let mut rng = Rng::new(seed);
    let mut live: BTreeMap<usize, Live> = BTreeMap::new();
    let mut tag = 0u64;
    for step in 0..ops {
        let r = rng.below(100);
        if r < 45 || live.is_empty() {
            // allocate
            let size = if rng.below(50) == 0 {
                rng.log_size(max_size)
            } else {
                rng.log_size(4096)
            };
            tag += 1;
            let (p, how) = match rng.below(4) {
                0 => {
                    let align = 1usize << rng.below(22); // up to 2 MiB
                    let layout = Layout::from_size_align(size, align).unwrap();
                    (unsafe { heap.alloc(layout) }, How::Layout(align))
                }
                1 => {
                    let n = rng.below(8) as usize + 1;
                    let len = size.div_ceil(n) * n;
                    let p = unsafe { heap.calloc(n, len / n) };
                    assert!(!p.is_null());
                    for i in (0..len).step_by(997) {
                        assert_eq!(unsafe { *p.add(i) }, 0, "calloc memory is not zero");
                    }
                    let p2 = p;
                    unsafe { fill(p2, len, tag) };
                    assert!(
                        live.insert(
                            p as usize,
                            Live {
                                len,
                                tag,
                                how: How::Malloc
                            }
                        )
                        .is_none()
                    );
                    assert_disjoint(&live);
                    continue;
                }
                2 => {
                    let align = 16usize << rng.below(8);
                    (
                        unsafe { heap.aligned_alloc(align, size) },
                        How::Layout(align),
                    )
                }
                _ => (unsafe { heap.malloc(size) }, How::Malloc),
            };
            assert!(!p.is_null(), "allocation of {size} failed");
            if let How::Layout(a) = how {
                assert_eq!(p as usize % a, 0, "alignment {a} not honoured");
            } else {
                assert_eq!(p as usize % 16, 0);
            }
            assert!(unsafe { heap.usable_size(p) } >= size);
            unsafe { fill(p, size, tag) };
            assert!(
                live.insert(
                    p as usize,
                    Live {
                        len: size,
                        tag,
                        how
                    }
                )
                .is_none(),
                "address handed out twice"
            );
        } else if r < 80 {
            // free a random live block
            let k = rng.below(live.len() as u64) as usize;
            let addr = *live.keys().nth(k).unwrap();
            let b = live.remove(&addr).unwrap();
            unsafe {
                verify(addr as *const u8, b.len, b.tag);
                match b.how {
                    How::Layout(a) if rng.below(2) == 0 => {
                        heap.dealloc(addr as *mut u8, Layout::from_size_align(b.len, a).unwrap())
                    }
                    _ => heap.free(addr as *mut u8),
                }
            }
        } else {
            // realloc a random live block
            let k = rng.below(live.len() as u64) as usize;
            let addr = *live.keys().nth(k).unwrap();
            let b = live.remove(&addr).unwrap();
            let new_len = if rng.below(20) == 0 {
                rng.log_size(max_size)
            } else {
                rng.log_size(8192)
            };
            let p = unsafe {
                match b.how {
                    How::Layout(a) => heap.realloc(
                        addr as *mut u8,
                        Layout::from_size_align(b.len, a).unwrap(),
                        new_len,
                    ),
                    How::Malloc => heap.resize(addr as *mut u8, new_len),
                }
            };
            assert!(!p.is_null());
            assert!(unsafe { heap.usable_size(p) } >= new_len);
            unsafe { verify_prefix(p, b.len, b.len.min(new_len), b.tag) };
            tag += 1;
            unsafe { fill(p, new_len, tag) };
            if let How::Layout(a) = b.how {
                assert_eq!(p as usize % a, 0, "realloc lost alignment {a}");
            }
            live.insert(
                p as usize,
                Live {
                    len: new_len,
                    tag,
                    how: b.how,
                },
            );
        }
        if step % check_every() == 0 {
            assert_disjoint(&live);
            heap.check();
        }
    }
    for (addr, b) in std::mem::take(&mut live) {
        unsafe {
            verify(addr as *const u8, b.len, b.tag);
            heap.free(addr as *mut u8);
        }
    }
    heap.check();
    heap.finish();
}

#[test]
fn random_small_and_medium_operations_match_the_shadow_model() {
    for seed in 1..=4 {
        random_ops(&Heap::new(), seed, 6000, 1 << 20);
    }
}

/// The process-wide heap finds a small block's class by its lock-free page
/// mark in `free`, `realloc` and `usable_size`; the model checks all three.
#[test]
fn random_operations_on_the_process_wide_heap_match_the_shadow_model() {
    for seed in 11..=13 {
        random_ops(&Memalloc, seed, 6000, 1 << 20);
    }
}

#[test]
fn random_operations_up_to_64_mib_match_the_shadow_model() {
    random_ops(&Heap::new(), 99, 3000, 64 << 20);
}

#[test]
#[ignore = "soak: cargo test --release -- --ignored soak"]
fn soak_random_operations_for_many_seeds() {
    for seed in 100..400 {
        random_ops(&Heap::new(), seed, 20_000, 64 << 20);
    }
}

fn check_every() -> usize {
    std::env::var("MEMALLOC_CHECK_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}
