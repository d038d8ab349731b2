//! The global-allocator and memory workloads with `tikv_jemallocator::Jemalloc` as the process's
//! `#[global_allocator]`. See `memalloc_bench::cli` for the command line.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    memalloc_bench::cli::ga_main("jemalloc");
}
