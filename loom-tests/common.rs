//! What every loom model shares: the bounded model runner, the shadow set
//! of live blocks, and the final conservation check. Included by
//! `loom.rs` and `binding.rs` with `#[path]`.

use memalloc::loom_api::ModelHeap;
use std::collections::HashSet;
use std::sync::Mutex as CheckerMutex;

/// Stack for every modelled thread. loom runs its threads as coroutines
/// with 32 KiB stacks by default, which the allocator's slow paths (the
/// invariant walker above all) outgrow in a debug build.
const MODEL_STACK: usize = 1 << 20;

/// A model run with a preemption bound (overridable with
/// LOOM_MAX_PREEMPTIONS). The body runs on a modelled thread with a
/// [`MODEL_STACK`] stack (the model's own main thread cannot be given one).
pub fn model(f: impl Fn() + Sync + Send + 'static) {
    model_with_preemptions(2, f)
}

/// [`model`] with a preemption bound of `bound` unless LOOM_MAX_PREEMPTIONS
/// says otherwise, for a model whose race needs a deeper schedule.
pub fn model_with_preemptions(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(bound);
    }
    // Whole-heap operations take all forty class locks (and each unlock is
    // a scheduling point), which passes loom's default of 1 000 branches
    // per execution.
    b.max_branches = 20_000;
    let f = std::sync::Arc::new(f);
    b.check(move || {
        let f = std::sync::Arc::clone(&f);
        spawn(move || f()).join().unwrap();
    });
}

/// `loom::thread::spawn` with a [`MODEL_STACK`] stack.
pub fn spawn<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> loom::thread::JoinHandle<T> {
    loom::thread::Builder::new()
        .stack_size(MODEL_STACK)
        .spawn(f)
        .expect("spawn a modelled thread")
}

/// The shadow set of blocks currently handed out. A std mutex: it is only a
/// checker, and holding it never spans a loom operation.
#[derive(Default)]
pub struct Live(CheckerMutex<HashSet<usize>>);

impl Live {
    pub fn handed_out(&self, p: *mut u8) {
        assert!(!p.is_null(), "allocation failed");
        assert!(
            self.0.lock().unwrap().insert(p as usize),
            "block {p:p} handed out twice"
        );
    }
    pub fn returned(&self, p: *mut u8) {
        assert!(
            self.0.lock().unwrap().remove(&(p as usize)),
            "block {p:p} freed but not live"
        );
    }
}

/// Everything went back: no block in use, none cached, invariants hold.
pub fn assert_conserved(heap: &ModelHeap) {
    heap.check().unwrap();
    heap.trim();
    let s = heap.stats();
    assert_eq!(s.bytes_in_use, 0, "{s:?}");
    assert_eq!(s.bytes_in_thread_caches, 0, "{s:?}");
    assert_eq!(s.bytes_in_central_batches, 0, "{s:?}");
    assert_eq!(
        s.regions, 0,
        "every block came back, so every region could go: {s:?}"
    );
    heap.check().unwrap();
}
