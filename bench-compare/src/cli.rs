//! The command line shared by the `ga_*` examples (one per allocator, each
//! installing it as `#[global_allocator]`).
//!
//! ```text
//! ga_<alloc> throughput [--quick] [--repeat N]   (c) (d) (f) (g) (h) (i) (j), ops/s
//! ga_<alloc> memory fragment|threadchurn|threadchurn-single [--quick]
//! ga_<alloc> time btreemap|server ITERS          one timed chunk (for criterion)
//! ga_<alloc> pairs N SIZE                        N alloc+free pairs of SIZE bytes
//!                                                (for callgrind: instructions per pair)
//! ga_<alloc> bursts THREADS OBJECTS              (i) alone
//! ga_<alloc> rings THREADS STEPS SIZE            a ring of 1000 SIZE-byte blocks per thread
//! ```
//!
//! Every result is one line of `key=value` fields after a record name:
//!
//! ```text
//! ga alloc=memalloc workload=larson threads=4 ops=2000000 secs=0.412 ops_per_sec=4854368
//! locks alloc=memalloc workload=larson threads=4 ops=6000000 secs=1.236 class_acq=… class_cont=… class_hold_ns=… page_acq=… page_cont=… page_hold_ns=…
//! mem alloc=memalloc scenario=fragment start_rss_kib=2100 peak_rss_kib=812000 end_rss_kib=9000 idle_rss_kib=9000 nudged_rss_kib=6000 secs=1.9
//! nanos=123456
//! ```

use std::time::{Duration, Instant};

use crate::{ga, mem, raw, server};

/// Sizes of one run.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub larson_ops: u64,
    pub prodcon_msgs: u64,
    pub btree_keys: usize,
    pub server_requests: u64,
    pub server_time: Duration,
    pub fragment_bytes: usize,
    pub churn_threads: usize,
    /// (f) on 1–8 threads: buffers in all.
    pub large_buffers: u64,
    /// (i): 16 B objects allocated and freed, in all.
    pub burst_objects: u64,
    /// (j): short-lived threads in all.
    pub thread_churn_threads: usize,
}

impl Sizes {
    pub const FULL: Sizes = Sizes {
        larson_ops: 10_000_000,
        prodcon_msgs: 500_000,
        btree_keys: 500_000,
        server_requests: 10_000,
        server_time: Duration::from_secs(10),
        fragment_bytes: 512 << 20,
        churn_threads: 2000,
        large_buffers: 64,
        burst_objects: 4_000_000,
        thread_churn_threads: 2000,
    };
    pub const QUICK: Sizes = Sizes {
        larson_ops: 1_000_000,
        prodcon_msgs: 50_000,
        btree_keys: 50_000,
        server_requests: 1_000,
        server_time: Duration::from_secs(3),
        fragment_bytes: 64 << 20,
        churn_threads: 200,
        large_buffers: 16,
        burst_objects: 400_000,
        thread_churn_threads: 200,
    };
}

/// Thread counts of (c), of (f) and (i) on several threads, and threads
/// alive at a time in (j); pair counts of (d).
pub const LARSON_THREADS: [usize; 4] = [1, 2, 4, 8];
pub const PRODCON_PAIRS: [usize; 2] = [1, 3];
/// Server pool threads and client threads of (h).
pub const SERVER_WORKERS: usize = 4;
pub const SERVER_CLIENTS: usize = 4;
/// Alloc/free per thread, and threads alive at once, in threadchurn.
pub const CHURN_OPS: usize = 10_000;
pub const CHURN_ALIVE: usize = 8;

fn usage(bin: &str) -> ! {
    eprintln!(
        "usage: {bin} throughput [--quick] [--repeat N]\n       {bin} memory fragment|threadchurn|threadchurn-single [--quick]\n       {bin} time btreemap|server ITERS\n       {bin} pairs N SIZE\n       {bin} bursts THREADS OBJECTS\n       {bin} rings THREADS STEPS SIZE"
    );
    std::process::exit(2)
}

