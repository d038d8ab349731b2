//! Operation sequences across four thread caches of one heap, against the
//! shadow model of `memalloc::harness::run_ops` (fill patterns, overlap,
//! alignment, calloc zeroing, the invariant checker).
#![no_main]

use libfuzzer_sys::fuzz_target;
use memalloc::harness::{OpLimits, run_ops};

fuzz_target!(|data: &[u8]| {
    run_ops(data, OpLimits::FUZZ, None);
});
