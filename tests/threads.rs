//! Multithreaded stress: threads free each other's blocks (through the
//! process-wide heap and through a shared `Heap` instance), check contents,
//! and threads are torn down and recreated while their objects survive.

// Not built under `--cfg loom`: that run is for the loom models, and these
// tests (real threads and programs) already run in plain `cargo test`.
#![cfg(not(loom))]

mod common;

use common::{Rng, fill, verify};
use memalloc::Heap;
use std::sync::Arc;
use std::sync::mpsc;

#[derive(Clone, Copy)]
struct Msg {
    addr: usize,
    len: usize,
    tag: u64,
}

trait Api: Send + Sync + 'static {
    unsafe fn malloc(&self, n: usize) -> *mut u8;
    unsafe fn free(&self, p: *mut u8);
}

struct Process;
impl Api for Process {
    unsafe fn malloc(&self, n: usize) -> *mut u8 {
        unsafe { memalloc::malloc(n) }
    }
    unsafe fn free(&self, p: *mut u8) {
        unsafe { memalloc::free(p) }
    }
}
impl Api for Heap {
    unsafe fn malloc(&self, n: usize) -> *mut u8 {
        unsafe { Heap::malloc(self, n) }
    }
    unsafe fn free(&self, p: *mut u8) {
        unsafe { Heap::free(self, p) }
    }
}

/// A ring of `threads` threads: each allocates, sends blocks to its right
/// neighbour and frees (after verifying) what its left neighbour sent.
fn ring<A: Api>(api: Arc<A>, threads: usize, rounds: usize, seed: u64) {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..threads)
        .map(|_| mpsc::sync_channel::<Vec<Msg>>(4))
        .unzip();
    let mut handles = Vec::new();
    let mut rxs: Vec<Option<mpsc::Receiver<Vec<Msg>>>> = rxs.into_iter().map(Some).collect();
    for t in 0..threads {
        let tx = txs[(t + 1) % threads].clone();
        let rx = rxs[t].take().unwrap();
        let api = Arc::clone(&api);
        handles.push(std::thread::spawn(move || {
            let mut rng = Rng::new(seed * 1000 + t as u64);
            for round in 0..rounds {
                let mut batch = Vec::with_capacity(64);
                for i in 0..64 {
                    let len = if rng.below(100) == 0 {
                        rng.log_size(1 << 20)
                    } else {
                        rng.log_size(2048)
                    };
                    let p = unsafe { api.malloc(len) };
                    assert!(!p.is_null());
                    let tag = (t as u64) << 32 | (round * 64 + i) as u64;
                    unsafe { fill(p, len, tag) };
                    batch.push(Msg {
                        addr: p as usize,
                        len,
                        tag,
                    });
                }
                tx.send(batch).unwrap();
                let got = rx.recv().unwrap();
                for m in got {
                    unsafe {
                        verify(m.addr as *const u8, m.len, m.tag);
                        api.free(m.addr as *mut u8);
                    }
                }
            }
        }));
    }
    drop(txs);
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn threads_free_each_others_blocks_on_the_process_heap() {
    ring(Arc::new(Process), 4, 200, 1);
    memalloc::check().unwrap();
}

#[test]
fn threads_free_each_others_blocks_on_a_heap_instance() {
    let heap = Arc::new(Heap::new());
    ring(Arc::clone(&heap), 4, 200, 2);
    heap.check().unwrap();
    // Every thread has exited and flushed: only this thread may hold blocks.
    heap.flush_thread_cache();
    let s = heap.stats();
    assert_eq!(s.bytes_in_use, 0, "{s:?}");
    assert_eq!(
        s.bytes_in_thread_caches, 0,
        "exited threads flushed their caches: {s:?}"
    );
}

#[test]
fn objects_survive_their_threads_and_are_freed_by_later_ones() {
    let heap = Arc::new(Heap::new());
    let mut survivors: Vec<Msg> = Vec::new();
    for generation in 0..30u64 {
        let handoff = std::mem::take(&mut survivors);
        let heap2 = Arc::clone(&heap);
        let made = std::thread::spawn(move || {
            let mut rng = Rng::new(generation);
            for m in handoff {
                unsafe {
                    verify(m.addr as *const u8, m.len, m.tag);
                    heap2.free(m.addr as *mut u8);
                }
            }
            let mut out = Vec::new();
            for i in 0..500u64 {
                let len = rng.log_size(4096);
                let p = unsafe { heap2.malloc(len) };
                let tag = generation << 32 | i;
                unsafe { fill(p, len, tag) };
                // free half at once, hand the other half to the next thread
                if i % 2 == 0 {
                    unsafe { heap2.free(p) };
                } else {
                    out.push(Msg {
                        addr: p as usize,
                        len,
                        tag,
                    });
                }
            }
            out
        })
        .join()
        .unwrap();
        survivors = made;
        heap.check().unwrap();
    }
    for m in survivors {
        unsafe {
            verify(m.addr as *const u8, m.len, m.tag);
            heap.free(m.addr as *mut u8);
        }
    }
    heap.flush_thread_cache();
    let s = heap.stats();
    assert_eq!(s.bytes_in_use, 0, "{s:?}");
    assert_eq!(s.bytes_in_thread_caches, 0, "{s:?}");
}

#[test]
fn dropping_a_heap_while_threads_that_used_it_are_alive_is_sound() {
    let heap = Heap::new();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let h = &heap;
        s.spawn(move || {
            unsafe {
                let p = h.malloc(100);
                h.free(p);
            }
            done_tx.send(()).unwrap();
            go_rx.recv().unwrap();
        });
        done_rx.recv().unwrap();
        go_tx.send(()).unwrap();
    });
    drop(heap);
    // A thread that used a dropped heap exits cleanly, and new heaps work.
    let h2 = Heap::new();
    std::thread::spawn(move || unsafe {
        let p = h2.malloc(10);
        h2.free(p);
        drop(h2);
    })
    .join()
    .unwrap();
}

