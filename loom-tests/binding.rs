//! loom models of the thread binding: the slot states (FRESH, BINDING,
//! ACTIVE, BUSY, DEAD), the exit flush, unarmed threads and calls that
//! re-enter memalloc from inside a slow path.
//!
//! Each modelled thread owns a `ModelThread` (the process-wide binding's
//! `CacheSlot`, over a loom-checked central heap) and allocates through the
//! real front end. The slot's cache is a loom cell, so a second access to a
//! cache while a slow path holds it (a re-entrant call that was not sent to
//! the central heap) fails with "currently writing to cell". Models end
//! with a conservation check: no block handed out twice, every block back,
//! nothing left in a cache.
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use memalloc::loom_api::{ModelHeap, ModelHeapThread, ModelRegistry, ModelThread, reentered};

#[path = "common.rs"]
mod common;
use common::{Live, assert_conserved, model};

const SIZE: usize = 16;
const DEAD: u8 = 3;

/// A thread frees a block of another thread's while that thread exits and
/// flushes; both then free once more after their exit (as a late TLS
/// destructor would), which must bypass the flushed caches.
#[test]
fn an_exit_flush_racing_a_cross_thread_free_strands_nothing() {
    model(|| {
        let heap = Arc::new(ModelHeap::with_batch(2, 1));
        let live = Arc::new(Live::default());
        let me = ModelThread::new(&heap, true);
        let (a, b, late) = (me.malloc(SIZE), me.malloc(SIZE), me.malloc(SIZE));
        for p in [a, b, late] {
            live.handed_out(p);
        }
        let (h2, l2, b_addr) = (Arc::clone(&heap), Arc::clone(&live), b as usize);
        let t = common::spawn(move || {
            let other = ModelThread::new(&h2, true);
            let c = other.malloc(SIZE);
            l2.handed_out(c);
            l2.returned(b_addr as *mut u8);
            // SAFETY: `b` is a live block of this heap, freed once.
            unsafe { other.free(b_addr as *mut u8, SIZE) };
            other.exit();
            assert_eq!(other.state(), DEAD);
            l2.returned(c);
            // SAFETY: `c` is live; freed once, after the exit flush.
            unsafe { other.free(c, SIZE) };
        });
        live.returned(a);
        // SAFETY: `a` is ours and live.
        unsafe { me.free(a, SIZE) };
        me.exit();
        live.returned(late);
        // SAFETY: `late` is live; freed once, after the exit flush.
        unsafe { me.free(late, SIZE) };
        t.join().unwrap();
        assert_conserved(&heap);
    });
}

/// Every slow path re-enters: the first use (binding), a miss (refill), an
/// over-full list (overflow), and the exit flush each make a malloc and a
/// free on the same thread from inside, while another thread does the same.
#[test]
fn a_reentrant_call_inside_every_slow_path_is_served_without_the_cache() {
    model(|| {
        let heap = Arc::new(ModelHeap::with_batch(2, 1));
        let live = Arc::new(Live::default());
        let work = |heap: Arc<ModelHeap>, live: Arc<Live>| {
            move || {
                let t = ModelThread::new(&heap, true);
                // SAFETY: `t` lives until the end of this closure, on this thread.
                unsafe { t.reenter_from_slow_paths() };
                let before = reentered();
                let a = t.malloc(SIZE); // binding + refill
                live.handed_out(a);
                let b = t.malloc(SIZE); // refill
                live.handed_out(b);
                for p in [a, b] {
                    live.returned(p);
                    // SAFETY: live blocks of this heap, freed once.
                    unsafe { t.free(p, SIZE) }; // the second overflows
                }
                t.exit(); // exit + flush
                assert!(reentered() > before, "the slow paths re-entered");
            }
        };
        let other = common::spawn(work(Arc::clone(&heap), Arc::clone(&live)));
        work(Arc::clone(&heap), Arc::clone(&live))();
        other.join().unwrap();
        assert_conserved(&heap);
    });
}

/// A thread whose exit hook cannot be armed runs uncached: its frees go
/// straight to the central heap, so nothing is left when it ends without
/// an exit flush, while another thread uses its blocks and its cache.
#[test]
fn a_thread_whose_exit_hook_cannot_be_armed_strands_nothing() {
    model(|| {
        let heap = Arc::new(ModelHeap::with_batch(2, 1));
        let live = Arc::new(Live::default());
        let (h2, l2) = (Arc::clone(&heap), Arc::clone(&live));
        let unarmed = common::spawn(move || {
            let t = ModelThread::new(&h2, false);
            let a = t.malloc(SIZE);
            l2.handed_out(a);
            let b = t.malloc(SIZE);
            l2.handed_out(b);
            assert_eq!(t.state(), DEAD, "uncached for good");
            for p in [a, b] {
                l2.returned(p);
                // SAFETY: live blocks of this heap, freed once.
                unsafe { t.free(p, SIZE) };
            }
            t.exit(); // no hook runs: nothing may be left behind
        });
        let t = ModelThread::new(&heap, true);
        let c = t.malloc(SIZE);
        live.handed_out(c);
        live.returned(c);
        // SAFETY: a live block of this heap, freed once.
        unsafe { t.free(c, SIZE) };
        t.exit();
        unarmed.join().unwrap();
        assert_conserved(&heap);
    });
}

/// `Heap::drop` races the exit of a thread that used the heap: the thread
/// is done with the heap (it said so), but its exit hook, which detaches
/// and flushes its cache for that heap, runs while the heap is dropped.
/// Whichever takes the registry first, the other must find nothing of the
/// heap left to touch: no write into a dropped heap, no cache left on a
/// thread's list, no heap left listed.
#[test]
fn a_heap_drop_racing_a_thread_exit_touches_nothing_of_the_other() {
    model(|| {
        let reg = Arc::new(ModelRegistry::new());
        // SAFETY: `reg` outlives the heap, dropped below.
        let heap = unsafe { reg.new_heap() };
        let done = Arc::new(AtomicBool::new(false));
        let (r2, d2, heap_addr) = (
            Arc::clone(&reg),
            Arc::clone(&done),
            &heap as *const _ as usize,
        );
        let t = common::spawn(move || {
            let me = ModelHeapThread::new();
            // SAFETY: the heap is alive until `done` is seen (below).
            let heap = unsafe { &*(heap_addr as *const memalloc::Heap) };
            let (a, b) = (me.malloc(heap, SIZE), me.malloc(heap, SIZE));
            assert!(!a.is_null() && !b.is_null() && a != b);
            // SAFETY: live blocks of `heap`, freed once: they stay cached.
            unsafe {
                me.free(heap, a, SIZE);
                me.free(heap, b, SIZE);
            }
            d2.store(true, Ordering::Release);
            me.exit(&r2); // races the drop
            assert_eq!(
                me.cache_count(&r2),
                0,
                "a cache stayed on the thread's list"
            );
        });
        let me = ModelHeapThread::new();
        let c = me.malloc(&heap, SIZE);
        // SAFETY: a live block of `heap`, freed once.
        unsafe { me.free(&heap, c, SIZE) };
        while !done.load(Ordering::Acquire) {
            thread::yield_now();
        }
        drop(heap);
        assert_eq!(reg.heap_count(), 0);
        assert_eq!(me.cache_count(&reg), 0, "the drop detached our cache");
        me.exit(&reg);
        t.join().unwrap();
    });
}
