//! Memory scenarios, run through the process's `#[global_allocator]`, one
//! scenario per process, RSS read from `/proc/self/status`.

use std::alloc::{Layout, alloc, dealloc};
use std::collections::VecDeque;
use std::thread;

use crate::raw::XorShift;

/// `VmRSS` and `VmHWM` (peak RSS) in KiB; 0 where `/proc` is unavailable.
pub fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A raw block through the global allocator, every byte written, so that
/// RSS counts all of it.
struct Block {
    ptr: *mut u8,
    layout: Layout,
}

impl Block {
    fn new(size: usize, fill: u8) -> Block {
        let layout = Layout::from_size_align(size, 8).expect("valid size");
        // SAFETY: `size` is non-zero (scenario sizes start at 16 B).
        let ptr = unsafe { alloc(layout) };
        assert!(!ptr.is_null(), "out of memory allocating {size} B");
        // SAFETY: `ptr` is a fresh block of `size` bytes.
        unsafe { ptr.write_bytes(fill, size) };
        Block { ptr, layout }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc(self.layout)` and is freed once.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

/// Scenario fragment: fill `total` bytes with objects of 16 B–64 KiB
/// (log-uniform), free every other one, allocate `total / 2` more in objects
/// twice as large, then free everything.
pub fn fragment(total: usize) {
    let mut rng = XorShift::new(0xf7a6);
    let mut blocks: Vec<Option<Block>> = Vec::new();
    let mut bytes = 0;
    while bytes < total {
        let size = rng.log_range(16, 64 << 10);
        blocks.push(Some(Block::new(size, blocks.len() as u8)));
        bytes += size;
    }
    for b in blocks.iter_mut().skip(1).step_by(2) {
        *b = None;
    }
    let mut bytes = 0;
    while bytes < total / 2 {
        let size = 2 * rng.log_range(16, 64 << 10);
        blocks.push(Some(Block::new(size, blocks.len() as u8)));
        bytes += size;
    }
    drop(blocks);
}

/// The per-thread work of scenario threadchurn (and of (j) with the
/// allocator as the global one): `ops` alloc/free of 16–256 B with up to 64
/// objects alive at once, leaving nothing behind.
pub fn churn_task(seed: u64, ops: usize) {
    let mut rng = XorShift::new(seed);
    let mut live: VecDeque<Block> = VecDeque::with_capacity(64);
    for i in 0..ops {
        if live.len() == 64 || (!live.is_empty() && rng.next_u64().is_multiple_of(3)) {
            live.pop_front();
        }
        live.push_back(Block::new(rng.range(16, 256), i as u8));
    }
}

/// Scenario threadchurn: `threads` short-lived threads, at most `alive` at
/// once, each running `churn_task(ops)`.
pub fn threadchurn(threads: usize, alive: usize, ops: usize) {
    let mut running = VecDeque::with_capacity(alive);
    for t in 0..threads {
        if running.len() == alive {
            let h: thread::JoinHandle<()> = running.pop_front().expect("non-empty");
            h.join().expect("churn thread");
        }
        running.push_back(thread::spawn(move || churn_task(t as u64, ops)));
    }
    for h in running {
        h.join().expect("churn thread");
    }
}

/// Scenario threadchurn-single: the same tasks, one after another, on this
/// thread.
pub fn threadchurn_single(threads: usize, ops: usize) {
    for t in 0..threads {
        churn_task(t as u64, ops);
    }
}
