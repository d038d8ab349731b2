//! Workloads that call an allocator directly through `GlobalAlloc`.
//!
//! Every function here is generic over `A: GlobalAlloc` and monomorphised per
//! allocator, so memalloc, `System`, mimalloc and jemalloc run the same
//! machine code around their own `alloc`/`dealloc`/`realloc` (no dynamic
//! dispatch anywhere in a measured loop). Bookkeeping that the workloads need
//! (slot arrays, queues) is allocated once, outside the timed part, so the
//! only allocator calls that are timed are the ones made through `A`.
//!
//! This file depends on `std` only: the root crate's `benches/alloc.rs`
//! includes it with `#[path]`, so both suites run identical workloads.

#![allow(dead_code)] // each includer uses a different subset

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// xorshift64: a tiny deterministic generator, so every run and every
/// allocator sees the same sequence of sizes and slots.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        // Mix the seed so that small seeds (0, 1, 2, ...) give unrelated
        // streams; the state must never be zero.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        XorShift((z ^ (z >> 31)) | 1)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `lo..=hi`.
    #[inline]
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }

    /// Log-uniform in `lo..=hi`: every power-of-two band is equally likely,
    /// which is how object sizes in real programs tend to spread.
    pub fn log_range(&mut self, lo: usize, hi: usize) -> usize {
        let (l, h) = ((lo as f64).ln(), (hi as f64).ln());
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        (((l + (h - l) * u).exp()) as usize).clamp(lo, hi)
    }
}

/// Alignment of every block the workloads ask for (what `malloc` gives).
pub const ALIGN: usize = 8;

#[inline]
fn layout(size: usize) -> Layout {
    // Sizes come from the tables below: non-zero and far below isize::MAX.
    Layout::from_size_align(size, ALIGN).expect("workload sizes are valid")
}

#[inline]
unsafe fn alloc_touch<A: GlobalAlloc>(a: &A, size: usize, tag: u8) -> *mut u8 {
    // SAFETY: `layout(size)` has a non-zero size (every table is >= 1 B).
    let p = unsafe { a.alloc(layout(size)) };
    assert!(!p.is_null(), "out of memory allocating {size} B");
    // SAFETY: `p` is a fresh block of `size >= 1` bytes.
    unsafe { p.write(tag) };
    p
}

#[inline]
unsafe fn free<A: GlobalAlloc>(a: &A, p: *mut u8, size: usize) {
    // SAFETY: the caller passes a live block of `a` allocated with `size`.
    unsafe { a.dealloc(p, layout(size)) }
}

/// A live block and the size it was allocated with.
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    ptr: *mut u8,
    size: usize,
}

// SAFETY: a `Slot` is a plain pointer to a block of a `Sync` allocator; the
// workloads hand a slot to exactly one thread at a time.
unsafe impl Send for Slot {}

impl Slot {
    const EMPTY: Slot = Slot {
        ptr: std::ptr::null_mut(),
        size: 0,
    };
}

/// Frees every non-empty slot through `a`.
fn free_slots<A: GlobalAlloc>(a: &A, slots: &mut [Slot]) {
    for s in slots.iter_mut() {
        if !s.ptr.is_null() {
            // SAFETY: non-empty slots hold live blocks of `a` with their size.
            unsafe { free(a, s.ptr, s.size) };
            *s = Slot::EMPTY;
        }
    }
}

// ---------------------------------------------------------------------------
// (a) fast path

/// (a) One alloc+free pair of `size` bytes, touching one byte.
#[inline]
pub fn pair<A: GlobalAlloc>(a: &A, size: usize) {
    // SAFETY: the block is freed right away with the size it was made with.
    unsafe {
        let p = alloc_touch(a, size, 1);
        free(a, black_box(p), size);
    }
}

// ---------------------------------------------------------------------------
// (b) churn ring

/// (b) A ring of `live` objects of random size `lo..=hi`; each step frees the
/// oldest object and allocates a new one in its place.
pub struct Ring {
    slots: Vec<Slot>,
    sizes: Vec<usize>,
    next: usize,
    step: usize,
}

