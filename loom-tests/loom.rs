//! loom models of the handoff between thread caches and the central heap.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release --test loom`
//! (README). Each model builds a fresh central heap per iteration with
//! `ModelHeap::with_batch`, whose lock and state are loom's, and gives every
//! loom thread its own `ThreadCache`: the same cache/central source the real
//! allocator runs. The heap's batches are capped at 2 blocks and its batch
//! stack at one or two batches per class, so within a few operations whole
//! batches move between caches and the central stack, the stack fills, and
//! further batches overflow back to their spans.
//!
//! What the models cover:
//! - (a) refills and flushes racing on one class, each thread pushing and
//!   popping whole batches, and the second push overflowing to spans;
//! - (b) a block freed and flushed on another thread than its origin's;
//! - (c) a thread's exit flush racing with a refill and with coalescing of
//!   large runs, then cache-less calls after the exit flush;
//! - (d) the once-publication of the process-wide thread-exit hook;
//! - (e) a producer freeing whole batches that a consumer allocates;
//! - (f) a full batch stack overflowing to spans while another thread takes
//!   the stacked batch;
//! - (g) a span emptied (freed and coalesced with its neighbour) while
//!   another thread carves a new span of the same class;
//! - (h) the same across two classes: each class has its own lock, and the
//!   two threads meet only in the page heap, one returning an emptied span
//!   while the other takes a fresh one, possibly the run right beside it;
//! - (i) whole-heap operations (statistics, trim, the invariant walker),
//!   which take every lock in the lock order, racing a refill that holds
//!   its class lock while it takes the page-heap lock for a fresh span.
//!
//! Each checks conservation with a shadow set (no block handed out twice,
//! none freed that is not live), runs the heap's invariant walker, and ends
//! with every block back and every region unmapped ([`assert_conserved`]).
//!
//! Scheduling points: loom switches threads only at its own operations, and
//! sees only loom objects (the heap's lock and state cell), not the span
//! descriptors and blocks in mapped memory. The modelled lock
//! (`src/sync.rs`) follows every unlock with a scheduling point, so another
//! thread can run in the window right after an unlock: a write to span
//! descriptors or blocks that belongs inside the lock but follows it (a
//! batch link, a span's `used`) is then seen half done by that thread and
//! trips the invariant walker or the shadow set. A touch of the state cell
//! outside the lock is a loom causality violation either way.
//!
//! Models stay small (two threads, a few operations); the preemption bound
//! is 2 (set in [`model`]; 3 for (e), see there; `LOOM_MAX_PREEMPTIONS` overrides it). The planted
//! bugs in `loom-tests/mutants/` (run by `loom-tests/mutants/run.sh`) must
//! all be caught by these models.
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use memalloc::loom_api::{ModelHeap, ThreadCache, init_once};

#[path = "common.rs"]
mod common;
use common::{Live, assert_conserved, model, model_with_preemptions};

/// 32-byte blocks: spans of thousands of blocks, so spans stay partial.
const CLASS: usize = 1;
/// 32 KiB blocks: two per span, so two allocations fill a span.
const BIG_CLASS: usize = 39;
/// 28 KiB blocks: another class whose spans also come from the page heap.
const OTHER_BIG_CLASS: usize = 38;
/// Blocks per batch in every model heap.
const BATCH: u32 = 2;

/// A model heap whose class batches hold [`BATCH`] blocks and whose batch
/// stack keeps at most `stacked` batches per class.
fn small_heap(stacked: usize) -> Arc<ModelHeap> {
    let heap = ModelHeap::with_batch(BATCH, stacked);
    assert_eq!(heap.batch(CLASS), BATCH as usize);
    Arc::new(heap)
}

/// Allocates `n` blocks of `class` through `cache`, recording them live.
///
/// # Safety
/// `cache` is only used with `heap`.
unsafe fn take(
    heap: &ModelHeap,
    cache: &mut ThreadCache,
    live: &Live,
    class: usize,
    n: usize,
) -> Vec<usize> {
    (0..n)
        .map(|_| {
            // SAFETY: forwarded precondition.
            let p = unsafe { heap.alloc(cache, class) };
            live.handed_out(p);
            p as usize
        })
        .collect()
}

