//! memalloc side by side with `std::alloc::System` (glibc malloc), mimalloc
//! and jemalloc.
//!
//! - [`raw`]: workloads that call an allocator through `GlobalAlloc`,
//!   generic over it; [`suite`] runs them for all four under criterion
//!   (`benches/compare.rs`, and the report).
//! - [`ga`], [`server`], [`mem`]: workloads written as ordinary Rust, which
//!   allocate through the process's `#[global_allocator]`; the examples
//!   `ga_memalloc`, `ga_system`, `ga_mimalloc` and `ga_jemalloc` install one
//!   allocator each and run them through [`cli::ga_main`].
//! - The `report` example runs a reduced suite and writes `BENCHMARKS.md` and
//!   `benchmarks.svg`.

pub mod cli;
pub mod ga;
pub mod mem;
pub mod raw;
pub mod server;
pub mod suite;

/// The allocators compared, in report order: (name, `ga_*` example).
pub const ALLOCATORS: [(&str, &str); 4] = [
    ("memalloc", "ga_memalloc"),
    ("system", "ga_system"),
    ("mimalloc", "ga_mimalloc"),
    ("jemalloc", "ga_jemalloc"),
];
