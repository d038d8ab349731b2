//! The allocation-heavy workload shared by the `global` and `global_system`
//! examples: the same code, built against different global allocators.
#![allow(dead_code)] // each example uses a different part

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Threads that build strings, maps and boxed buffers of mixed sizes, and
/// hand half of what they make to the next thread, which frees it (so many
/// frees are cross-thread). Returns operations per second.
pub fn run(threads: usize, duration: Duration) -> f64 {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..threads)
        .map(|_| mpsc::sync_channel::<Vec<Vec<u8>>>(8))
        .unzip();
    let mut rxs: Vec<_> = rxs.into_iter().map(Some).collect();
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let tx = txs[(t + 1) % threads].clone();
            let rx = rxs[t].take().unwrap();
            std::thread::spawn(move || {
                let mut ops = 0u64;
                let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ t as u64;
                let mut rnd = move || {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed
                };
                while start.elapsed() < duration {
                    let mut map: HashMap<String, Vec<u32>> = HashMap::new();
                    for i in 0..200 {
                        let key = format!("key-{}-{}", i % 50, rnd() % 1000);
                        map.entry(key).or_default().push(i);
                        ops += 1;
                    }
                    let mut outgoing = Vec::with_capacity(64);
                    for _ in 0..128 {
                        let r = rnd();
                        let size = if r % 64 == 0 {
                            4096 + (r % 60_000) as usize
                        } else {
                            8 + (r % 1024) as usize
                        };
                        let buf = vec![r as u8; size];
                        if r % 2 == 0 {
                            outgoing.push(buf);
                        }
                        ops += 1;
                    }
                    let _ = tx.try_send(outgoing);
                    while let Ok(incoming) = rx.try_recv() {
                        ops += incoming.len() as u64;
                        drop(incoming);
                    }
                    drop(map);
                }
                ops
            })
        })
        .collect();
    drop(txs);
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    total as f64 / start.elapsed().as_secs_f64()
}

/// Resident set size in bytes (Linux; 0 elsewhere).
pub fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .unwrap_or(0)
        * 4096
}

/// Allocates ~256 MiB of mixed blocks, frees everything, and reports
/// (start, peak, after) RSS.
pub fn free_everything_phase() -> (usize, usize, usize) {
    let start = rss();
    let mut keep: Vec<Vec<u8>> = Vec::new();
    for i in 0..400_000usize {
        keep.push(vec![i as u8; 16 + (i * 131) % 1000]);
    }
    for i in 0..64usize {
        keep.push(vec![i as u8; 1 << 20]);
    }
    let peak = rss();
    drop(keep);
    (start, peak, rss())
}
