//! loom models of the handoff between thread caches and the central heap.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test` (README). Each model builds a
//! fresh central heap per iteration with `ModelHeap::new()`, whose lock and
//! state are loom's, and gives every loom thread its own `ThreadCache` —
//! the same cache/central source the real allocator runs. Models are small
//! (two threads, a few operations) and check conservation: no block is
//! handed out twice, none is lost, and the heap invariants hold at the end.
//! The preemption bound is set here so the plain command stays bounded.
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use memalloc::loom_api::{ModelHeap, ThreadCache, init_once};
use std::collections::HashSet;
use std::sync::Mutex as CheckerMutex;

/// A model run with a preemption bound (overridable with LOOM_MAX_PREEMPTIONS).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    b.check(f);
}

/// The shadow set of blocks currently handed out. A std mutex: it is only a
/// checker, and holding it never spans a loom operation.
#[derive(Default)]
struct Live(CheckerMutex<HashSet<usize>>);

impl Live {
    fn handed_out(&self, p: *mut u8) {
        assert!(!p.is_null(), "allocation failed");
        assert!(
            self.0.lock().unwrap().insert(p as usize),
            "block {p:p} handed out twice"
        );
    }
    fn returned(&self, p: *mut u8) {
        assert!(
            self.0.lock().unwrap().remove(&(p as usize)),
            "block {p:p} freed but not live"
        );
    }
}

/// Everything went back: no block in use, none cached, invariants hold.
fn assert_conserved(heap: &ModelHeap) {
    heap.check().unwrap();
    heap.trim();
    let s = heap.stats();
    assert_eq!(s.bytes_in_use, 0, "{s:?}");
    assert_eq!(s.bytes_in_thread_caches, 0, "{s:?}");
    assert_eq!(s.bytes_in_central_batches, 0, "{s:?}");
    assert_eq!(
        s.regions, 0,
        "every block came back, so every region could go: {s:?}"
    );
    heap.check().unwrap();
}

const CLASS: usize = 1; // 32-byte blocks

/// (a) Two threads allocate and free through their own caches while refill
/// and flush race on one size class.
#[test]
fn racing_refills_and_flushes_account_for_every_block() {
    model(|| {
        let heap = Arc::new(ModelHeap::new());
        let live = Arc::new(Live::default());
        let worker = |heap: Arc<ModelHeap>, live: Arc<Live>| {
            move || {
                let mut cache = ThreadCache::new();
                // SAFETY: `cache` is only used with `heap`; blocks are ours.
                unsafe {
                    let a = heap.alloc(&mut cache, CLASS); // refill: 1 block
                    live.handed_out(a);
                    let b = heap.alloc(&mut cache, CLASS); // refill: 2 blocks
                    live.handed_out(b);
                    live.returned(a);
                    heap.free(&mut cache, a, CLASS);
                    live.returned(b);
                    heap.free(&mut cache, b, CLASS); // overflow: flush
                    heap.flush(&mut cache);
                }
            }
        };
        let t = thread::spawn(worker(Arc::clone(&heap), Arc::clone(&live)));
        worker(Arc::clone(&heap), Arc::clone(&live))();
        t.join().unwrap();
        assert_conserved(&heap);
    });
}

/// (b) A block allocated on one thread is freed on another and flushed
/// there while the first thread refills.
#[test]
fn a_block_freed_on_another_thread_is_flushed_while_its_origin_refills() {
    model(|| {
        let heap = Arc::new(ModelHeap::new());
        let live = Arc::new(Live::default());
        let mut mine = ThreadCache::new();
        // SAFETY: as above.
        let p = unsafe { heap.alloc(&mut mine, CLASS) };
        live.handed_out(p);
        let p_addr = p as usize;
        let (h2, l2) = (Arc::clone(&heap), Arc::clone(&live));
        let t = thread::spawn(move || {
            let mut theirs = ThreadCache::new();
            let p = p_addr as *mut u8;
            l2.returned(p);
            // SAFETY: `p` is a live block of CLASS from `h2`.
            unsafe {
                h2.free(&mut theirs, p, CLASS);
                h2.flush(&mut theirs);
            }
        });
        // SAFETY: as above.
        unsafe {
            let q = heap.alloc(&mut mine, CLASS);
            live.handed_out(q);
            let r = heap.alloc(&mut mine, CLASS);
            live.handed_out(r);
            t.join().unwrap();
            for x in [q, r] {
                live.returned(x);
                heap.free(&mut mine, x, CLASS);
            }
            heap.flush(&mut mine);
        }
        assert_conserved(&heap);
    });
}

/// (c) A thread's exit flush races with another thread's refill and with
/// coalescing of large runs in the central heap.
#[test]
fn an_exit_flush_races_with_a_refill_and_with_coalescing() {
    model(|| {
        let heap = Arc::new(ModelHeap::new());
        let live = Arc::new(Live::default());
        // Two adjacent large runs, freed by different threads: one free
        // coalesces with the other's run whichever comes second.
        let l1 = heap.alloc_large(3 * 8192) as usize;
        let l2 = heap.alloc_large(3 * 8192) as usize;
        let (h2, lv2) = (Arc::clone(&heap), Arc::clone(&live));
        let exiting = thread::spawn(move || {
            let mut cache = ThreadCache::new();
            // SAFETY: as above; `l1` is a live large block.
            unsafe {
                let a = h2.alloc(&mut cache, CLASS);
                lv2.handed_out(a);
                lv2.returned(a);
                h2.free(&mut cache, a, CLASS);
                h2.free_large(l1 as *mut u8);
                h2.flush(&mut cache); // the thread-exit flush
            }
        });
        let mut cache = ThreadCache::new();
        // SAFETY: as above; `l2` is a live large block.
        unsafe {
            let b = heap.alloc(&mut cache, CLASS);
            live.handed_out(b);
            heap.free_large(l2 as *mut u8);
            live.returned(b);
            heap.free(&mut cache, b, CLASS);
            heap.flush(&mut cache);
        }
        exiting.join().unwrap();
        assert_conserved(&heap);
    });
}

/// (d, e) The once-publication behind the process-wide thread-exit hook:
/// two threads race to create it; both end up with one winner's value and
/// the loser's value is discarded exactly once.
#[test]
fn lazy_process_wide_hook_initialisation_publishes_one_value() {
    model(|| {
        let cell = Arc::new(AtomicUsize::new(0));
        let discarded = Arc::new(AtomicUsize::new(0));
        let run = |id: usize, cell: Arc<AtomicUsize>, discarded: Arc<AtomicUsize>| {
            move || {
                init_once(
                    &cell,
                    || id,
                    |_| {
                        discarded.fetch_add(1, Ordering::Relaxed);
                    },
                )
            }
        };
        let t = thread::spawn(run(1, Arc::clone(&cell), Arc::clone(&discarded)));
        let mine = run(2, Arc::clone(&cell), Arc::clone(&discarded))();
        let theirs = t.join().unwrap();
        assert_eq!(mine, theirs, "both threads use the same published value");
        assert_eq!(cell.load(Ordering::Relaxed), mine);
        let d = discarded.load(Ordering::Relaxed);
        assert!(d <= 1, "at most the loser's value is discarded");
    });
}
