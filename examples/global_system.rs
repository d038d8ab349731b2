//! The `global` example's workload under `std::alloc::System`, for the
//! side-by-side figure that `global` prints.

#[global_allocator]
static GLOBAL: std::alloc::System = std::alloc::System;

#[path = "shared/workload.rs"]
mod workload;

fn main() {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2);
    let secs: u64 = std::env::var("MEMALLOC_EXAMPLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let ops = workload::run(threads, std::time::Duration::from_secs(secs));
    println!("ops/s {ops:.0}");
}