impl Ring {
    pub fn new<A: GlobalAlloc>(a: &A, live: usize, lo: usize, hi: usize, seed: u64) -> Ring {
        let mut rng = XorShift::new(seed);
        // A size table a few times longer than the ring, so that a slot's
        // new size differs from its old one.
        let sizes: Vec<usize> = (0..live * 4 + 1).map(|_| rng.range(lo, hi)).collect();
        let mut ring = Ring {
            slots: vec![Slot::EMPTY; live],
            sizes,
            next: 0,
            step: 0,
        };
        for i in 0..live {
            let size = ring.next_size();
            // SAFETY: kept in the ring and freed by `step` or `free_all`.
            ring.slots[i] = Slot {
                ptr: unsafe { alloc_touch(a, size, i as u8) },
                size,
            };
        }
        ring
    }

    #[inline]
    fn next_size(&mut self) -> usize {
        let s = self.sizes[self.step];
        self.step += 1;
        if self.step == self.sizes.len() {
            self.step = 0;
        }
        s
    }

    /// One step: a free and an alloc.
    #[inline]
    pub fn step<A: GlobalAlloc>(&mut self, a: &A) {
        let size = self.next_size();
        let i = self.next;
        self.next = if i + 1 == self.slots.len() { 0 } else { i + 1 };
        let old = self.slots[i];
        // SAFETY: ring slots always hold live blocks of `a` (built by `new`).
        unsafe {
            free(a, old.ptr, old.size);
            self.slots[i] = Slot {
                ptr: alloc_touch(a, size, i as u8),
                size,
            };
        }
    }

    pub fn free_all<A: GlobalAlloc>(mut self, a: &A) {
        free_slots(a, &mut self.slots);
    }
}

// ---------------------------------------------------------------------------
// Threads

/// Runs `work(i)` on `threads` scoped threads and returns the time from the
/// first thread's start of work to the last thread's end. Each thread reads
/// the clock itself: the spawning thread may not even be scheduled while the
/// workers run (more threads than cores), so it cannot time them.
pub fn timed_threads<F>(threads: usize, work: F) -> Duration
where
    F: Fn(usize) + Sync,
{
    timed_threads_with(threads, |_| (), |i, _| work(i), |_, _| ())
}

/// [`timed_threads`] with untimed set-up and tear-down on each worker
/// thread: `setup(i)` runs on thread `i` before the start barrier, `work(i,
/// &mut state)` is timed, and `teardown(i, state)` runs after the thread has
/// read its end time. State that belongs to one thread's cache (objects it
/// keeps alive) is made and freed by that thread.
pub fn timed_threads_with<S, P, F, T>(threads: usize, setup: P, work: F, teardown: T) -> Duration
where
    P: Fn(usize) -> S + Sync,
    F: Fn(usize, &mut S) + Sync,
    T: Fn(usize, S) + Sync,
{
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (barrier, setup, work, teardown) = (&barrier, &setup, &work, &teardown);
                s.spawn(move || {
                    let mut state = setup(i);
                    barrier.wait();
                    let start = Instant::now();
                    work(i, &mut state);
                    let end = Instant::now();
                    teardown(i, state);
                    (start, end)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("workload thread panicked"))
            .collect()
    });
    let first = spans
        .iter()
        .map(|s| s.0)
        .min()
        .expect("at least one thread");
    let last = spans
        .iter()
        .map(|s| s.1)
        .max()
        .expect("at least one thread");
    last - first
}

/// Each of `threads` threads does `ops_per_thread` alloc+free
/// pairs of sizes 16–256 B with a few objects kept alive (no sharing).
pub fn parallel_pairs<A: GlobalAlloc + Sync>(
    a: &A,
    threads: usize,
    ops_per_thread: u64,
) -> Duration {
    timed_threads(threads, |t| {
        let mut rng = XorShift::new(100 + t as u64);
        let sizes: Vec<usize> = (0..256).map(|_| rng.range(16, 256)).collect();
        let mut keep = [Slot::EMPTY; 8];
        for i in 0..ops_per_thread as usize {
            let size = sizes[i & 255];
            let k = i & 7;
            // SAFETY: `keep` holds live blocks of `a`, freed before return.
            unsafe {
                if !keep[k].ptr.is_null() {
                    free(a, keep[k].ptr, keep[k].size);
                }
                keep[k] = Slot {
                    ptr: alloc_touch(a, size, i as u8),
                    size,
                };
            }
        }
        free_slots(a, &mut keep);
    })
}

