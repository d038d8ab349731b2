//! Workloads written as ordinary Rust (`Vec`, `Box`, `String`, `BTreeMap`,
//! channels, threads): every allocation goes to the process's
//! `#[global_allocator]`, which is the allocator under test in each `ga_*`
//! example program.

use std::collections::{BTreeMap, VecDeque};
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::sync::Mutex;
use std::sync::mpsc::sync_channel;
use std::time::Duration;

use crate::mem;
use crate::raw::{self, XorShift, timed_threads, timed_threads_with};

/// A message or object of the workloads.
type Object = Box<[MaybeUninit<u8>]>;

/// A message or object: `size` bytes, first and last written.
fn object(size: usize, tag: u8) -> Object {
    let mut b = Box::new_uninit_slice(size);
    b[0].write(tag);
    b[size - 1].write(tag);
    b
}

/// The fast path's cost: `n` alloc+free pairs of `size` bytes (not known at
/// compile time) through the global allocator, Rust's allocator shims
/// included. Run under callgrind with two values of `n`: the difference of
/// the totals over the difference of `n` is the instructions of one pair.
pub fn pairs(n: u64, size: usize) {
    let layout = std::alloc::Layout::from_size_align(black_box(size), 8).expect("a valid size");
    for _ in 0..n {
        // SAFETY: a non-zero-size layout; the block is freed with it.
        unsafe {
            let p = std::alloc::alloc(black_box(layout));
            std::alloc::dealloc(black_box(p), layout);
        }
    }
}

/// The process's `#[global_allocator]` as a `GlobalAlloc` value, so the
/// `raw` workloads can run through it.
struct Installed;

// SAFETY: forwards to the global allocator, whose contract this is.
unsafe impl std::alloc::GlobalAlloc for Installed {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: the caller's layout, as `GlobalAlloc::alloc` requires.
        unsafe { std::alloc::alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: a block of the global allocator with its layout.
        unsafe { std::alloc::dealloc(ptr, layout) }
    }
}

/// A fixed-size ring on each of `threads` threads: 1000 live blocks of
/// `size` bytes, each step frees the oldest and allocates its replacement
/// (writing a byte of it); `steps` steps per thread.
pub fn rings(threads: usize, steps: u64, size: usize) -> Duration {
    timed_threads_with(
        threads,
        |i| raw::Ring::new(&Installed, 1000, size, size, 0xb + i as u64),
        |_, ring| {
            for _ in 0..steps {
                ring.step(&Installed);
            }
        },
        |_, ring| ring.free_all(&Installed),
    )
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

/// (f) on `threads` threads: buffers of 64 KiB–32 MiB as
/// `Box<[MaybeUninit<u8>]>`, one byte written per 4 KiB page, dropped at
/// once; `buffers` in all, sizes as in `raw::large_threads`.
pub fn large(threads: usize, buffers: u64) -> Duration {
    let sizes = raw::large_sizes(32);
    let per_thread = buffers.div_ceil(threads as u64) as usize;
    timed_threads(threads, |t| {
        for i in 0..per_thread {
            let size = sizes[(i + 7 * t) % sizes.len()];
            let mut b: Object = Box::new_uninit_slice(size);
            for off in (0..size).step_by(4096) {
                b[off].write(off as u8);
            }
            drop(black_box(b));
        }
    })
}

/// (i) A binary-tree node: two children, 16 bytes.
struct Node {
    _left: Option<Box<Node>>,
    _right: Option<Box<Node>>,
}

/// A balanced tree of exactly `n` nodes (`None` for 0); children are
/// allocated before their parent, and dropping the root frees them before
/// it, the orders `raw::bursts` uses.
fn tree(n: usize) -> Option<Box<Node>> {
    (n > 0).then(|| {
        let left = (n - 1) / 2;
        Box::new(Node {
            _left: tree(left),
            _right: tree(n - 1 - left),
        })
    })
}

/// (i) Bursts: each of `threads` threads keeps `raw::LONG_LIVED` boxed
/// nodes (one in `raw::LONG_LIVED_STRIDE` of a first burst, made before the
/// clock starts) and builds and drops trees of `raw::BURST` nodes until it
/// has allocated and freed `objects / threads` (rounded up) nodes.
pub fn bursts(threads: usize, objects: u64) -> Duration {
    const _: () = assert!(std::mem::size_of::<Node>() == raw::NODE);
    let per_thread = objects.div_ceil(threads as u64) as usize;
    timed_threads_with(
        threads,
        |_| {
            let first: Vec<Option<Box<Node>>> = (0..raw::LONG_LIVED * raw::LONG_LIVED_STRIDE)
                .map(|_| tree(1))
                .collect();
            first
                .into_iter()
                .step_by(raw::LONG_LIVED_STRIDE)
                .collect::<Vec<_>>()
        },
        |_, _| {
            let mut done = 0;
            while done < per_thread {
                let n = raw::BURST.min(per_thread - done);
                drop(black_box(tree(n)));
                done += n;
            }
        },
        |_, keep| drop(keep),
    )
}

/// (j) Thread churn: `threads` `std::thread`s in all, `alive` at a time,
/// each running `mem::churn_task` with `ops` (objects of 16–256 B, up to 64
/// alive, nothing left) and exiting. The time covers spawning, the work and
/// joining; with the allocator as the global one, std's own per-thread
/// allocations (the thread's handle, name and result slot) go to it as well.
pub fn thread_churn(alive: usize, threads: usize, ops: usize) -> Duration {
    let start = std::time::Instant::now();
    mem::threadchurn(threads, alive, ops);
    start.elapsed()
}
