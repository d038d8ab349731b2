//! Replays the fuzz corpus (`fuzz/corpus/ops/`) on stable Rust through the
//! same decoder and shadow model as the fuzz target
//! (`memalloc::harness::run_ops`), plus a few seeded byte streams so the
//! test means something even before a corpus exists.

// Not built under `--cfg loom`: that run is for the loom models, and these
// tests (real threads and programs) already run in plain `cargo test`.
#![cfg(not(loom))]

mod common;

use common::Rng;
use memalloc::fault::{Backing, FakeOs};
use memalloc::harness::{OpLimits, run_ops};
use std::path::Path;

fn corpus(name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

fn seeded(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.next() as u8).collect()
}

#[test]
fn fuzz_corpus_replays_against_the_shadow_model() {
    let inputs = corpus("ops");
    assert!(!inputs.is_empty(), "the committed corpus is present");
    let mut ops = 0;
    for (name, bytes) in &inputs {
        let done = std::panic::catch_unwind(|| run_ops(bytes, OpLimits::FUZZ, None))
            .unwrap_or_else(|_| panic!("corpus input {name} failed"));
        ops += done;
    }
    assert!(ops > 0);
}

#[test]
fn seeded_operation_streams_keep_the_shadow_model() {
    for seed in 0..2 {
        let bytes = seeded(seed, 2000);
        assert_eq!(run_ops(&bytes, OpLimits::FUZZ, None), 500);
    }
}

#[test]
fn seeded_operation_streams_over_the_memory_backed_fake() {
    // The configuration the Miri set runs, here at full speed.
    let os = FakeOs::leak(Backing::Memory);
    for seed in 100..104 {
        run_ops(&seeded(seed, 2000), OpLimits::MIRI, Some(os));
    }
    assert_eq!(os.live_mappings(), 0, "every heap returned its mappings");
}

#[cfg(unix)]
#[test]
fn bad_pointer_corpus_gets_a_correct_result_or_the_documented_abort() {
    let inputs = corpus("bad_pointers");
    assert!(!inputs.is_empty(), "the committed corpus is present");
    for (name, bytes) in &inputs {
        if std::panic::catch_unwind(|| memalloc::harness::check_probe(bytes)).is_err() {
            panic!("corpus input {name} failed");
        }
    }
}

#[cfg(unix)]
#[test]
fn seeded_bad_pointers_get_a_correct_result_or_the_documented_abort() {
    use memalloc::harness::{Outcome, check_probe};
    let (mut aborted, mut returned) = (0, 0);
    for seed in 0..24 {
        match check_probe(&seeded(seed, 10)) {
            Outcome::Aborted(_) => aborted += 1,
            _ => returned += 1,
        }
    }
    // Random offsets mostly miss every block start: most probes abort.
    assert!(aborted > 0, "no probe reached the abort path");
    let valid = [0u8; 10]; // free of the first block's start
    assert_eq!(check_probe(&valid), Outcome::Exited(0));
    let usable = [1u8, 3, 0, 0, 0, 0, 0, 0, 0, 0]; // usable_size of the huge block
    assert_eq!(check_probe(&usable), Outcome::Exited(0));
    println!("{aborted} aborted, {returned} returned");
}
