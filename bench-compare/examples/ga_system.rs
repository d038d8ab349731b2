//! The global-allocator and memory workloads with `std::alloc::System` as the process's
//! `#[global_allocator]`. See `memalloc_bench::cli` for the command line.

#[global_allocator]
static GLOBAL: std::alloc::System = std::alloc::System;

fn main() {
    memalloc_bench::cli::ga_main("system");
}
