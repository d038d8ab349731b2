//! A test harness (not a stable API): one central heap and several thread
//! caches driven from one thread, and a decoder that turns bytes into
//! operations on them, mirrored into a shadow model. The fuzz target
//! (`fuzz/`), its corpus replay (`tests/fuzz_replay.rs`) and the Miri set
//! run the same code.
//!
//! ```text
//!   bytes ─▶ decode ─▶ Op ─▶ Caches { central, caches[0..n] } ─▶ FakeOs or the OS
//!                       └──▶ shadow: live blocks, fill tags ─▶ verify, check()
//! ```
//!
//! The caches are explicit, as in the loom models: operation `k` on cache
//! `c` is what thread `c` would do, so a block allocated through one cache
//! and freed through another crosses threads the way the real handoff
//! does, without threads.

use crate::cache::ThreadCache;
use crate::central::CentralHeap;
use crate::fault::FakeOs;
use crate::front::{self, Binding, MALLOC_ALIGN};
use crate::os::Os;
use crate::size_class::ListOffset;
use crate::stats::Stats;
use core::cell::UnsafeCell;
use std::collections::BTreeMap;

#[cfg(all(unix, not(miri)))]
mod probe;
#[cfg(all(unix, not(miri)))]
pub use probe::{Outcome, Probe, check_probe, probe_in_child};

/// One central heap with `n` thread caches, all used from one thread.
///
/// Invariant: each cache is only ever used with `central`, and no
/// reference to a cache outlives the one operation that made it (the
/// operations do not re-enter this type).
pub struct Caches {
    central: Box<CentralHeap>,
    caches: Box<[UnsafeCell<ThreadCache>]>,
}

/// The binding of one operation: a chosen cache of a `Caches`.
struct Using<'a> {
    central: &'a CentralHeap,
    cache: *mut ThreadCache,
}

impl Binding for Using<'_> {
    fn central(&self) -> &CentralHeap {
        self.central
    }

    fn pop_fast(&self, list: ListOffset) -> *mut u8 {
        // SAFETY: the cache belongs to this operation alone (`Caches`
        // invariant); the pop makes no call.
        unsafe { (*self.cache).pop(list) }
    }

    unsafe fn push_fast(&self, ptr: *mut u8, list: ListOffset, check_head: bool) -> bool {
        // SAFETY: as above; forwarded precondition.
        unsafe { (*self.cache).push_if_room(ptr, list, check_head) }
    }

    fn slow<R>(
        &self,
        with: impl FnOnce(&mut ThreadCache, &CentralHeap) -> R,
        _without: impl FnOnce(&CentralHeap) -> R,
    ) -> R {
        // SAFETY: as above; nothing in `with` reaches this binding again.
        with(unsafe { &mut *self.cache }, self.central)
    }
}

impl Caches {
    /// `n` caches (at least one) over a central heap that maps through the
    /// operating system, or through `os` if given.
    pub fn new(n: usize, os: Option<&'static FakeOs>) -> Caches {
        let os = match os {
            Some(f) => Os::Source(f),
            None => Os::System,
        };
        Caches {
            central: Box::new(CentralHeap::with_os(os)),
            caches: (0..n.max(1))
                .map(|_| UnsafeCell::new(ThreadCache::new()))
                .collect(),
        }
    }

    /// How many caches there are.
    pub fn len(&self) -> usize {
        self.caches.len()
    }

    /// Always false: there is at least one cache.
    pub fn is_empty(&self) -> bool {
        false
    }

