//! memalloc as the global allocator of a multithreaded program: runs an
//! allocation-heavy workload for a few seconds, prints its throughput, the
//! same workload's throughput under `std::alloc::System` (the
//! `global_system` example, built and run as a child when started through
//! cargo), the RSS after a free-everything phase, and `print_stats()`.
//!
//! Run: `cargo run --release --example global`; as a static musl binary,
//! against musl's own malloc:
//! `cargo run --release --target x86_64-unknown-linux-musl --example global`.

#[global_allocator]
static GLOBAL: memalloc::Memalloc = memalloc::Memalloc;

#[path = "shared/workload.rs"]
mod workload;

use std::time::Duration;

fn main() {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2);
    let secs: u64 = std::env::var("MEMALLOC_EXAMPLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let ops = workload::run(threads, Duration::from_secs(secs));
    println!("memalloc: {threads} threads, {ops:.0} ops/s");

    if let Some(system_ops) = system_figure(secs) {
        // On musl, System is musl's own malloc.
        let name = if cfg!(target_env = "musl") {
            "musl malloc"
        } else {
            "system"
        };
        println!("{name}:   {threads} threads, {system_ops:.0} ops/s");
        println!("memalloc / {name} throughput: {:.2}x", ops / system_ops);
    }

    let (start, peak, after) = workload::free_everything_phase();
    std::thread::sleep(Duration::from_millis(
        memalloc::limits::PURGE_DELAY_MS + 100,
    ));
    // memalloc starts no purger thread: any page-heap free after the delay
    // runs the purge check (trim() would force it). What the dirty-page
    // bound returned at once shows in "right after freeing".
    drop(vec![0u8; 1 << 20]);
    let settled = workload::rss();
    memalloc::trim();
    let trimmed = workload::rss();
    let mib = |b: Option<usize>| match b {
        Some(b) => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
        None => "unavailable".to_string(),
    };
    if start.is_none() {
        println!("RSS: unavailable on this platform");
    } else {
        // On Windows this is the working set, which `MEM_RESET` pages
        // leave only when the system needs memory.
        println!(
            "RSS: start {}, peak {}, right after freeing {}, after the purge delay {}, after trim() {}",
            mib(start),
            mib(peak),
            mib(after),
            mib(settled),
            mib(trimmed)
        );
    }
    memalloc::print_stats();
}

/// Builds and runs the `global_system` example (same workload, System
/// allocator) when started through cargo; None otherwise, and on Windows,
/// where the example usually runs under a runner (wine) that cannot start
/// the host's cargo: run `global_system.exe` beside it there.
fn system_figure(secs: u64) -> Option<f64> {
    if cfg!(windows) {
        return None;
    }
    let cargo = std::env::var_os("CARGO")?;
    let profile = if cfg!(debug_assertions) {
        vec![]
    } else {
        vec!["--release"]
    };
    // The same target as this binary, so the two land side by side.
    let target = if cfg!(target_env = "musl") {
        vec![
            "--target".to_string(),
            format!("{}-unknown-linux-musl", std::env::consts::ARCH),
        ]
    } else {
        vec![]
    };
    let status = std::process::Command::new(&cargo)
        .args(["build", "--quiet", "--example", "global_system"])
        .args(&profile)
        .args(&target)
        .status()
        .ok()?;
    if !status.success() {
        return None;
    }
    let exe = std::env::current_exe()
        .ok()?
        .with_file_name("global_system");
    let out = std::process::Command::new(exe)
        .env("MEMALLOC_EXAMPLE_SECS", secs.to_string())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("ops/s ")?.trim().parse().ok())
}
