//! The global-allocator and memory workloads with `mimalloc::MiMalloc` as the process's
//! `#[global_allocator]`. See `memalloc_bench::cli` for the command line.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    memalloc_bench::cli::ga_main("mimalloc");
}