/// `main` of a `ga_*` example; `alloc` names its global allocator.
pub fn ga_main(alloc: &str) {
    let args: Vec<String> = std::env::args().collect();
    let bin = args.first().map(String::as_str).unwrap_or("ga");
    let quick = args.iter().any(|a| a == "--quick");
    let sizes = if quick { Sizes::QUICK } else { Sizes::FULL };
    match args.get(1).map(String::as_str) {
        Some("throughput") => {
            let repeat = args
                .iter()
                .position(|a| a == "--repeat")
                .and_then(|i| args.get(i + 1))
                .map(|n| n.parse().unwrap_or_else(|_| usage(bin)))
                .unwrap_or(1);
            throughput(alloc, sizes, repeat)
        }
        Some("memory") => match args.get(2).map(String::as_str) {
            Some(s @ ("fragment" | "threadchurn" | "threadchurn-single")) => {
                memory(alloc, s, sizes)
            }
            _ => usage(bin),
        },
        Some("time") => {
            let iters: u64 = number_arg(&args, 3, bin);
            let d = match args.get(2).map(String::as_str) {
                Some("btreemap") => {
                    let start = Instant::now();
                    for i in 0..iters {
                        ga::btreemap(1000, i);
                    }
                    start.elapsed()
                }
                Some("server") => server_run(iters, Duration::from_secs(60)).1,
                _ => usage(bin),
            };
            println!("nanos={}", d.as_nanos());
        }
        Some("pairs") => {
            ga::pairs(number_arg(&args, 2, bin), number_arg(&args, 3, bin));
        }
        Some("bursts") => {
            let threads: usize = number_arg(&args, 2, bin);
            let objects: u64 = number_arg(&args, 3, bin);
            let d = ga::bursts(threads, objects);
            println!(
                "threads={threads} objects={objects} nanos={} objects_per_sec={:.0}",
                d.as_nanos(),
                objects as f64 / d.as_secs_f64()
            );
        }
        Some("rings") => {
            let threads: usize = number_arg(&args, 2, bin);
            let steps: u64 = number_arg(&args, 3, bin);
            let size: usize = number_arg(&args, 4, bin);
            let d = ga::rings(threads, steps, size);
            let ops = steps * threads as u64;
            println!(
                "threads={threads} steps={steps} size={size} nanos={} steps_per_sec={:.0}",
                d.as_nanos(),
                ops as f64 / d.as_secs_f64()
            );
        }
        _ => usage(bin),
    }
}

/// The number in `args[i]`, or the usage message and exit.
fn number_arg<T: std::str::FromStr>(args: &[String], i: usize, bin: &str) -> T {
    args.get(i)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| usage(bin))
}

fn server_run(requests: u64, time_limit: Duration) -> (u64, Duration) {
    server::run(server::ServerConfig {
        workers: SERVER_WORKERS,
        clients: SERVER_CLIENTS,
        requests,
        time_limit,
    })
}

/// Runs `f` `repeat` times and prints the run with the median rate.
fn measure(
    alloc: &str,
    workload: &str,
    threads: usize,
    repeat: usize,
    mut f: impl FnMut() -> (u64, Duration),
) {
    let before = (alloc == "memalloc").then(memalloc::stats);
    let mut runs: Vec<(f64, u64, Duration)> = (0..repeat.max(1))
        .map(|_| {
            let (ops, d) = f();
            (ops as f64 / d.as_secs_f64(), ops, d)
        })
        .collect();
    if let Some(b) = before {
        let a = memalloc::stats();
        let ops: u64 = runs.iter().map(|r| r.1).sum();
        let secs: f64 = runs.iter().map(|r| r.2.as_secs_f64()).sum();
        println!(
            "locks alloc={alloc} workload={workload} threads={threads} ops={ops} secs={secs:.3} class_acq={} class_cont={} class_hold_ns={} page_acq={} page_cont={} page_hold_ns={}",
            a.class_lock_acquisitions - b.class_lock_acquisitions,
            a.class_lock_contended - b.class_lock_contended,
            a.class_lock_hold_ns - b.class_lock_hold_ns,
            a.page_lock_acquisitions - b.page_lock_acquisitions,
            a.page_lock_contended - b.page_lock_contended,
            a.page_lock_hold_ns - b.page_lock_hold_ns,
        );
    }
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (rate, ops, d) = runs[runs.len() / 2];
    println!(
        "ga alloc={alloc} workload={workload} threads={threads} ops={ops} secs={:.3} ops_per_sec={rate:.0}",
        d.as_secs_f64()
    );
}