// ---------------------------------------------------------------------------
// (c) larson

/// (c) Larson-style: `threads` threads replace random slots in arrays of
/// `objects` blocks (`lo..=hi` B). Arrays live in a shared FIFO pool with two
/// per thread; a thread takes the oldest array, does `round` replacements in
/// it and puts it back at the end, so the next thread to touch it is almost
/// always another one: most frees are of blocks another thread allocated.
pub struct Larson {
    pool: Mutex<std::collections::VecDeque<Vec<Slot>>>,
    sizes: Vec<usize>,
    pub round: usize,
}

impl Larson {
    pub fn new<A: GlobalAlloc>(
        a: &A,
        threads: usize,
        objects: usize,
        lo: usize,
        hi: usize,
    ) -> Larson {
        let mut rng = XorShift::new(0x1a75_0000 + threads as u64);
        let sizes: Vec<usize> = (0..4096).map(|_| rng.range(lo, hi)).collect();
        let arrays = (2 * threads).max(2);
        let mut pool = std::collections::VecDeque::with_capacity(arrays + 1);
        for j in 0..arrays {
            let arr: Vec<Slot> = (0..objects)
                .map(|i| {
                    let size = sizes[(i * 7 + j) & 4095];
                    // SAFETY: kept in the pool and freed by `free_all`.
                    Slot {
                        ptr: unsafe { alloc_touch(a, size, i as u8) },
                        size,
                    }
                })
                .collect();
            pool.push_back(arr);
        }
        Larson {
            pool: Mutex::new(pool),
            sizes,
            round: 500,
        }
    }

    /// Runs `ops` replacements (each a free and an alloc) split over
    /// `threads` threads; returns the wall time.
    pub fn run<A: GlobalAlloc + Sync>(&self, a: &A, threads: usize, ops: u64) -> Duration {
        let per_thread = ops.div_ceil(threads as u64);
        timed_threads(threads, |t| {
            let mut rng = XorShift::new(0x1a75 + t as u64);
            let mut done = 0u64;
            while done < per_thread {
                let mut arr = self
                    .pool
                    .lock()
                    .unwrap()
                    .pop_front()
                    .expect("pool has 2 arrays per thread");
                let n = (self.round as u64).min(per_thread - done);
                for _ in 0..n {
                    let r = rng.next_u64() as usize;
                    let i = r % arr.len();
                    let size = self.sizes[(r >> 32) & 4095];
                    let old = arr[i];
                    // SAFETY: pool arrays always hold live blocks of `a`.
                    unsafe {
                        free(a, old.ptr, old.size);
                        arr[i] = Slot {
                            ptr: alloc_touch(a, size, r as u8),
                            size,
                        };
                    }
                }
                done += n;
                self.pool.lock().unwrap().push_back(arr);
            }
        })
    }

    pub fn free_all<A: GlobalAlloc>(self, a: &A) {
        for mut arr in self.pool.into_inner().unwrap() {
            free_slots(a, &mut arr);
        }
    }
}

// ---------------------------------------------------------------------------
// (d) producer/consumer

/// A bounded single-producer single-consumer queue of blocks: the channel of
/// workload (d). Its buffer is allocated once by `new`; sending and receiving
/// allocate nothing, so the only allocator calls in (d) are the messages'.
pub struct Spsc {
    buf: Box<[std::cell::UnsafeCell<Slot>]>,
    head: AtomicUsize, // next slot to read; written by the consumer only
    tail: AtomicUsize, // next slot to write; written by the producer only
}

// SAFETY: a slot is written by the producer only while `tail - head <
// capacity` says the consumer is not reading it, and read by the consumer
// only after the producer published it with a Release store of `tail`.
unsafe impl Sync for Spsc {}

impl Spsc {
    pub fn new(capacity: usize) -> Spsc {
        Spsc {
            buf: (0..capacity)
                .map(|_| std::cell::UnsafeCell::new(Slot::EMPTY))
                .collect(),
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
        }
    }

    /// Producer side; waits (yielding) while the queue is full.
    pub fn send(&self, s: Slot) {
        let tail = self.tail.load(Ordering::Relaxed);
        let mut spins = 0;
        while tail - self.head.load(Ordering::Acquire) == self.buf.len() {
            backoff(&mut spins);
        }
        // SAFETY: the slot at `tail` is not readable by the consumer until
        // the Release store below, and it finished reading it (head > it).
        unsafe { *self.buf[tail % self.buf.len()].get() = s };
        self.tail.store(tail + 1, Ordering::Release);
    }

