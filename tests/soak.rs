//! A soak: a mixed multithreaded workload on memalloc (the global
//! allocator of this binary) and on `Heap` instances, run for a given time.
//!
//! ```text
//!  worker threads (replaced by fresh ones every generation: thread churn)
//!     │ alloc / realloc / free, every size range, aligned layouts
//!     │ fill patterns written on alloc, verified on realloc and free
//!     ├──▶ the process-wide heap (GlobalAlloc of `Memalloc`)
//!     ├──▶ heap instances: a few live at a time, replaced and dropped
//!     │    once their last block is freed
//!     └──▶ a shared exchange: blocks freed by a thread that did not
//!          allocate them (cross-thread frees), outliving their threads
//!  main thread: every interval, `check()` of every heap, and a line with
//!  the operations done, RSS and the bytes mapped
//! ```
//!
//! `cargo test --release --test soak -- --ignored --nocapture` runs the soak
//! for `MEMALLOC_SOAK_MINUTES` (default 1, fractions allowed);
//! `MEMALLOC_SOAK_THREADS` sets the workers (default 4). Plain `cargo test`
//! runs the same workload for a second, so the soak itself stays working.

mod common;

use common::{Rng, fill, verify_prefix};
use memalloc::{Heap, Memalloc};
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: Memalloc = Memalloc;

/// Where a block lives: the process-wide heap or one heap instance, which
/// the block keeps alive.
#[derive(Clone)]
enum Owner {
    Global,
    Instance(Arc<Heap>),
}

/// A live block with its fill: `filled` bytes written with pattern `tag`.
struct Block {
    ptr: *mut u8,
    layout: Layout,
    tag: u64,
    owner: Owner,
}

// SAFETY: a block is owned by exactly one thread at a time (a worker's
// list or the exchange behind its mutex); memalloc's heaps accept frees
// from any thread.
unsafe impl Send for Block {}

impl Owner {
    fn heap(&self) -> &dyn GlobalAlloc {
        match self {
            Owner::Global => &GLOBAL,
            Owner::Instance(h) => &**h,
        }
    }
}

impl Block {
    /// Allocates and fills a block, or None if the heap returned null.
    fn new(owner: Owner, layout: Layout, tag: u64) -> Option<Block> {
        // SAFETY: `layout` has a non-zero size (see `pick_layout`).
        let ptr = unsafe { owner.heap().alloc(layout) };
        if ptr.is_null() {
            return None;
        }
        assert_eq!(ptr as usize % layout.align(), 0, "{layout:?}");
        // SAFETY: the block holds `layout.size()` bytes.
        unsafe { fill(ptr, layout.size(), tag) };
        Some(Block {
            ptr,
            layout,
            tag,
            owner,
        })
    }

    fn verify(&self) {
        // SAFETY: the block is live and `fill` wrote its bytes.
        unsafe { verify_prefix(self.ptr, self.layout.size(), self.layout.size(), self.tag) };
    }

    /// Resizes the block, checks the kept prefix and refills it.
    fn realloc(&mut self, new_size: usize, tag: u64) {
        // SAFETY: the block is live with this layout; `new_size` is
        // non-zero and, rounded to the alignment, far below isize::MAX.
        let q = unsafe { self.owner.heap().realloc(self.ptr, self.layout, new_size) };
        if q.is_null() {
            return; // the old block stays valid
        }
        let kept = self.layout.size().min(new_size);
        // SAFETY: realloc kept the first `kept` bytes of the old block.
        unsafe { verify_prefix(q, self.layout.size(), kept, self.tag) };
        self.ptr = q;
        self.layout = Layout::from_size_align(new_size, self.layout.align()).unwrap();
        self.tag = tag;
        // SAFETY: the block holds `new_size` bytes.
        unsafe { fill(q, new_size, tag) };
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        self.verify();
        // SAFETY: the block is live, allocated by this owner with this
        // layout, and freed once (here).
        unsafe { self.owner.heap().dealloc(self.ptr, self.layout) };
    }
}

/// A layout in one of the size ranges: small (up to 32 KiB) mostly, large
/// (to 32 MiB) sometimes, huge (a mapping of its own) rarely; one in ten
/// over-aligned (64 B to 2 MiB).
fn pick_layout(rng: &mut Rng) -> Layout {
    let size = match rng.below(1000) {
        0 => (32 << 20) + rng.below(16 << 20) as usize,
        1..=40 => (32 << 10) + rng.log_size(4 << 20),
        _ => rng.log_size(32 << 10),
    };
    let align = if rng.below(10) == 0 {
        64 << rng.below(16)
    } else {
        8
    };
    Layout::from_size_align(size, align).unwrap()
}

