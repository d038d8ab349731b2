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

/// Resident set size in bytes: `/proc/self/statm` on Linux, the working
/// set from `K32GetProcessMemoryInfo` on Windows; `None` elsewhere.
pub fn rss() -> Option<usize> {
    #[cfg(target_os = "linux")]
    return std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map(|pages| pages * 4096);
    #[cfg(windows)]
    return windows::working_set();
    #[cfg(not(any(target_os = "linux", windows)))]
    None
}

#[cfg(windows)]
mod windows {
    use core::ffi::c_void;

    /// `PROCESS_MEMORY_COUNTERS` from psapi.h.
    #[repr(C)]
    #[derive(Default)]
    struct ProcessMemoryCounters {
        cb: u32,
        page_fault_count: u32,
        peak_working_set_size: usize,
        working_set_size: usize,
        quota_peak_paged_pool_usage: usize,
        quota_paged_pool_usage: usize,
        quota_peak_non_paged_pool_usage: usize,
        quota_non_paged_pool_usage: usize,
        pagefile_usage: usize,
        peak_pagefile_usage: usize,
    }

    // kernel32 exports psapi's GetProcessMemoryInfo as K32GetProcessMemoryInfo
    // (Windows 7 on), so no psapi import is needed.
    #[link(name = "kernel32")]
    unsafe extern "system" {
        fn GetCurrentProcess() -> *mut c_void;
        fn K32GetProcessMemoryInfo(
            process: *mut c_void,
            counters: *mut ProcessMemoryCounters,
            cb: u32,
        ) -> i32;
    }

    /// The working set of this process: its pages resident in memory.
    pub fn working_set() -> Option<usize> {
        let cb = core::mem::size_of::<ProcessMemoryCounters>() as u32;
        let mut counters = ProcessMemoryCounters {
            cb,
            ..Default::default()
        };
        // SAFETY: the pseudo-handle of this process, and a counters struct
        // whose size is passed in `cb`, which the call fills.
        let ok = unsafe { K32GetProcessMemoryInfo(GetCurrentProcess(), &mut counters, cb) };
        (ok != 0).then_some(counters.working_set_size)
    }
}

/// Allocates ~256 MiB of mixed blocks, frees everything, and reports
/// (start, peak, after) RSS, each `None` where RSS cannot be read.
pub fn free_everything_phase() -> (Option<usize>, Option<usize>, Option<usize>) {
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