/// Frees `blocks` of `class` through `cache`, recording them returned.
///
/// # Safety
/// `cache` is only used with `heap`; `blocks` are live blocks of `class`
/// of `heap` that nothing uses any more.
unsafe fn give(
    heap: &ModelHeap,
    cache: &mut ThreadCache,
    live: &Live,
    class: usize,
    blocks: &[usize],
) {
    for &p in blocks {
        live.returned(p as *mut u8);
        // SAFETY: forwarded precondition.
        unsafe { heap.free(cache, p as *mut u8, class) };
    }
}

/// The churn of (a): two allocations (the second refill takes a whole batch,
/// popped from the stack if one is there), both freed, then a flush that
/// gives back one whole batch (pushed, or returned to spans if the stack is
/// full) and one odd block.
fn churn(heap: Arc<ModelHeap>, live: Arc<Live>) -> impl FnOnce() {
    move || {
        let mut cache = ThreadCache::new();
        // SAFETY: `cache` is only used with `heap`; the blocks are ours.
        unsafe {
            let blocks = take(&heap, &mut cache, &live, CLASS, 2);
            give(&heap, &mut cache, &live, CLASS, &blocks);
            heap.flush(&mut cache);
        }
    }
}

/// (a) Two threads allocate and free through their own caches while refill
/// and flush race on one class: whole batches are pushed and popped, and
/// with a one-batch stack the later push overflows back to spans.
#[test]
fn racing_refills_and_flushes_move_whole_batches_and_account_for_every_block() {
    model(|| {
        let heap = small_heap(1);
        let live = Arc::new(Live::default());
        let t = common::spawn(churn(Arc::clone(&heap), Arc::clone(&live)));
        churn(Arc::clone(&heap), Arc::clone(&live))();
        t.join().unwrap();
        assert_conserved(&heap);
    });
}

/// (b) A block allocated on one thread is freed on another and flushed
/// there while the first thread refills a whole batch and flushes it.
#[test]
fn a_block_freed_on_another_thread_is_flushed_while_its_origin_refills() {
    model(|| {
        let heap = small_heap(1);
        let live = Arc::new(Live::default());
        let mut mine = ThreadCache::new();
        // SAFETY: `mine` is only used with `heap`.
        let p = unsafe { take(&heap, &mut mine, &live, CLASS, 1) };
        let (h2, l2) = (Arc::clone(&heap), Arc::clone(&live));
        let t = common::spawn(move || {
            let mut theirs = ThreadCache::new();
            // SAFETY: `p` is a live block of CLASS from `h2`; `theirs` is
            // only used with `h2`.
            unsafe {
                give(&h2, &mut theirs, &l2, CLASS, &p);
                h2.flush(&mut theirs);
            }
        });
        // SAFETY: as above.
        unsafe {
            let qr = take(&heap, &mut mine, &live, CLASS, 2);
            t.join().unwrap();
            give(&heap, &mut mine, &live, CLASS, &qr);
            heap.flush(&mut mine);
        }
        assert_conserved(&heap);
    });
}

/// (c) A thread's exit flush (which pushes a whole batch) races with another
/// thread's refill and with coalescing of large runs; after its exit flush
/// the thread still allocates and frees one block without a cache, as a
/// late destructor would.
#[test]
fn an_exit_flush_races_with_a_refill_and_with_coalescing() {
    model(|| {
        let heap = small_heap(1);
        let live = Arc::new(Live::default());
        // Two adjacent large runs, freed by different threads: one free
        // coalesces with the other's run whichever comes second.
        let l1 = heap.alloc_large(3 * 8192) as usize;
        let l2 = heap.alloc_large(3 * 8192) as usize;
        let (h2, lv2) = (Arc::clone(&heap), Arc::clone(&live));
        let exiting = common::spawn(move || {
            let mut cache = ThreadCache::new();
            // SAFETY: `cache` is only used with `h2`; `l1` is a live large
            // block; the blocks are ours.
            unsafe {
                let ab = take(&h2, &mut cache, &lv2, CLASS, 2);
                give(&h2, &mut cache, &lv2, CLASS, &ab);
                h2.free_large(l1 as *mut u8);
                h2.flush(&mut cache); // the thread-exit flush
                let late = h2.alloc_uncached(CLASS);
                lv2.handed_out(late);
                lv2.returned(late);
                h2.free_uncached(late, CLASS);
            }
        });
        let mut cache = ThreadCache::new();
        // SAFETY: `cache` is only used with `heap`; `l2` is a live large block.
        unsafe {
            let b = take(&heap, &mut cache, &live, CLASS, 1);
            heap.free_large(l2 as *mut u8);
            give(&heap, &mut cache, &live, CLASS, &b);
            heap.flush(&mut cache);
        }
        exiting.join().unwrap();
        assert_conserved(&heap);
    });
}

