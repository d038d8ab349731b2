//! Tests of the thread binding's lifecycle: a call that re-enters memalloc
//! from inside any slow path is served correctly, and a thread whose exit
//! hook cannot be armed runs uncached and leaves nothing behind.

use crate::front::state::DEAD;
use crate::reentry::{self, Site};
use crate::size_class::{CLASSES, NUM_CLASSES, block_size};
use crate::{Heap, global};
use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::sync::atomic::{AtomicUsize, Ordering};
use std::collections::HashSet;

const SITES: [Site; 6] = [
    Site::Binding,
    Site::Refill,
    Site::Overflow,
    Site::Scavenge,
    Site::Flush,
    Site::Exit,
];

/// Which heap this thread's re-entrant calls use: 0 = the hook does nothing
/// on this thread (other tests run in parallel), 1 = the process-wide heap,
/// 2 = the heap in `REENTRY_HEAP`.
const OFF: usize = 0;
const PROCESS: usize = 1;
const INSTANCE: usize = 2;

thread_local! {
    static MODE: Cell<usize> = const { Cell::new(OFF) };
    static REENTRY_HEAP: Cell<*const Heap> = const { Cell::new(core::ptr::null()) };
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

/// Serialises the tests that use the process-wide heap, so each can
/// compare its figures before and after.
static PROCESS_HEAP_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Re-entrant calls served, per mode and site.
static SERVED: [[AtomicUsize; 6]; 3] = [const { [const { AtomicUsize::new(0) }; 6] }; 3];

fn site_index(site: Site) -> usize {
    SITES.iter().position(|&s| s == site).unwrap()
}

/// The hook: on a thread in PROCESS or INSTANCE mode, allocate, fill,
/// check and free a small and a large block on that heap, from inside the
/// slow path that called it.
fn reenter(site: Site) {
    let mode = MODE.try_with(|m| m.get()).unwrap_or(OFF);
    if mode == OFF || IN_HOOK.with(|h| h.replace(true)) {
        return;
    }
    let heap = REENTRY_HEAP.with(|h| h.get());
    for size in [48usize, 100_000] {
        // SAFETY: each block is used within its size and freed once, on
        // the heap it came from; `heap` outlives the threads using it.
        unsafe {
            let p = if mode == PROCESS {
                global::malloc(size)
            } else {
                (*heap).malloc(size)
            };
            assert!(!p.is_null(), "re-entrant malloc at {site:?}");
            p.write_bytes(0xa5, size);
            assert_eq!(*p.add(size - 1), 0xa5);
            if mode == PROCESS {
                global::free(p)
            } else {
                (*heap).free(p)
            }
        }
    }
    SERVED[mode][site_index(site)].fetch_add(1, Ordering::Relaxed);
    IN_HOOK.with(|h| h.set(false));
}

/// A workload that goes through every slow path: first use (binding),
/// misses (refill), over-full lists (overflow), more than the cache budget
/// (scavenge), an explicit flush, and thread exit. Every block carries a
/// fill pattern, checked when it is freed, and a shadow set catches a block
/// handed out twice.
fn every_slow_path(alloc: impl Fn(Layout) -> *mut u8, dealloc: impl Fn(*mut u8, Layout)) {
    let mut live: Vec<(*mut u8, Layout)> = Vec::new();
    let mut seen = HashSet::new();
    for (class, info) in CLASSES.iter().enumerate().take(NUM_CLASSES) {
        let layout = Layout::from_size_align(block_size(class), 16).unwrap();
        for _ in 0..info.batch as usize * 8 {
            let p = alloc(layout);
            assert!(!p.is_null());
            assert!(seen.insert(p as usize), "block {p:p} handed out twice");
            // SAFETY: a fresh block of `layout.size()` bytes.
            unsafe { p.write_bytes(class as u8, layout.size()) };
            live.push((p, layout));
        }
    }
    for (p, layout) in live.drain(..) {
        // SAFETY: the block is live and was filled above.
        unsafe {
            let tag = *p;
            // Under Miri every byte would take minutes; the first and the
            // last still catch a block handed out twice.
            let step = if cfg!(miri) {
                layout.size().max(2) - 1
            } else {
                1
            };
            assert!(
                (0..layout.size()).step_by(step).all(|i| *p.add(i) == tag),
                "block {p:p} corrupted"
            );
        }
        seen.remove(&(p as usize));
        dealloc(p, layout);
    }
}

fn assert_every_site_served(mode: usize) {
    for site in SITES {
        let n = SERVED[mode][site_index(site)].load(Ordering::Relaxed);
        assert!(n > 0, "no re-entrant call was made at {site:?}");
    }
}

#[test]
fn a_reentrant_call_in_every_slow_path_of_the_process_wide_heap_is_served() {
    let _serial = PROCESS_HEAP_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    reentry::set(Some(reenter));
    let before = global::stats();
    std::thread::spawn(|| {
        MODE.with(|m| m.set(PROCESS));
        every_slow_path(
            // SAFETY: layouts of non-zero size; blocks freed with their layout.
            |l| unsafe { global::Memalloc.alloc(l) },
            // SAFETY: as above.
            |p, l| unsafe { global::Memalloc.dealloc(p, l) },
        );
        global::flush_thread_cache();
    })
    .join()
    .unwrap();
    assert_every_site_served(PROCESS);
    global::check().unwrap();
    let after = global::stats();
    assert_eq!(
        (after.bytes_in_use, after.bytes_in_thread_caches),
        (before.bytes_in_use, before.bytes_in_thread_caches),
        "every block came back: before {before:?}, after {after:?}"
    );
}

#[test]
fn a_reentrant_call_in_every_slow_path_of_a_heap_instance_is_served() {
    reentry::set(Some(reenter));
    let heap = Heap::new();
    let hp = &heap as *const Heap as usize;
    std::thread::spawn(move || {
        MODE.with(|m| m.set(INSTANCE));
        REENTRY_HEAP.with(|h| h.set(hp as *const Heap));
        // SAFETY: the heap outlives this thread (joined below).
        let heap = unsafe { &*(hp as *const Heap) };
        every_slow_path(
            // SAFETY: layouts of non-zero size; blocks freed with their layout.
            |l| unsafe { heap.alloc(l) },
            // SAFETY: as above.
            |p, l| unsafe { heap.dealloc(p, l) },
        );
        heap.flush_thread_cache();
        // A second round attaches a fresh cache, flushed at exit.
        every_slow_path(
            // SAFETY: as above.
            |l| unsafe { heap.alloc(l) },
            // SAFETY: as above.
            |p, l| unsafe { heap.dealloc(p, l) },
        );
    })
    .join()
    .unwrap();
    assert_every_site_served(INSTANCE);
    heap.check().unwrap();
    let s = heap.stats();
    assert_eq!((s.bytes_in_use, s.bytes_in_thread_caches), (0, 0), "{s:?}");
}

#[test]
fn threads_whose_exit_hook_cannot_be_armed_run_uncached_and_leave_nothing() {
    let _serial = PROCESS_HEAP_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    let before = global::stats();
    let heap = Heap::new();
    let hp = &heap as *const Heap as usize;
    // Under Miri each thread's two passes take minutes; two threads still
    // run them concurrently.
    let nthreads = if cfg!(miri) { 2 } else { 8 };
    let threads: Vec<_> = (0..nthreads)
        .map(|_| {
            std::thread::spawn(move || {
                crate::thread_exit::test_seam::fail_arm_on_this_thread();
                // SAFETY: the heap outlives these threads (joined below).
                let heap = unsafe { &*(hp as *const Heap) };
                every_slow_path(
                    // SAFETY: layouts of non-zero size; freed with their layout.
                    |l| unsafe { heap.alloc(l) },
                    // SAFETY: as above.
                    |p, l| unsafe { heap.dealloc(p, l) },
                );
                every_slow_path(
                    // SAFETY: as above, on the process-wide heap.
                    |l| unsafe { global::Memalloc.alloc(l) },
                    // SAFETY: as above.
                    |p, l| unsafe { global::Memalloc.dealloc(p, l) },
                );
                // Uncached for good, on both bindings.
                assert!(crate::heap::thread_state_for_tests() == DEAD);
                assert!(global::thread_state_for_tests() == DEAD);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(
        heap.attached_caches_for_tests() == 0,
        "no cache was attached"
    );
    let s = heap.stats();
    assert_eq!((s.bytes_in_use, s.bytes_in_thread_caches), (0, 0), "{s:?}");
    heap.check().unwrap();
    drop(heap);
    let after = global::stats();
    assert_eq!(
        (after.bytes_in_use, after.bytes_in_thread_caches),
        (before.bytes_in_use, before.bytes_in_thread_caches),
        "uncached threads leave nothing in the process-wide heap"
    );
    global::check().unwrap();
}