    fn using(&self, cache: usize) -> Using<'_> {
        Using {
            central: &self.central,
            cache: self.caches[cache % self.caches.len()].get(),
        }
    }

    /// `malloc(size)` through cache `cache`.
    pub fn malloc(&self, cache: usize, size: usize) -> *mut u8 {
        front::alloc(&self.using(cache), size, MALLOC_ALIGN)
    }

    /// `calloc(n, size)` through cache `cache`.
    pub fn calloc(&self, cache: usize, n: usize, size: usize) -> *mut u8 {
        front::calloc(&self.using(cache), n, size)
    }

    /// `aligned_alloc(align, size)` through cache `cache` (`align` a power
    /// of two).
    pub fn aligned_alloc(&self, cache: usize, align: usize, size: usize) -> *mut u8 {
        front::alloc(&self.using(cache), size, align.max(MALLOC_ALIGN))
    }

    /// `realloc(ptr, size)` through cache `cache`, for a non-null `ptr`
    /// and a non-zero `size`.
    ///
    /// # Safety
    /// `ptr` is a live block of this heap.
    pub unsafe fn realloc(&self, cache: usize, ptr: *mut u8, size: usize) -> *mut u8 {
        // SAFETY: forwarded precondition.
        unsafe { front::realloc(&self.using(cache), ptr, size) }
    }

    /// `free(ptr)` through cache `cache`.
    ///
    /// # Safety
    /// `ptr` is null or a live block of this heap, not used afterwards.
    pub unsafe fn free(&self, cache: usize, ptr: *mut u8) {
        // SAFETY: forwarded precondition.
        unsafe { front::free(&self.using(cache), ptr) }
    }

    /// Usable bytes of a block.
    ///
    /// # Safety
    /// `ptr` is a live block of this heap.
    pub unsafe fn usable_size(&self, ptr: *const u8) -> usize {
        // SAFETY: forwarded precondition.
        unsafe { front::usable_size(&self.using(0), ptr) }
    }

    /// Returns every block of cache `cache` to the central heap.
    pub fn flush(&self, cache: usize) {
        let u = self.using(cache);
        // SAFETY: the cache is used with this central heap only.
        unsafe { (*u.cache).flush(u.central) }
    }

    /// Flushes every cache, then gives all free memory back.
    pub fn trim(&self) {
        for c in 0..self.caches.len() {
            self.flush(c);
        }
        self.central.trim();
    }

    /// The heap's invariant checker.
    pub fn check(&self) -> Result<(), crate::HeapError> {
        self.central.check().map_err(crate::HeapError)
    }

    /// The heap's statistics.
    pub fn stats(&self) -> Stats {
        self.central.stats(None)
    }
}

impl Drop for Caches {
    fn drop(&mut self) {
        for c in 0..self.caches.len() {
            self.flush(c);
        }
        // SAFETY: `&mut self`: no block of this heap is used any more.
        unsafe { self.central.release_all() }
    }
}

/// Limits of a run of [`run_ops`].
#[derive(Clone, Copy, Debug)]
pub struct OpLimits {
    /// Thread caches.
    pub caches: usize,
    /// Largest request (bytes); larger decoded sizes are folded below it.
    pub max_size: usize,
    /// Most blocks live at once.
    pub max_live: usize,
}

impl OpLimits {
    /// What the fuzz target and the replay use: four caches, sizes up to
    /// 48 MiB (huge blocks included), 256 live blocks.
    pub const FUZZ: OpLimits = OpLimits {
        caches: 4,
        max_size: 48 << 20,
        max_live: 256,
    };
    /// Small enough for Miri: sizes up to 256 KiB (small and large
    /// blocks in one region), 64 live blocks.
    pub const MIRI: OpLimits = OpLimits {
        caches: 3,
        max_size: 256 << 10,
        max_live: 64,
    };
}

/// One decoded operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `malloc(size)` through `cache`.
    Malloc { cache: usize, size: usize },
    /// `calloc(n, size)` through `cache`.
    Calloc { cache: usize, n: usize, size: usize },
    /// `aligned_alloc(align, size)` through `cache`.
    Aligned {
        cache: usize,
        align: usize,
        size: usize,
    },
    /// `free` of the `pick`th live block (modulo the count) through `cache`.
    Free { cache: usize, pick: usize },
    /// `realloc` of the `pick`th live block to `size` through `cache`.
    Realloc {
        cache: usize,
        pick: usize,
        size: usize,
    },
    /// Flush `cache`.
    Flush { cache: usize },
    /// Flush everything and trim.
    Trim,
}