    /// Consumer side; waits (yielding) while the queue is empty.
    pub fn recv(&self) -> Slot {
        let head = self.head.load(Ordering::Relaxed);
        let mut spins = 0;
        while self.tail.load(Ordering::Acquire) == head {
            backoff(&mut spins);
        }
        // SAFETY: the producer published this slot (tail > head) and will not
        // write it again until our Release store of `head`.
        let s = unsafe { *self.buf[head % self.buf.len()].get() };
        self.head.store(head + 1, Ordering::Release);
        s
    }
}

#[inline]
fn backoff(spins: &mut u32) {
    *spins += 1;
    if *spins < 64 {
        std::hint::spin_loop();
    } else {
        // More threads than cores is the normal case here (2 cores, up to 6
        // threads): give the other side the CPU.
        thread::yield_now();
    }
}

/// (d) `pairs` producer/consumer pairs: each producer allocates `msgs`
/// messages of random size `lo..=hi` through `a`, writes their first and
/// last byte and sends them; its consumer reads both bytes and frees them.
/// Every free is cross-thread. Returns the wall time.
pub fn producer_consumer<A: GlobalAlloc + Sync>(
    a: &A,
    pairs: usize,
    msgs: u64,
    lo: usize,
    hi: usize,
) -> Duration {
    let queues: Vec<Spsc> = (0..pairs).map(|_| Spsc::new(256)).collect();
    let sizes: Vec<Vec<usize>> = (0..pairs)
        .map(|p| {
            let mut rng = XorShift::new(0xd0d0 + p as u64);
            (0..1024).map(|_| rng.range(lo, hi)).collect()
        })
        .collect();
    let checksum = AtomicUsize::new(0);
    let d = timed_threads(2 * pairs, |t| {
        let (p, q) = (t / 2, &queues[t / 2]);
        if t % 2 == 0 {
            for i in 0..msgs as usize {
                let size = sizes[p][i & 1023];
                // SAFETY: ownership of the block moves to the consumer.
                unsafe {
                    let m = alloc_touch(a, size, i as u8);
                    m.add(size - 1).write(i as u8);
                    q.send(Slot { ptr: m, size });
                }
            }
        } else {
            let mut sum = 0usize;
            for _ in 0..msgs {
                let s = q.recv();
                // SAFETY: the producer sent a live block of `a` of `s.size`.
                unsafe {
                    sum += s.ptr.read() as usize + s.ptr.add(s.size - 1).read() as usize;
                    free(a, s.ptr, s.size);
                }
            }
            checksum.fetch_add(sum, Ordering::Relaxed);
        }
    });
    black_box(checksum.load(Ordering::Relaxed));
    d
}

// ---------------------------------------------------------------------------
// (e) realloc growth

/// (e) Grows a buffer the way `Vec` does (capacity doubling from 1 B, each
/// step a `realloc` that keeps the contents) up to `target` bytes, touching
/// the new last byte after each step, then frees it.
pub fn grow<A: GlobalAlloc>(a: &A, target: usize) {
    let mut cap = 1usize;
    // SAFETY: `p` is always the live block of `cap` bytes; realloc receives
    // the layout it was allocated with; freed at the end.
    unsafe {
        let mut p = alloc_touch(a, 1, 0);
        while cap < target {
            let new_cap = (cap * 2).min(target);
            p = a.realloc(p, layout(cap), new_cap);
            assert!(!p.is_null(), "out of memory growing to {new_cap} B");
            p.add(new_cap - 1).write(new_cap as u8);
            cap = new_cap;
        }
        free(a, black_box(p), cap);
    }
}

/// Growth targets for (e): log-uniform in 1 B–1 MiB, fixed seed.
pub fn grow_targets(n: usize) -> Vec<usize> {
    let mut rng = XorShift::new(0xe);
    (0..n).map(|_| rng.log_range(1, 1 << 20)).collect()
}

// ---------------------------------------------------------------------------
// (f) large buffers

