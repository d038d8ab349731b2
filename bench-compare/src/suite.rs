//! The comparison suite (a)–(f), (i), (j): memalloc, `System`, mimalloc and
//! jemalloc called directly through their `GlobalAlloc` impls by the same
//! generic workload code ([`crate::raw`]), one criterion function per
//! allocator (`memalloc`, `system`, `mimalloc`, `jemalloc`) in every group.
//!
//! What is timed: only calls made through the allocator under test. The
//! process's own global allocator is `System`, and everything it allocates
//! (criterion, slot arrays, queues) is set up outside the timed part. The
//! exception is (j), whose point is the life of a thread: its time includes
//! spawning and joining the threads, the same code for every allocator. One
//! iteration is one operation: an alloc+free pair (a), one ring step (b), one
//! slot replacement (c), one message (d), one growth sequence (e), one large
//! buffer (f), one 16 B object allocated and freed (i), one short-lived
//! thread (j).
//!
//! Run by `benches/compare.rs` (`cargo bench -p memalloc-bench --bench
//! compare`) and in-process by the `report` example.

use std::alloc::{GlobalAlloc, System};
use std::time::Instant;

use crate::raw;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};
use memalloc::Memalloc;
use mimalloc::MiMalloc;
use tikv_jemallocator::Jemalloc;

type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// Runs `$f(&mut group, name, &allocator, args...)` for each allocator.
macro_rules! each_allocator {
    ($g:expr, $f:ident $(, $arg:expr)*) => {
        $f(&mut $g, "memalloc", &Memalloc $(, $arg)*);
        $f(&mut $g, "system", &System $(, $arg)*);
        $f(&mut $g, "mimalloc", &MiMalloc $(, $arg)*);
        $f(&mut $g, "jemalloc", &Jemalloc $(, $arg)*);
    };
}

/// (a) alloc+free pairs of one size.
fn fastpath<A: GlobalAlloc>(g: &mut Group<'_>, name: &str, a: &A, size: usize) {
    g.bench_with_input(BenchmarkId::new(name, size), &size, |b, &size| {
        b.iter(|| raw::pair(a, size))
    });
}

/// (b) a ring of 1000 live objects of 8–512 B.
fn churn<A: GlobalAlloc>(g: &mut Group<'_>, name: &str, a: &A) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut ring = raw::Ring::new(a, 1000, 8, 512, 0xb);
            let start = Instant::now();
            for _ in 0..iters {
                ring.step(a);
            }
            let d = start.elapsed();
            ring.free_all(a);
            d
        })
    });
}

/// (c) larson-style with `threads` threads, arrays of 1000 objects of
/// 16–1024 B handed between threads.
fn larson<A: GlobalAlloc + Sync>(g: &mut Group<'_>, name: &str, a: &A, threads: usize) {
    g.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &threads| {
        b.iter_custom(|iters| {
            let l = raw::Larson::new(a, threads, 1000, 16, 1024);
            let d = l.run(a, threads, iters);
            l.free_all(a);
            d
        })
    });
}

/// (d) `pairs` producer/consumer pairs, messages of 16 B–4 KiB through a
/// bounded queue that itself allocates nothing.
fn prodcon<A: GlobalAlloc + Sync>(g: &mut Group<'_>, name: &str, a: &A, pairs: usize) {
    g.bench_with_input(BenchmarkId::new(name, pairs), &pairs, |b, &pairs| {
        b.iter_custom(|iters| {
            raw::producer_consumer(a, pairs, iters.div_ceil(pairs as u64), 16, 4096)
        })
    });
}

/// (e) `Vec`-style doubling growth by realloc to 1 B–1 MiB.
fn realloc_growth<A: GlobalAlloc>(g: &mut Group<'_>, name: &str, a: &A) {
    let targets = raw::grow_targets(64);
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters as usize {
                raw::grow(a, targets[i % targets.len()]);
            }
            start.elapsed()
        })
    });
}