/// Reads operations from `bytes` (each takes four bytes; a short tail is
/// ignored).
pub fn decode(bytes: &[u8], limits: OpLimits) -> impl Iterator<Item = Op> + '_ {
    bytes.chunks_exact(4).map(move |c| {
        let cache = (c[0] >> 4) as usize % limits.caches.max(1);
        let raw = u16::from_le_bytes([c[2], c[3]]) as usize;
        // Size ranges picked by the low bits of the second byte: tiny,
        // small, large, huge (log-spread, folded below the limit).
        let size = match c[1] & 3 {
            0 => raw % 256,
            1 => raw % (crate::size_class::SMALL_MAX + 1),
            2 => raw << 4,
            _ => raw << 10,
        } % (limits.max_size + 1);
        let pick = raw;
        match c[0] & 15 {
            0..=3 => Op::Malloc { cache, size },
            4 => Op::Calloc {
                cache,
                n: 1 + (c[1] >> 2) as usize % 8,
                size: size / 8,
            },
            5 => Op::Aligned {
                cache,
                align: 1 << ((c[1] >> 2) % 22),
                size,
            },
            6..=9 => Op::Free { cache, pick },
            10..=12 => Op::Realloc { cache, pick, size },
            13 | 14 => Op::Flush { cache },
            _ => Op::Trim,
        }
    })
}

/// A live block in the shadow model.
#[derive(Clone, Copy)]
struct Live {
    len: usize,
    tag: u8,
}

/// The byte at offset `i` of a block filled with `tag`.
fn pattern(tag: u8, i: usize) -> u8 {
    tag.wrapping_add((i as u8).wrapping_mul(29)) ^ (i >> 9) as u8
}

/// Offsets filled and verified: every byte of the first 4 KiB, then one
/// per 4 KiB page and the last byte (so huge blocks stay cheap).
fn offsets(len: usize) -> impl Iterator<Item = usize> {
    let dense = len.min(4096);
    (0..dense)
        .chain((4096..len).step_by(4096))
        .chain((len > 4096).then(|| len - 1))
}

/// Runs the operations `bytes` decodes to on a fresh [`Caches`] (over
/// `os`, or the operating system), against a shadow model: every block
/// must be aligned, at least as usable as asked, disjoint from every
/// other live block, zeroed by calloc, and keep its fill pattern until it
/// is freed (and its prefix across realloc). The invariant checker runs
/// after every flush and trim, every 64 operations, and at the end.
/// Panics on any violation. Returns the number of operations run.
pub fn run_ops(bytes: &[u8], limits: OpLimits, os: Option<&'static FakeOs>) -> usize {
    let heap = Caches::new(limits.caches, os);
    let mut live: BTreeMap<usize, Live> = BTreeMap::new();
    let mut next_tag = 0u8;
    let mut ops = 0;
    for op in decode(bytes, limits) {
        ops += 1;
        match op {
            Op::Malloc { cache, size } => {
                let p = heap.malloc(cache, size);
                admit(
                    &heap,
                    &mut live,
                    &mut next_tag,
                    p,
                    size,
                    MALLOC_ALIGN,
                    limits,
                );
            }
            Op::Calloc { cache, n, size } => {
                let p = heap.calloc(cache, n, size);
                if !p.is_null() {
                    // SAFETY: a fresh block of `n * size` bytes.
                    let zero = unsafe { core::slice::from_raw_parts(p, n * size) };
                    assert!(zero.iter().all(|&b| b == 0), "calloc gave non-zero bytes");
                }
                admit(
                    &heap,
                    &mut live,
                    &mut next_tag,
                    p,
                    n * size,
                    MALLOC_ALIGN,
                    limits,
                );
            }
            Op::Aligned { cache, align, size } => {
                let p = heap.aligned_alloc(cache, align, size);
                admit(&heap, &mut live, &mut next_tag, p, size, align, limits);
            }
            Op::Free { cache, pick } => {
                if let Some((addr, b)) = nth(&live, pick) {
                    verify(addr, b);
                    live.remove(&addr);
                    // SAFETY: a live block of this heap, forgotten above.
                    unsafe { heap.free(cache, addr as *mut u8) };
                }
            }
            Op::Realloc { cache, pick, size } => {
                let Some((addr, b)) = nth(&live, pick) else {
                    continue;
                };
                let size = size.max(1);
                verify(addr, b);
                // SAFETY: a live block of this heap.
                let q = unsafe { heap.realloc(cache, addr as *mut u8, size) };
                if q.is_null() {
                    verify(addr, b); // the old block is untouched
                    continue;
                }
                live.remove(&addr);
                let kept = b.len.min(size);
                for i in offsets(b.len).filter(|&i| i < kept) {
                    // SAFETY: `q` holds at least `kept` bytes.
                    let got = unsafe { *q.add(i) };
                    assert_eq!(got, pattern(b.tag, i), "realloc lost byte {i}");
                }
                admit_filled(&heap, &mut live, &mut next_tag, q, size, MALLOC_ALIGN);
            }
            Op::Flush { cache } => {
                heap.flush(cache);
                heap.check().unwrap();
            }
            Op::Trim => {
                heap.trim();
                heap.check().unwrap();
            }
        }
        if ops % 64 == 0 {
            heap.check().unwrap();
        }
    }
    for (&addr, &b) in &live {
        verify(addr, b);
        // SAFETY: a live block of this heap, not used afterwards.
        unsafe { heap.free(addr % heap.len(), addr as *mut u8) };
    }
    heap.check().unwrap();
    heap.trim();
    let s = heap.stats();
    assert_eq!(s.bytes_in_use, 0, "every block came back");
    assert_eq!(
        s.regions + s.huge_allocations,
        0,
        "trim unmapped everything"
    );
    heap.check().unwrap();
    ops
}