/// (f) Allocates `size` bytes, writes one byte in every 4 KiB page, frees.
pub fn large<A: GlobalAlloc>(a: &A, size: usize) {
    // SAFETY: every write is inside the block, which is freed at the end.
    unsafe {
        let p = alloc_touch(a, size, 0);
        let mut off = 0;
        while off < size {
            p.add(off).write(off as u8);
            off += 4096;
        }
        free(a, black_box(p), size);
    }
}

/// Sizes for (f): log-uniform in 64 KiB–32 MiB, fixed seed.
pub fn large_sizes(n: usize) -> Vec<usize> {
    let mut rng = XorShift::new(0xf);
    (0..n).map(|_| rng.log_range(64 << 10, 32 << 20)).collect()
}

/// (f) on `threads` threads: each does `buffers / threads` (rounded up)
/// [`large`] buffers with sizes from `sizes`, thread `t` starting `7 * t`
/// entries further on, so threads hold different sizes at the same time.
/// Returns the wall time.
pub fn large_threads<A: GlobalAlloc + Sync>(
    a: &A,
    threads: usize,
    buffers: u64,
    sizes: &[usize],
) -> Duration {
    let per_thread = buffers.div_ceil(threads as u64) as usize;
    timed_threads(threads, |t| {
        for i in 0..per_thread {
            large(a, sizes[(i + 7 * t) % sizes.len()]);
        }
    })
}

// ---------------------------------------------------------------------------
// (i) bursts

/// Size of a burst object: a binary-tree node holding its two children.
pub const NODE: usize = 16;
/// Objects in one burst: a balanced tree of this many nodes.
pub const BURST: usize = 32 * 1024;
/// Objects of `NODE` bytes each thread keeps for the whole run.
pub const LONG_LIVED: usize = 1024;
/// The long-lived objects are one in `LONG_LIVED_STRIDE` of a first burst,
/// so they sit scattered over the same spans the later bursts use.
pub const LONG_LIVED_STRIDE: usize = 32;

/// Builds a balanced binary tree of exactly `n` nodes of [`NODE`] bytes
/// (children first, then the parent that points to them, as
/// `Box::new(Node { left, right })` does); returns its root, null for 0.
///
/// # Safety
///
/// The tree must be freed with [`free_tree`] through the same `a`.
unsafe fn build_tree<A: GlobalAlloc>(a: &A, n: usize) -> *mut [*mut u8; 2] {
    if n == 0 {
        return std::ptr::null_mut();
    }
    let left = (n - 1) / 2;
    // SAFETY: the subtrees are owned by the node made below, which the
    // caller frees with `free_tree`.
    let (l, r) = unsafe { (build_tree(a, left), build_tree(a, n - 1 - left)) };
    // SAFETY: `NODE` is non-zero; `ALIGN` (8) suits two pointers.
    let node = unsafe { a.alloc(layout(NODE)) } as *mut [*mut u8; 2];
    assert!(!node.is_null(), "out of memory allocating a tree node");
    // SAFETY: `node` is a fresh block of 16 B aligned to 8.
    unsafe { node.write([l.cast(), r.cast()]) };
    node
}

/// Frees a tree made by [`build_tree`], children before their parent (the
/// order `Drop` for `Box<Node>` uses).
///
/// # Safety
///
/// `node` is null or the root of a live tree of `a` that nothing else frees.
unsafe fn free_tree<A: GlobalAlloc>(a: &A, node: *mut [*mut u8; 2]) {
    if node.is_null() {
        return;
    }
    // SAFETY: `node` is a live tree node; its children are trees of the
    // same kind, owned by it alone; it is freed once, after them.
    unsafe {
        let [l, r] = node.read();
        free_tree(a, l.cast());
        free_tree(a, r.cast());
        free(a, node.cast(), NODE);
    }
}

/// The long-lived objects of one (i) thread, made on that thread.
pub struct LongLived(Vec<*mut u8>);

impl LongLived {
    /// Allocates `LONG_LIVED * LONG_LIVED_STRIDE` objects of [`NODE`] bytes
    /// and frees all but every `LONG_LIVED_STRIDE`-th.
    pub fn new<A: GlobalAlloc>(a: &A) -> LongLived {
        let mut keep = Vec::with_capacity(LONG_LIVED);
        for i in 0..LONG_LIVED * LONG_LIVED_STRIDE {
            // SAFETY: kept ones are freed by `free_all`, the others at once.
            unsafe {
                let p = alloc_touch(a, NODE, i as u8);
                if i % LONG_LIVED_STRIDE == 0 {
                    keep.push(p);
                } else {
                    free(a, p, NODE);
                }
            }
        }
        LongLived(keep)
    }