/// The heaps a worker may allocate from: a few instances, replaced as the
/// soak goes (the old one drops when its last block is freed).
struct Instances {
    slots: Mutex<Vec<Arc<Heap>>>,
    created: AtomicU64,
}

impl Instances {
    fn new(n: usize) -> Self {
        Instances {
            slots: Mutex::new((0..n).map(|_| Arc::new(Heap::new())).collect()),
            created: AtomicU64::new(n as u64),
        }
    }
    fn pick(&self, rng: &mut Rng) -> Arc<Heap> {
        let slots = self.slots.lock().unwrap();
        Arc::clone(&slots[rng.below(slots.len() as u64) as usize])
    }
    fn replace_one(&self, rng: &mut Rng) {
        let mut slots = self.slots.lock().unwrap();
        let i = rng.below(slots.len() as u64) as usize;
        slots[i] = Arc::new(Heap::new());
        self.created.fetch_add(1, Ordering::Relaxed);
    }
    fn check_all(&self) {
        for h in self.slots.lock().unwrap().iter() {
            h.check().unwrap();
        }
    }
}

struct Shared {
    stop: AtomicBool,
    ops: AtomicU64,
    threads_started: AtomicU64,
    exchange: Mutex<Vec<Block>>,
    instances: Instances,
}

/// One worker generation: `ops` operations, then the thread exits with its
/// remaining blocks freed or handed to the exchange.
fn worker(shared: &Shared, seed: u64, ops: u64) {
    let mut rng = Rng::new(seed);
    let mut live: Vec<Block> = Vec::new();
    let mut done = 0;
    for i in 0..ops {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        done += 1;
        let tag = seed.wrapping_mul(1 << 20) ^ i;
        match rng.below(100) {
            // Allocate, from the process-wide heap or an instance.
            0..=44 => {
                let mut layout = pick_layout(&mut rng);
                // At most one huge block per thread, to bound the RSS.
                if layout.size() > 32 << 20 && live.iter().any(|b| b.layout.size() > 32 << 20) {
                    layout = Layout::from_size_align(4096, layout.align()).unwrap();
                }
                let owner = if rng.below(4) == 0 {
                    Owner::Instance(shared.instances.pick(&mut rng))
                } else {
                    Owner::Global
                };
                if let Some(b) = Block::new(owner, layout, tag) {
                    live.push(b);
                }
            }
            // Free one of ours.
            45..=74 if !live.is_empty() => {
                drop(live.swap_remove(rng.below(live.len() as u64) as usize));
            }
            // Grow or shrink one of ours (across the size ranges).
            75..=84 if !live.is_empty() => {
                let k = rng.below(live.len() as u64) as usize;
                let size = live[k].layout.size();
                let new_size = match rng.below(3) {
                    // Grow by up to 2x (small to large, large to huge,
                    // huge by remapping), below 64 MiB.
                    0 if size < 64 << 20 => size + rng.log_size(size.min(16 << 20)),
                    // Shrink to half.
                    0 | 1 => (size / 2).max(1),
                    // Anywhere in the small and large ranges.
                    _ => rng.log_size(256 << 10),
                };
                live[k].realloc(new_size, tag);
            }
            // Hand one to whoever comes next (cross-thread free).
            85..=92 if !live.is_empty() => {
                let b = live.swap_remove(rng.below(live.len() as u64) as usize);
                let mut ex = shared.exchange.lock().unwrap();
                if ex.len() < 2048 {
                    ex.push(b);
                } else {
                    drop(ex);
                    drop(b);
                }
            }
            // Free one that another thread allocated.
            93..=98 => {
                let b = shared.exchange.lock().unwrap().pop();
                drop(b);
            }
            _ => {
                if rng.below(50) == 0 {
                    memalloc::flush_thread_cache();
                }
            }
        }
        // Keep the live set bounded.
        while live.len() > 256 {
            drop(live.swap_remove(0));
        }
        if done % 1000 == 0 {
            shared.ops.fetch_add(1000, Ordering::Relaxed);
        }
    }
    shared.ops.fetch_add(done % 1000, Ordering::Relaxed);
    // Half of what is left outlives this thread.
    let mut ex = shared.exchange.lock().unwrap();
    for (k, b) in live.into_iter().enumerate() {
        if k % 2 == 0 && ex.len() < 2048 {
            ex.push(b);
        }
    }
}