/// (e) A producer frees blocks it did not allocate until its cache overflows
/// a whole batch onto the central stack (on top of a batch already there),
/// while a consumer allocates: the consumer's batch refill takes the
/// producer's batch whenever it is on top, and the consumer's own flush
/// pushes a batch back.
///
/// Three preemptions: the producer's slow start first gives a partial batch
/// back to the spans, so its whole-batch push comes at its second central
/// exchange, and a pop by the consumer right after that push's unlock (the
/// race this model is for) lies one preemption deeper than the default.
#[test]
fn whole_batches_freed_by_a_producer_are_allocated_by_a_consumer() {
    model_with_preemptions(3, || {
        let heap = small_heap(2);
        let live = Arc::new(Live::default());
        let mut origin = ThreadCache::new();
        // SAFETY: `origin` is only used with `heap`. Its flush pushes one
        // whole batch of blocks other than `made`.
        let made = unsafe {
            let made = take(&heap, &mut origin, &live, CLASS, 4);
            let stacked = take(&heap, &mut origin, &live, CLASS, 2);
            give(&heap, &mut origin, &live, CLASS, &stacked);
            heap.flush(&mut origin);
            made
        };
        assert_eq!(heap.stats().bytes_in_central_batches, 2 * 32);
        let (h2, l2) = (Arc::clone(&heap), Arc::clone(&live));
        let producer = common::spawn(move || {
            let mut cache = ThreadCache::new();
            // SAFETY: `made` are live blocks of CLASS from `h2`, now ours;
            // `cache` is only used with `h2`. The fourth free overflows a
            // whole batch.
            unsafe {
                give(&h2, &mut cache, &l2, CLASS, &made);
                h2.flush(&mut cache);
            }
        });
        let mut cache = ThreadCache::new();
        // SAFETY: `cache` is only used with `heap`.
        unsafe {
            let got = take(&heap, &mut cache, &live, CLASS, 3);
            give(&heap, &mut cache, &live, CLASS, &got);
            heap.flush(&mut cache);
        }
        producer.join().unwrap();
        assert_conserved(&heap);
    });
}

/// (f) The one-batch stack is full; one thread's flush pushes another whole
/// batch, which must overflow back to its spans, while the other thread's
/// refill takes the stacked batch.
#[test]
fn a_full_batch_stack_overflows_to_spans_while_another_thread_takes_a_batch() {
    model(|| {
        let heap = small_heap(1);
        let live = Arc::new(Live::default());
        let mut origin = ThreadCache::new();
        // SAFETY: `origin` is only used with `heap`. Its flush pushes one
        // whole batch, filling the stack.
        unsafe {
            let pre = take(&heap, &mut origin, &live, CLASS, 2);
            give(&heap, &mut origin, &live, CLASS, &pre);
            heap.flush(&mut origin);
        }
        assert_eq!(heap.stats().bytes_in_central_batches, 2 * 32);
        let t = common::spawn(churn(Arc::clone(&heap), Arc::clone(&live)));
        let mut cache = ThreadCache::new();
        // SAFETY: `cache` is only used with `heap`.
        unsafe {
            let got = take(&heap, &mut cache, &live, CLASS, 2);
            heap.check().unwrap();
            t.join().unwrap();
            give(&heap, &mut cache, &live, CLASS, &got);
            heap.flush(&mut cache);
        }
        assert_conserved(&heap);
    });
}

