//! (a)–(f), (i), (j): memalloc, `System`, mimalloc and jemalloc through their
//! `GlobalAlloc` impls; the groups are in `memalloc_bench::suite`.
//!
//! `cargo bench -p memalloc-bench --bench compare -- --warm-up-time 1 --measurement-time 2`

use criterion::{criterion_group, criterion_main};

criterion_group!(compare, memalloc_bench::suite::all);
criterion_main!(compare);
