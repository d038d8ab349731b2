//! The global-allocator and memory workloads with `memalloc::Memalloc` as the process's
//! `#[global_allocator]`. See `memalloc_bench::cli` for the command line.

#[global_allocator]
static GLOBAL: memalloc::Memalloc = memalloc::Memalloc;

fn main() {
    memalloc_bench::cli::ga_main("memalloc");
}