/// Runs the workload for `duration` on `threads` workers, printing a line
/// every `report`. Returns the operations done.
fn run_soak(duration: Duration, threads: usize, report: Duration) -> u64 {
    memalloc::trim();
    let start_stats = memalloc::stats();
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        ops: AtomicU64::new(0),
        threads_started: AtomicU64::new(0),
        exchange: Mutex::new(Vec::new()),
        instances: Instances::new(3),
    });
    // Each slot runs worker generations back to back: a thread exits after
    // its generation and a fresh one takes its place.
    let slots: Vec<_> = (0..threads as u64)
        .map(|slot| {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                let mut generation = 0u64;
                while !shared.stop.load(Ordering::Relaxed) {
                    let seed = slot << 32 | generation;
                    let s = Arc::clone(&shared);
                    shared.threads_started.fetch_add(1, Ordering::Relaxed);
                    std::thread::spawn(move || worker(&s, seed, 5_000))
                        .join()
                        .unwrap();
                    generation += 1;
                }
            })
        })
        .collect();
    let started = Instant::now();
    let mut rng = Rng::new(0x50A4);
    let mut next_report = started;
    println!("soak: {threads} worker slots for {duration:?}");
    loop {
        let now = Instant::now();
        let done = now - started >= duration;
        if now >= next_report || done {
            memalloc::check().unwrap();
            shared.instances.check_all();
            let s = memalloc::stats();
            println!(
                "soak t={:>6.1}s ops={:>11} rss={:>7.1}MiB mapped={:>7.1}MiB in_use={:>7.1}MiB \
                 threads={} heaps_created={} exchange={}",
                (now - started).as_secs_f64(),
                shared.ops.load(Ordering::Relaxed),
                common::rss_bytes() as f64 / (1 << 20) as f64,
                s.bytes_mapped as f64 / (1 << 20) as f64,
                s.bytes_in_use as f64 / (1 << 20) as f64,
                shared.threads_started.load(Ordering::Relaxed),
                shared.instances.created.load(Ordering::Relaxed),
                shared.exchange.lock().unwrap().len(),
            );
            next_report += report;
        }
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(100).min(report));
        // Now and then a heap instance is replaced; the old one drops with
        // its last block.
        if rng.below(10) == 0 {
            shared.instances.replace_one(&mut rng);
        }
        if rng.below(50) == 0 {
            memalloc::trim();
        }
    }
    shared.stop.store(true, Ordering::Relaxed);
    for s in slots {
        s.join().unwrap();
    }
    drop(std::mem::take(&mut *shared.exchange.lock().unwrap()));
    let ops = shared.ops.load(Ordering::Relaxed);
    let threads_started = shared.threads_started.load(Ordering::Relaxed);
    // Every block is freed and every instance dropped with the last Arc.
    assert_eq!(Arc::strong_count(&shared), 1);
    drop(shared);
    memalloc::trim();
    memalloc::check().unwrap();
    let end = memalloc::stats();
    println!(
        "soak done: {ops} ops, {threads_started} worker threads, in use {} -> {} B, \
         rss {:.1} MiB",
        start_stats.bytes_in_use,
        end.bytes_in_use,
        common::rss_bytes() as f64 / (1 << 20) as f64
    );
    assert!(ops > 0);
    assert_eq!(end.bytes_in_thread_caches, 0, "{end:?}");
    // What the test harness itself holds may differ a little.
    assert!(
        end.bytes_in_use <= start_stats.bytes_in_use + (256 << 10),
        "bytes in use after the soak: {start_stats:?} -> {end:?}"
    );
    ops
}

#[test]
fn the_soak_workload_keeps_every_heap_consistent_for_a_second() {
    let ops = run_soak(Duration::from_secs(1), 2, Duration::from_millis(500));
    assert!(ops >= 500, "{ops} operations");
}

#[test]
#[ignore = "long: set MEMALLOC_SOAK_MINUTES, run with --release --ignored"]
fn soak_mixed_workload_for_the_given_minutes() {
    let minutes: f64 = std::env::var("MEMALLOC_SOAK_MINUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    let threads: usize = std::env::var("MEMALLOC_SOAK_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let report = if minutes > 2.0 { 30.0 } else { 5.0 };
    run_soak(
        Duration::from_secs_f64(minutes * 60.0),
        threads,
        Duration::from_secs_f64(report),
    );
}