/// The `pick`th live block (modulo the count), if any.
fn nth(live: &BTreeMap<usize, Live>, pick: usize) -> Option<(usize, Live)> {
    if live.is_empty() {
        return None;
    }
    live.iter().nth(pick % live.len()).map(|(&a, &b)| (a, b))
}

/// Takes a fresh block into the shadow model (or frees it at once when the
/// model is full), after checking it.
fn admit(
    heap: &Caches,
    live: &mut BTreeMap<usize, Live>,
    next_tag: &mut u8,
    p: *mut u8,
    len: usize,
    align: usize,
    limits: OpLimits,
) {
    if p.is_null() {
        return;
    }
    if live.len() >= limits.max_live {
        // SAFETY: a fresh block of this heap.
        unsafe { heap.free(0, p) };
        return;
    }
    admit_filled(heap, live, next_tag, p, len, align);
}

fn admit_filled(
    heap: &Caches,
    live: &mut BTreeMap<usize, Live>,
    next_tag: &mut u8,
    p: *mut u8,
    len: usize,
    align: usize,
) {
    let addr = p as usize;
    assert_eq!(addr % align, 0, "block {p:p} not aligned to {align}");
    // SAFETY: a live block of this heap.
    let usable = unsafe { heap.usable_size(p) };
    assert!(usable >= len, "usable size {usable} below the {len} asked");
    if let Some((&a, b)) = live.range(..=addr).next_back() {
        assert!(a + b.len.max(1) <= addr, "block {p:p} overlaps {a:#x}");
    }
    if let Some((&a, _)) = live.range(addr..).next() {
        assert!(addr + len.max(1) <= a, "block {p:p} overlaps {a:#x}");
    }
    *next_tag = next_tag.wrapping_add(1);
    let b = Live {
        len,
        tag: *next_tag,
    };
    for i in offsets(len) {
        // SAFETY: the block holds `len` bytes.
        unsafe { *p.add(i) = pattern(b.tag, i) };
    }
    live.insert(addr, b);
}

/// Checks a live block's fill pattern.
fn verify(addr: usize, b: Live) {
    for i in offsets(b.len) {
        // SAFETY: the block is live and holds `b.len` bytes.
        let got = unsafe { *(addr as *const u8).add(i) };
        assert_eq!(got, pattern(b.tag, i), "block {addr:#x} corrupted at {i}");
    }
}
