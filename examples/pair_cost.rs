//! The fast path's cost in instructions: N alloc+free pairs of one size
//! (not known at compile time) through `#[global_allocator]`, Rust's
//! allocator shims included. Run it twice under callgrind with different N;
//! the difference of the totals over the difference of N is the cost of one
//! pair, with start-up and exit cancelled out:
//!
//! ```sh
//! cargo build --release --example pair_cost
//! for n in 1000000 2000000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/pair_cost $n 32 2>&1 | grep 'Collected'
//! done
//! ```

#[global_allocator]
static GLOBAL: memalloc::Memalloc = memalloc::Memalloc;

use std::alloc::{Layout, alloc, dealloc};
use std::hint::black_box;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let size: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(32);
    let layout = Layout::from_size_align(black_box(size), 8).unwrap();
    for _ in 0..n {
        // SAFETY: a non-zero-size layout; the block is freed with it.
        unsafe {
            let p = alloc(black_box(layout));
            dealloc(black_box(p), layout);
        }
    }
}