/// Fills a span of two [`BIG_CLASS`] blocks, then spawns a thread that
/// frees both without a cache, so the span empties and its run goes back to
/// the page heap (models (g) and (h)).
fn empty_a_full_span_on_another_thread(
    heap: &Arc<ModelHeap>,
    live: &Arc<Live>,
) -> loom::thread::JoinHandle<()> {
    let full: Vec<usize> = (0..2)
        .map(|_| {
            let p = heap.alloc_uncached(BIG_CLASS);
            live.handed_out(p);
            p as usize
        })
        .collect();
    let (h2, l2) = (Arc::clone(heap), Arc::clone(live));
    common::spawn(move || {
        for p in full {
            l2.returned(p as *mut u8);
            // SAFETY: a live block of BIG_CLASS from `h2`.
            unsafe { h2.free_uncached(p as *mut u8, BIG_CLASS) };
        }
    })
}

/// (g) A span of two big blocks is full; one thread frees both without a
/// cache, so the span empties and its run is freed and coalesced with the
/// free run beside it, while the other thread's refill carves a fresh span
/// of the same class (from the pages right beside it, or the same pages).
#[test]
fn an_emptied_span_coalesces_while_another_thread_carves_the_same_class() {
    model(|| {
        let heap = small_heap(1);
        let live = Arc::new(Live::default());
        let t = empty_a_full_span_on_another_thread(&heap, &live);
        let mut cache = ThreadCache::new();
        // SAFETY: `cache` is only used with `heap`.
        unsafe {
            let b = take(&heap, &mut cache, &live, BIG_CLASS, 1);
            heap.check().unwrap();
            give(&heap, &mut cache, &live, BIG_CLASS, &b);
            heap.flush(&mut cache);
        }
        t.join().unwrap();
        assert_conserved(&heap);
    });
}

/// (h) As (g), across two classes: the span of two big blocks empties on
/// one thread (under its class lock, then the page-heap lock) while the
/// other thread, under another class's lock, takes a fresh span from the
/// page heap: the run right beside the emptied span, or its very pages.
/// Only the page-heap lock orders them.
#[test]
fn spans_of_two_classes_are_returned_and_carved_through_one_page_heap() {
    model(|| {
        let heap = small_heap(1);
        let live = Arc::new(Live::default());
        let t = empty_a_full_span_on_another_thread(&heap, &live);
        let p = heap.alloc_uncached(OTHER_BIG_CLASS);
        live.handed_out(p);
        heap.check().unwrap();
        live.returned(p);
        // SAFETY: a live block of OTHER_BIG_CLASS from `heap`.
        unsafe { heap.free_uncached(p, OTHER_BIG_CLASS) };
        t.join().unwrap();
        assert_conserved(&heap);
    });
}

/// (i) One thread refills a class whose first refill needs a fresh span
/// (class lock, then the page-heap lock inside it) and flushes; the other
/// takes a statistics snapshot, trims and walks the invariants, each of
/// which takes every lock of the heap, in the lock order.
#[test]
fn whole_heap_operations_race_a_refill_that_takes_a_fresh_span() {
    model(|| {
        let heap = small_heap(1);
        let live = Arc::new(Live::default());
        let t = common::spawn(churn(Arc::clone(&heap), Arc::clone(&live)));
        // The churn refills at most three blocks (one, then a batch of two),
        // and a snapshot never sees more come back than went out.
        let s = heap.stats();
        assert!(s.bytes_in_use <= 3 * 32, "{s:?}");
        assert!(s.small_blocks_flushed <= s.small_blocks_refilled, "{s:?}");
        heap.trim();
        heap.check().unwrap();
        t.join().unwrap();
        assert_conserved(&heap);
    });
}

/// (d) The once-publication behind the process-wide thread-exit hook:
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
        let t = common::spawn(run(1, Arc::clone(&cell), Arc::clone(&discarded)));
        let mine = run(2, Arc::clone(&cell), Arc::clone(&discarded))();
        let theirs = t.join().unwrap();
        assert_eq!(mine, theirs, "both threads use the same published value");
        assert_eq!(cell.load(Ordering::Relaxed), mine);
        let d = discarded.load(Ordering::Relaxed);
        assert!(d <= 1, "at most the loser's value is discarded");
    });
}
