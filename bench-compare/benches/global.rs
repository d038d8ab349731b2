//! Workloads that allocate inside std collections — (g) `BTreeMap<String,
//! Vec<u64>>` and (h) the loopback server — with each allocator installed as
//! the `#[global_allocator]` of its own process.
//!
//! Stable Rust has no per-collection allocator, so these cannot call `A`
//! directly the way `compare` does. Instead each criterion function runs the
//! allocator's `ga_*` example (`ga_<alloc> time WORKLOAD ITERS`), which times
//! only the workload itself and prints `nanos=N`; process start-up is not
//! measured. One iteration: a build/lookup/drop of a 1000-key map (g); one
//! request answered (h; a 4-thread pool serving 4 client threads).
//!
//! The examples are built first (`cargo bench` does not build examples):
//!
//! ```text
//! cargo build --release -p memalloc-bench --examples
//! cargo bench -p memalloc-bench --bench global -- --warm-up-time 1 --measurement-time 2
//! ```

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

/// `target/release/examples/<name>`: this bench runs from
/// `target/release/deps/`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("bench executable path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>/deps");
    let path = dir.join("examples").join(name);
    if !path.exists() {
        eprintln!(
            "{} is missing: run `cargo build --release -p memalloc-bench --examples` first",
            path.display()
        );
        std::process::exit(1);
    }
    path
}

/// Runs one timed chunk of `iters` iterations in a child process.
fn child(bin: &PathBuf, workload: &str, iters: u64) -> Duration {
    let out = Command::new(bin)
        .args(["time", workload, &iters.to_string()])
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let nanos = stdout
        .lines()
        .find_map(|l| l.strip_prefix("nanos="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "{} time {workload} {iters}: no nanos= line ({})",
                bin.display(),
                out.status
            )
        });
    Duration::from_nanos(nanos)
}

fn benches(c: &mut Criterion) {
    let bins: Vec<(&str, PathBuf)> = memalloc_bench::ALLOCATORS
        .iter()
        .map(|&(name, ex)| (name, example(ex)))
        .collect();
    for (group, workload) in [("g_btreemap", "btreemap"), ("h_server", "server")] {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(1))
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10);
        for (name, bin) in &bins {
            g.bench_function(*name, |b| {
                b.iter_custom(|iters| child(bin, workload, iters))
            });
        }
        g.finish();
    }
}

criterion_group!(global, benches);
criterion_main!(global);