#[test]
fn many_short_lived_threads_do_not_strand_memory() {
    let heap = Arc::new(Heap::new());
    for _ in 0..50 {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let h = Arc::clone(&heap);
                std::thread::spawn(move || {
                    let mut v = Vec::new();
                    for i in 0..300 {
                        v.push(unsafe { h.malloc(16 + i % 700) });
                    }
                    for p in v {
                        unsafe { h.free(p) };
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    }
    let s = heap.stats();
    assert_eq!(s.bytes_in_use, 0, "{s:?}");
    assert_eq!(s.bytes_in_thread_caches, 0, "{s:?}");
    assert!(
        s.bytes_mapped <= 8 << 20,
        "200 threads' caches were returned: {s:?}"
    );
    heap.check().unwrap();
}

struct UseHeapOnDrop(&'static Heap);
impl Drop for UseHeapOnDrop {
    fn drop(&mut self) {
        unsafe {
            let p = self.0.malloc(32);
            assert!(!p.is_null());
            self.0.free(p);
        }
    }
}
thread_local! {
    static LATE: std::cell::RefCell<Option<UseHeapOnDrop>> = const { std::cell::RefCell::new(None) };
}

/// A thread whose first use of a `Heap` happens in a TLS destructor that runs
/// after the `thread_local` crate's own id guard was destroyed.
#[test]
fn a_heap_first_used_in_a_late_tls_destructor_works() {
    if common::child_scenario().as_deref() == Some("late-tls") {
        let heap: &'static Heap = Box::leak(Box::new(Heap::new()));
        std::thread::spawn(move || {
            // Registered first, so its destructor runs last.
            LATE.with(|l| *l.borrow_mut() = Some(UseHeapOnDrop(heap)));
            // Registers thread_local's id guard after LATE.
            let tl = thread_local::ThreadLocal::<u8>::new();
            tl.get_or(|| 1);
        })
        .join()
        .unwrap();
        heap.check().unwrap();
        return;
    }
    let (status, stderr) = common::run_child(
        "a_heap_first_used_in_a_late_tls_destructor_works",
        "late-tls",
    );
    assert!(status.success(), "child died ({status:?}): {stderr}");
}

/// Takes every pthread key this process can still create, so memalloc's
/// exit hooks cannot be armed. Returns how many were taken.
#[cfg(unix)]
fn exhaust_pthread_keys() -> usize {
    let mut n = 0;
    loop {
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: a valid out-pointer and no destructor.
        if unsafe { libc::pthread_key_create(&mut key, None) } != 0 {
            return n;
        }
        n += 1;
    }
}

/// Allocates and frees enough through `api` that a cache would fill,
/// overflow and hold blocks of many classes. Used by the pthread-key test.
#[cfg(unix)]
fn churn_through<A: Api>(api: &A, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut live = Vec::new();
    // 400 operations with up to 100 live blocks of 1–2048 bytes: blocks of
    // most small classes, held and freed out of order (more only makes the
    // test's own fill and verify loops slower).
    for i in 0..400u64 {
        let len = 1 + rng.below(2048) as usize;
        // SAFETY: blocks are filled within their length and freed once.
        unsafe {
            let p = api.malloc(len);
            assert!(!p.is_null());
            fill(p, len, i);
            live.push((p, len, i));
            if live.len() > 100 {
                let (p, len, tag) = live.swap_remove(rng.below(live.len() as u64) as usize);
                verify(p, len, tag);
                api.free(p);
            }
        }
    }
    for (p, len, tag) in live {
        // SAFETY: as above.
        unsafe {
            verify(p, len, tag);
            api.free(p);
        }
    }
}

#[cfg(unix)]
#[test]
fn with_pthread_keys_exhausted_threads_run_uncached_and_leave_nothing() {
    // In a child: exhausting the keys is for the whole process.
    if common::child_scenario().as_deref() == Some("no-keys") {
        let taken = exhaust_pthread_keys();
        assert!(taken > 0, "some keys were free");
        // A heap used by threads that are then joined drops cleanly: no
        // cache of theirs stayed on its list, so nothing writes into their
        // freed TLS.
        let heap = Arc::new(Heap::new());
        let threads: Vec<_> = (0..16u64)
            .map(|t| {
                let heap = Arc::clone(&heap);
                std::thread::spawn(move || churn_through(&*heap, t))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = heap.stats();
        assert_eq!((s.bytes_in_use, s.bytes_in_thread_caches), (0, 0), "{s:?}");
        heap.check().unwrap();
        drop(Arc::into_inner(heap).unwrap());
        // 1000 exited threads leave 0 bytes in thread caches.
        for wave in 0..50u64 {
            let threads: Vec<_> = (0..20u64)
                .map(|t| std::thread::spawn(move || churn_through(&Process, wave * 20 + t)))
                .collect();
            for t in threads {
                t.join().unwrap();
            }
        }
        let s = memalloc::stats();
        assert_eq!(s.bytes_in_thread_caches, 0, "{s:?}");
        assert_eq!(s.bytes_in_use, 0, "{s:?}");
        memalloc::check().unwrap();
        println!("keys taken: {taken}; {s:?}");
        return;
    }
    let (status, stderr) = common::run_child(
        "with_pthread_keys_exhausted_threads_run_uncached_and_leave_nothing",
        "no-keys",
    );
    assert!(status.success(), "{stderr}");
}
