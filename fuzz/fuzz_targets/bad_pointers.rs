//! Arbitrary pointers and offsets given to `free` and `usable_size` in a
//! child process: either the documented one-line abort message or a
//! correct result, never a crash or a heap that fails its checker
//! (`memalloc::harness::check_probe`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    memalloc::harness::check_probe(data);
});