/// [`measure`] after one untimed run, so that the first timed run does not
/// pay for faulting in memory that the following ones reuse (the steady
/// state criterion's warm-up reaches in the `GlobalAlloc` suite).
fn measure_warm(
    alloc: &str,
    workload: &str,
    threads: usize,
    repeat: usize,
    mut f: impl FnMut() -> (u64, Duration),
) {
    f();
    measure(alloc, workload, threads, repeat, f)
}

fn throughput(alloc: &str, s: Sizes, repeat: usize) {
    for t in LARSON_THREADS {
        measure(alloc, "larson", t, repeat, || {
            (s.larson_ops, ga::larson(t, s.larson_ops))
        });
    }
    for p in PRODCON_PAIRS {
        measure(alloc, "prodcon", 2 * p, repeat, || {
            (
                p as u64 * s.prodcon_msgs,
                ga::producer_consumer(p, s.prodcon_msgs),
            )
        });
    }
    for t in LARSON_THREADS {
        measure_warm(alloc, "large", t, repeat, || {
            (s.large_buffers, ga::large(t, s.large_buffers))
        });
    }
    for t in LARSON_THREADS {
        measure_warm(alloc, "bursts", t, repeat, || {
            (s.burst_objects, ga::bursts(t, s.burst_objects))
        });
    }
    // ops = threads: the figure is short-lived threads per second.
    for alive in LARSON_THREADS {
        measure_warm(alloc, "threadchurn", alive, repeat, || {
            let n = s.thread_churn_threads;
            (n as u64, ga::thread_churn(alive, n, raw::THREAD_CHURN_OPS))
        });
    }
    measure(alloc, "btreemap", 1, repeat, || {
        let start = Instant::now();
        let ops = ga::btreemap(s.btree_keys, 7);
        (ops, start.elapsed())
    });
    measure(
        alloc,
        "server",
        SERVER_WORKERS + SERVER_CLIENTS,
        repeat,
        || server_run(s.server_requests, s.server_time),
    );
}

fn memory(alloc: &str, scenario: &str, s: Sizes) {
    let (start_rss, _) = mem::rss_kib();
    let start = Instant::now();
    match scenario {
        "fragment" => mem::fragment(s.fragment_bytes),
        "threadchurn" => mem::threadchurn(s.churn_threads, CHURN_ALIVE, CHURN_OPS),
        _ => mem::threadchurn_single(s.churn_threads, CHURN_OPS),
    }
    let secs = start.elapsed().as_secs_f64();
    let (end_rss, peak_rss) = mem::rss_kib();
    // Allocators return freed memory on their own schedules (memalloc: at
    // once above its dirty-page bound, the rest on the next page-heap
    // activity after 100 ms, with no thread of its own; mimalloc: a purge
    // delay; jemalloc: decay over seconds): measure after one idle second,
    // and again after one more 1 MiB allocation and free.
    std::thread::sleep(Duration::from_millis(1000));
    let (idle_rss, _) = mem::rss_kib();
    drop(std::hint::black_box(vec![1u8; 1 << 20]));
    let (nudged_rss, _) = mem::rss_kib();
    println!(
        "mem alloc={alloc} scenario={scenario} start_rss_kib={start_rss} peak_rss_kib={peak_rss} end_rss_kib={end_rss} idle_rss_kib={idle_rss} nudged_rss_kib={nudged_rss} secs={secs:.3}"
    );
}
