//! memalloc against `std::alloc::System`, both called directly through
//! `GlobalAlloc` by the same generic workload code.
//!
//! `cargo bench -p memalloc-bench --bench alloc` (add
//! `-- --warm-up-time 1 --measurement-time 2` on a busy machine). Each group has a `memalloc` and a `system` function;
//! compare them within one run. The comparison with mimalloc and jemalloc is
//! the `memalloc-bench` workspace member (see README, "Benchmarks").

use std::alloc::{GlobalAlloc, System};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main,
};
use memalloc::Memalloc;
// The workloads are shared with the comparison suite, so figures of the two
// suites measure the same thing.
use memalloc_bench::raw;

/// Alloc+free of one size on one thread.
fn fastpath<A: GlobalAlloc>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, a: &A, size: usize) {
    g.bench_with_input(BenchmarkId::new(name, size), &size, |b, &size| {
        b.iter(|| raw::pair(a, size))
    });
}

/// A ring of 1000 live objects of 8–512 B; one step frees the oldest and
/// allocates a replacement.
fn churn<A: GlobalAlloc>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, a: &A) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut ring = raw::Ring::new(a, 1000, 8, 512, 0xb);
            let start = std::time::Instant::now();
            for _ in 0..iters {
                ring.step(a);
            }
            let d = start.elapsed();
            ring.free_all(a);
            d
        })
    });
}

/// Two threads, each allocating and freeing its own objects (16–256 B).
fn two_threads<A: GlobalAlloc + Sync>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, a: &A) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| raw::parallel_pairs(a, 2, iters.div_ceil(2)))
    });
}

/// One producer thread allocating messages of 16–512 B, one consumer thread
/// freeing them.
fn producer_consumer<A: GlobalAlloc + Sync>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    a: &A,
) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| raw::producer_consumer(a, 1, iters, 16, 512))
    });
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("fastpath");
    g.throughput(Throughput::Elements(1));
    for size in [16, 64, 256, 1024] {
        fastpath(&mut g, "memalloc", &Memalloc, size);
        fastpath(&mut g, "system", &System, size);
    }
    g.finish();

    let mut g = c.benchmark_group("churn_ring");
    g.throughput(Throughput::Elements(1));
    churn(&mut g, "memalloc", &Memalloc);
    churn(&mut g, "system", &System);
    g.finish();

    // Thread start-up is outside the timed part; each sample still spawns
    // threads, so use few, long samples.
    let mut g = c.benchmark_group("two_threads");
    g.throughput(Throughput::Elements(1))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10);
    two_threads(&mut g, "memalloc", &Memalloc);
    two_threads(&mut g, "system", &System);
    g.finish();

    let mut g = c.benchmark_group("producer_consumer");
    g.throughput(Throughput::Elements(1))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10);
    producer_consumer(&mut g, "memalloc", &Memalloc);
    producer_consumer(&mut g, "system", &System);
    g.finish();
}

criterion_group! {
    name = alloc;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(alloc);