    pub fn free_all<A: GlobalAlloc>(self, a: &A) {
        for p in self.0 {
            // SAFETY: `new` allocated every kept pointer with `NODE` bytes.
            unsafe { free(a, p, NODE) };
        }
    }
}

/// (i) Bursts: each of `threads` threads keeps [`LONG_LIVED`] objects
/// (made before the clock starts) and allocates and frees `objects /
/// threads` (rounded up) objects of 16 B as trees of [`BURST`] nodes, each
/// built whole and then freed whole. Returns the wall time.
pub fn bursts<A: GlobalAlloc + Sync>(a: &A, threads: usize, objects: u64) -> Duration {
    let per_thread = objects.div_ceil(threads as u64) as usize;
    timed_threads_with(
        threads,
        |_| LongLived::new(a),
        |_, _| {
            let mut done = 0;
            while done < per_thread {
                let n = BURST.min(per_thread - done);
                // SAFETY: the tree is built and freed through `a`.
                unsafe {
                    let root = build_tree(a, n);
                    free_tree(a, black_box(root));
                }
                done += n;
            }
        },
        |_, keep| keep.free_all(a),
    )
}

// ---------------------------------------------------------------------------
// (j) thread churn

/// Allocations (each freed again) of one (j) thread.
pub const THREAD_CHURN_OPS: usize = 2000;
/// Most objects a (j) thread keeps alive at once.
const CHURN_LIVE: usize = 64;

/// One (j) thread's work: `ops` allocations of 16–256 B, up to
/// [`CHURN_LIVE`] alive at once; before each allocation the oldest is freed
/// when the window is full, and otherwise with probability 1/3. Leaves
/// nothing allocated. The window is an array on the stack: the only
/// allocator calls are `a`'s.
pub fn churn_task<A: GlobalAlloc>(a: &A, seed: u64, ops: usize) {
    let mut rng = XorShift::new(seed);
    let mut live = [Slot::EMPTY; CHURN_LIVE];
    let (mut head, mut len) = (0, 0);
    for i in 0..ops {
        if len == CHURN_LIVE || (len > 0 && rng.next_u64().is_multiple_of(3)) {
            let old = live[head];
            // SAFETY: the window's `len` slots from `head` hold live blocks.
            unsafe { free(a, old.ptr, old.size) };
            head = (head + 1) % CHURN_LIVE;
            len -= 1;
        }
        let size = rng.range(16, 256);
        live[(head + len) % CHURN_LIVE] = Slot {
            // SAFETY: kept in the window and freed above or below.
            ptr: unsafe { alloc_touch(a, size, i as u8) },
            size,
        };
        len += 1;
    }
    for k in 0..len {
        let s = live[(head + k) % CHURN_LIVE];
        // SAFETY: as above; each live slot is freed once.
        unsafe { free(a, s.ptr, s.size) };
    }
}

/// (j) Thread churn: `threads` short-lived threads in all, `alive` at a
/// time (the oldest is joined before the next is spawned), each running
/// [`churn_task`] with `ops` and exiting. The time includes spawning and
/// joining, which is the same code for every allocator (std's own
/// bookkeeping goes to the process's global allocator, not to `a`); what
/// differs is each thread's first allocation and its exit. Returns the wall
/// time of the whole run.
pub fn thread_churn<A: GlobalAlloc + Sync>(
    a: &A,
    alive: usize,
    threads: u64,
    ops: usize,
) -> Duration {
    let start = Instant::now();
    thread::scope(|s| {
        let mut running = std::collections::VecDeque::with_capacity(alive);
        for t in 0..threads {
            if running.len() == alive {
                let h: thread::ScopedJoinHandle<'_, ()> =
                    running.pop_front().expect("alive >= 1 threads running");
                h.join().expect("churn thread panicked");
            }
            running.push_back(s.spawn(move || churn_task(a, 0xc4 + t, ops)));
        }
        for h in running {
            h.join().expect("churn thread panicked");
        }
    });
    start.elapsed()
}