/// (f) buffers of 64 KiB–32 MiB, one byte written per page.
fn large<A: GlobalAlloc>(g: &mut Group<'_>, name: &str, a: &A) {
    let sizes = raw::large_sizes(32);
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters as usize {
                raw::large(a, sizes[i % sizes.len()]);
            }
            start.elapsed()
        })
    });
}

/// (f) on `threads` threads.
fn large_threads<A: GlobalAlloc + Sync>(g: &mut Group<'_>, name: &str, a: &A, threads: usize) {
    let sizes = raw::large_sizes(32);
    g.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &threads| {
        b.iter_custom(|iters| raw::large_threads(a, threads, iters, &sizes))
    });
}

/// (i) bursts of 16 B tree nodes next to long-lived ones, on `threads`
/// threads.
fn bursts<A: GlobalAlloc + Sync>(g: &mut Group<'_>, name: &str, a: &A, threads: usize) {
    g.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &threads| {
        b.iter_custom(|iters| raw::bursts(a, threads, iters))
    });
}

/// (j) short-lived threads, `alive` at a time.
fn thread_churn<A: GlobalAlloc + Sync>(g: &mut Group<'_>, name: &str, a: &A, alive: usize) {
    g.bench_with_input(BenchmarkId::new(name, alive), &alive, |b, &alive| {
        b.iter_custom(|iters| raw::thread_churn(a, alive, iters, raw::THREAD_CHURN_OPS))
    });
}

/// All groups: (a)–(f) by [`compare`], then the central-tier groups of
/// [`central`]. Group names start with the workload's letter, function
/// names are the allocators', parameters are sizes, threads or pairs.
pub fn all(c: &mut Criterion) {
    compare(c);
    central(c);
}

/// The groups (a)–(f).
pub fn compare(c: &mut Criterion) {
    let mut g = c.benchmark_group("a_fastpath");
    g.throughput(Throughput::Elements(1));
    for size in [16, 64, 256, 1024, 4096] {
        each_allocator!(g, fastpath, size);
    }
    g.finish();

    let mut g = c.benchmark_group("b_churn");
    g.throughput(Throughput::Elements(1));
    each_allocator!(g, churn);
    g.finish();

    // Thread start-up is outside the timed part, but every sample spawns
    // threads: few, long samples.
    let mut g = c.benchmark_group("c_larson");
    g.throughput(Throughput::Elements(1))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10);
    for threads in [1, 2, 4, 8] {
        each_allocator!(g, larson, threads);
    }
    g.finish();

    let mut g = c.benchmark_group("d_prodcon");
    g.throughput(Throughput::Elements(1))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10);
    for pairs in [1, 3] {
        each_allocator!(g, prodcon, pairs);
    }
    g.finish();

    let mut g = c.benchmark_group("e_realloc_growth");
    g.throughput(Throughput::Elements(1))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10);
    each_allocator!(g, realloc_growth);
    g.finish();

    let mut g = c.benchmark_group("f_large");
    g.throughput(Throughput::Elements(1))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10);
    each_allocator!(g, large);
    g.finish();
}

/// Workloads that go through the central tier on every thread: (f) on 1, 2,
/// 4 and 8 threads, (i) bursts and (j) thread churn. Every sample spawns
/// threads, so these use few, long samples, as (c) does.
pub fn central(c: &mut Criterion) {
    let threads = [1, 2, 4, 8];

    let mut g = c.benchmark_group("f_large_threads");
    g.throughput(Throughput::Elements(1))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10);
    for t in threads {
        each_allocator!(g, large_threads, t);
    }
    g.finish();

    let mut g = c.benchmark_group("i_bursts");
    g.throughput(Throughput::Elements(1))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10);
    for t in threads {
        each_allocator!(g, bursts, t);
    }
    g.finish();

    // One iteration is one short-lived thread (`raw::THREAD_CHURN_OPS`
    // operations, then exit), including its spawn and join.
    let mut g = c.benchmark_group("j_thread_churn");
    g.throughput(Throughput::Elements(1))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10);
    for alive in threads {
        each_allocator!(g, thread_churn, alive);
    }
    g.finish();
}
