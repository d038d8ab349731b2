//! A `Heap` instance as the process's global allocator: its thread binding
//! (`thread_local::ThreadLocal`, which itself allocates through the global
//! allocator, i.e. through this very heap) must survive re-entrant calls on
//! first use of every thread and at thread exit.

use memalloc::Heap;
use std::alloc::{GlobalAlloc, Layout};
use std::collections::BTreeMap;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU8, Ordering};

struct LazyHeap;

static STATE: AtomicU8 = AtomicU8::new(0); // 0 new, 1 creating, 2 ready
static mut HEAP: MaybeUninit<Heap> = MaybeUninit::uninit();

fn heap() -> &'static Heap {
    if STATE.load(Ordering::Acquire) != 2 {
        if STATE
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // Heap::try_new maps its own memory; it does not allocate here.
            let h = Heap::try_new().expect("map a heap");
            unsafe { (&raw mut HEAP).cast::<Heap>().write(h) };
            STATE.store(2, Ordering::Release);
        } else {
            while STATE.load(Ordering::Acquire) != 2 {
                std::hint::spin_loop();
            }
        }
    }
    unsafe { &*(&raw const HEAP).cast::<Heap>() }
}

unsafe impl GlobalAlloc for LazyHeap {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        unsafe { heap().alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { heap().dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        unsafe { GlobalAlloc::realloc(heap(), p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: LazyHeap = LazyHeap;

#[test]
fn a_heap_instance_can_be_the_global_allocator() {
    for round in 0..5 {
        let hs: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut m: BTreeMap<String, Vec<u64>> = BTreeMap::new();
                    for i in 0..5000u64 {
                        m.entry(format!("{round}-{t}-{}", i % 300))
                            .or_default()
                            .push(i);
                    }
                    m
                })
            })
            .collect();
        for h in hs {
            let m = h.join().unwrap();
            assert_eq!(m.values().map(|v| v.len()).sum::<usize>(), 5000);
        }
    }
    heap().check().unwrap();
}
