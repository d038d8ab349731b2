//! DESIGN.md promise 1: memalloc never allocates through the global allocator
//! from inside itself — including a thread's first use, its exit flush,
//! large/huge paths, realloc, stats and the report — and re-entrant calls
//! from thread-exit destructors work.
//!
//! The global allocator here is a probe around `Memalloc` that counts calls
//! made while a memalloc call is already on this thread's stack.

use memalloc::Memalloc;
use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Probe;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}
static NESTED: AtomicUsize = AtomicUsize::new(0);

/// Runs `f` marked as "inside memalloc": any global allocation meanwhile is
/// counted as nested.
fn inside<R>(f: impl FnOnce() -> R) -> R {
    let outer = DEPTH.with(|d| {
        let v = d.get();
        d.set(v + 1);
        v
    });
    if outer > 0 {
        NESTED.fetch_add(1, Ordering::Relaxed);
    }
    let r = f();
    DEPTH.with(|d| d.set(d.get() - 1));
    r
}

unsafe impl GlobalAlloc for Probe {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        inside(|| unsafe { Memalloc.alloc(l) })
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        inside(|| unsafe { Memalloc.dealloc(p, l) })
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        inside(|| unsafe { Memalloc.alloc_zeroed(l) })
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        inside(|| unsafe { Memalloc.realloc(p, l, n) })
    }
}

#[global_allocator]
static GLOBAL: Probe = Probe;

/// A key whose destructor allocates; created after memalloc's exit key (so
/// glibc runs it after memalloc flushed this thread's cache).
#[cfg(unix)]
fn late_destructor_key() -> libc::pthread_key_t {
    unsafe extern "C" fn late(_: *mut libc::c_void) {
        let v: Vec<u64> = (0..1000).collect();
        assert_eq!(v.len(), 1000);
        let s = String::from("allocated after the exit flush");
        drop((v, s));
        unsafe {
            let p = memalloc::malloc(300 << 10);
            memalloc::free(p);
        }
    }
    let mut key = 0;
    assert_eq!(unsafe { libc::pthread_key_create(&mut key, Some(late)) }, 0);
    key
}

struct AllocatesOnDrop;
impl Drop for AllocatesOnDrop {
    fn drop(&mut self) {
        let v: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        drop(v);
    }
}
thread_local! {
    static TLS_DROP: AllocatesOnDrop = const { AllocatesOnDrop };
}

#[test]
fn memalloc_never_allocates_through_the_global_allocator_from_inside() {
    // The probe sees a nested allocation when there is one.
    inside(|| drop(vec![0u8; 10]));
    assert!(
        NESTED.swap(0, Ordering::Relaxed) >= 1,
        "the probe detects nesting"
    );
    // The main thread binds first (process-wide state, exit key, fork handlers).
    let v: Vec<u8> = vec![1; 100];
    drop(v);
    #[cfg(unix)]
    let key = late_destructor_key();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                // First use on a new thread, small/large/huge, realloc growth.
                let mut v: Vec<u8> = Vec::new();
                for i in 0..(40usize << 20) / 4096 {
                    v.extend_from_slice(&[i as u8; 4096]);
                }
                let boxes: Vec<Box<[u8; 64]>> =
                    (0..10_000).map(|_| Box::new([t as u8; 64])).collect();
                drop(boxes);
                TLS_DROP.with(|_| {});
                #[cfg(unix)]
                unsafe {
                    libc::pthread_setspecific(key, std::ptr::dangling_mut::<libc::c_void>());
                }
                // Direct calls, marked as inside memalloc.
                inside(|| unsafe {
                    let p = memalloc::calloc(1000, 100);
                    let p = memalloc::realloc(p, 5 << 20);
                    assert!(memalloc::usable_size(p) >= 5 << 20);
                    memalloc::free(p);
                    let a = memalloc::aligned_alloc(1 << 21, 100);
                    memalloc::free(a);
                    let _ = memalloc::stats();
                    memalloc::flush_thread_cache();
                });
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // A Heap instance: first use on a new thread, caches, thread exit.
    let heap = memalloc::Heap::new();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                inside(|| unsafe {
                    for i in 0..1000 {
                        let p = heap.malloc(1 + i * 13);
                        heap.free(p);
                    }
                    heap.flush_thread_cache();
                    let p = heap.malloc(100);
                    heap.free(p);
                });
            });
        }
    });
    drop(heap);
    inside(|| {
        memalloc::print_stats();
        memalloc::check().unwrap();
        memalloc::trim();
    });
    assert_eq!(
        NESTED.load(Ordering::Relaxed),
        0,
        "memalloc called the global allocator from inside itself"
    );
}
