//! Workloads written as ordinary Rust (`Vec`, `Box`, `String`, `BTreeMap`,
//! channels): every allocation goes to the process's `#[global_allocator]`,
//! which is the allocator under test in each `ga_*` example program.

use std::collections::{BTreeMap, VecDeque};
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::sync::Mutex;
use std::sync::mpsc::sync_channel;
use std::time::Duration;

use crate::raw::{XorShift, timed_threads};

/// A message or object of the workloads.
type Object = Box<[MaybeUninit<u8>]>;

/// A message or object: `size` bytes, first and last written.
fn object(size: usize, tag: u8) -> Object {
    let mut b = Box::new_uninit_slice(size);
    b[0].write(tag);
    b[size - 1].write(tag);
    b
}

/// (c) Larson-style with `Box<[u8]>` objects (16–1024 B) in arrays of 1000;
/// see `raw::Larson` for the handoff scheme. `ops` replacements in all.
pub fn larson(threads: usize, ops: u64) -> Duration {
    const OBJECTS: usize = 1000;
    let mut rng = XorShift::new(0x1a75_0000 + threads as u64);
    let sizes: Vec<usize> = (0..4096).map(|_| rng.range(16, 1024)).collect();
    let pool: Mutex<VecDeque<Vec<Object>>> = Mutex::new(
        (0..(2 * threads).max(2))
            .map(|j| {
                (0..OBJECTS)
                    .map(|i| object(sizes[(i * 7 + j) & 4095], i as u8))
                    .collect()
            })
            .collect(),
    );
    let per_thread = ops.div_ceil(threads as u64);
    timed_threads(threads, |t| {
        let mut rng = XorShift::new(0x1a75 + t as u64);
        let mut done = 0;
        while done < per_thread {
            let mut arr = pool
                .lock()
                .unwrap()
                .pop_front()
                .expect("two arrays per thread");
            let n = 500.min(per_thread - done);
            for _ in 0..n {
                let r = rng.next_u64() as usize;
                arr[r % OBJECTS] = object(sizes[(r >> 32) & 4095], r as u8);
            }
            done += n;
            pool.lock().unwrap().push_back(arr);
        }
    })
}

/// (d) `pairs` producer/consumer pairs exchanging `msgs` messages each of
/// 16 B–4 KiB through `std::sync::mpsc::sync_channel(256)`.
pub fn producer_consumer(pairs: usize, msgs: u64) -> Duration {
    let chans: Vec<_> = (0..pairs).map(|_| sync_channel::<Object>(256)).collect();
    let (txs, rxs): (Vec<_>, Vec<_>) = chans.into_iter().unzip();
    let rxs: Vec<_> = rxs.into_iter().map(Mutex::new).collect();
    timed_threads(2 * pairs, |t| {
        let p = t / 2;
        if t % 2 == 0 {
            let tx = txs[p].clone();
            let mut rng = XorShift::new(0xd0d0 + p as u64);
            for i in 0..msgs {
                tx.send(object(rng.range(16, 4096), i as u8))
                    .expect("consumer alive");
            }
        } else {
            let rx = rxs[p].lock().unwrap();
            let mut sum = 0usize;
            for _ in 0..msgs {
                let m = rx.recv().expect("producer alive");
                // SAFETY: `object` initialised the first byte.
                sum += unsafe { m[0].assume_init() } as usize;
            }
            black_box(sum);
        }
    })
}

/// (g) Builds a `BTreeMap<String, Vec<u64>>` of `keys` entries (values of
/// 0–15 numbers), looks up `keys` random keys (about half present), drops it.
/// Counts `2 * keys` operations.
pub fn btreemap(keys: usize, seed: u64) -> u64 {
    let mut rng = XorShift::new(seed);
    let mut map = BTreeMap::new();
    for _ in 0..keys {
        let k = rng.next_u64() % (2 * keys as u64);
        let len = rng.range(0, 15);
        let v: Vec<u64> = (0..len as u64).map(|x| x * k).collect();
        map.insert(format!("user:{k:012x}"), v);
    }
    let mut hits = 0u64;
    for _ in 0..keys {
        let k = rng.next_u64() % (2 * keys as u64);
        if let Some(v) = map.get(&format!("user:{k:012x}")) {
            hits += v.len() as u64 + 1;
        }
    }
    black_box(hits);
    drop(map);
    2 * keys as u64
}
