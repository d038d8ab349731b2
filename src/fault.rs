//! A fake operating system for tests: it fails the Nth map, remap or
//! purge on request, counts every call, and checks that the heap gives
//! back exactly what it mapped.
//!
//! ```text
//!   Heap::with_fake_os(&FakeOs) ─▶ CentralHeap (Os::Source) ─▶ FakeOs
//!                                                               ├─ faults: map / remap / purge
//!                                                               ├─ counters, live mappings table
//!                                                               └─ backing: System (mmap) | Memory
//! ```
//!
//! Two backings: [`Backing::System`] forwards to the real functions of
//! `os.rs` (mmap, madvise, mremap), so it behaves exactly like the OS a
//! real heap sees; [`Backing::Memory`] takes mappings from the global
//! allocator (`std::alloc::alloc_zeroed` with the region alignment) and
//! emulates purging by zeroing, so it needs no system call and runs under
//! Miri. Not for a heap that is itself the global allocator: the memory
//! backing would re-enter it.
//!
//! Invariant: `table` lists exactly the live mappings this fake handed
//! out, each once; `live_bytes` is the sum of their lengths.

use crate::os::{self, PageSource};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::alloc::Layout;
use std::sync::Mutex;

/// Where a [`FakeOs`] gets its memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// The real mapping functions (mmap / munmap / madvise / mremap).
    System,
    /// The global allocator, with the requested alignment; purges zero the
    /// range, remaps copy, shrinks keep the allocation. No system call.
    Memory,
}

/// A kind of call a [`FakeOs`] can be told to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// Creating a mapping (a region, a huge block, a heap's bookkeeping).
    Map,
    /// Growing or moving a huge block's mapping.
    Remap,
    /// Giving the pages of a free run back (they stay resident and keep
    /// their contents, as when `madvise` fails).
    Purge,
}

/// The fault plan and counts of one kind of call.
struct Fault {
    /// Calls so far.
    calls: AtomicU64,
    /// The call number (1-based, in `calls`) that fails; 0: none.
    fail_at: AtomicU64,
    /// Whether every call fails.
    fail_all: AtomicBool,
    /// Calls that were made to fail.
    failed: AtomicU64,
}

impl Fault {
    const fn new() -> Self {
        Fault {
            calls: AtomicU64::new(0),
            fail_at: AtomicU64::new(0),
            fail_all: AtomicBool::new(false),
            failed: AtomicU64::new(0),
        }
    }

    /// Counts one call; returns whether it must fail.
    fn hit(&self) -> bool {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let fail = self.fail_all.load(Ordering::SeqCst) || self.fail_at.load(Ordering::SeqCst) == n;
        if fail {
            self.failed.fetch_add(1, Ordering::SeqCst);
        }
        fail
    }
}

/// One live mapping: `base` is what the heap got, `raw`/`layout` what the
/// memory backing allocated (equal to `base`/`len` for the system backing).
/// Pointers, not addresses, so the mappings keep their provenance (and stay
/// reachable for Miri's leak check while the table lists them).
#[derive(Clone, Copy)]
struct Mapping {
    base: *mut u8,
    len: usize,
    raw: *mut u8,
    layout_size: usize,
    layout_align: usize,
}

// SAFETY: a `Mapping` is a description of memory, handed between threads
// only under the table's mutex; whoever owns the mapping uses it.
unsafe impl Send for Mapping {}

/// The most mappings a fake keeps track of at once; a map beyond it fails
/// (and is counted in `failures(Call::Map)`, not as an injected fault).
pub const MAX_MAPPINGS: usize = 512;

/// A fake operating system (see the module docs).
pub struct FakeOs {
    backing: Backing,
    faults: [Fault; 3],
    maps: AtomicU64,
    unmaps: AtomicU64,
    purges: AtomicU64,
    remaps: AtomicU64,
    shrinks: AtomicU64,
    live_bytes: AtomicUsize,
    table: Mutex<[Option<Mapping>; MAX_MAPPINGS]>,
}

impl FakeOs {
    /// A fake that fails nothing yet.
    pub const fn new(backing: Backing) -> Self {
        FakeOs {
            backing,
            faults: [Fault::new(), Fault::new(), Fault::new()],
            maps: AtomicU64::new(0),
            unmaps: AtomicU64::new(0),
            purges: AtomicU64::new(0),
            remaps: AtomicU64::new(0),
            shrinks: AtomicU64::new(0),
            live_bytes: AtomicUsize::new(0),
            table: Mutex::new([None; MAX_MAPPINGS]),
        }
    }

    /// A fake that lives as long as the program (what a heap needs).
    pub fn leak(backing: Backing) -> &'static FakeOs {
        Box::leak(Box::new(FakeOs::new(backing)))
    }

    /// Which backing this fake uses.
    pub fn backing(&self) -> Backing {
        self.backing
    }

    fn fault(&self, call: Call) -> &Fault {
        &self.faults[call as usize]
    }

    /// The `n`th call of kind `call` from now on fails (1: the next one).
    pub fn fail_nth(&self, call: Call, n: u64) {
        let f = self.fault(call);
        f.fail_at
            .store(f.calls.load(Ordering::SeqCst) + n.max(1), Ordering::SeqCst);
    }

    /// Every call of kind `call` fails until [`Self::stop_failing`].
    pub fn fail_all(&self, call: Call) {
        self.fault(call).fail_all.store(true, Ordering::SeqCst);
    }

    /// No call fails any more.
    pub fn stop_failing(&self) {
        for f in &self.faults {
            f.fail_at.store(0, Ordering::SeqCst);
            f.fail_all.store(false, Ordering::SeqCst);
        }
    }

    /// Calls of kind `call` so far, failed ones included.
    pub fn calls(&self, call: Call) -> u64 {
        self.fault(call).calls.load(Ordering::SeqCst)
    }

    /// Calls of kind `call` that were made to fail.
    pub fn failures(&self, call: Call) -> u64 {
        self.fault(call).failed.load(Ordering::SeqCst)
    }

    /// Mappings made.
    pub fn maps(&self) -> u64 {
        self.maps.load(Ordering::SeqCst)
    }

    /// Mappings released.
    pub fn unmaps(&self) -> u64 {
        self.unmaps.load(Ordering::SeqCst)
    }

    /// Purges done (not counting failed ones).
    pub fn purges(&self) -> u64 {
        self.purges.load(Ordering::SeqCst)
    }

    /// Remaps done (not counting failed ones).
    pub fn remaps(&self) -> u64 {
        self.remaps.load(Ordering::SeqCst)
    }

    /// In-place shrinks done.
    pub fn shrinks(&self) -> u64 {
        self.shrinks.load(Ordering::SeqCst)
    }

    /// Mappings live now.
    pub fn live_mappings(&self) -> usize {
        self.table_lock().iter().flatten().count()
    }

    /// Bytes in live mappings now.
    pub fn live_bytes(&self) -> usize {
        self.live_bytes.load(Ordering::SeqCst)
    }

    fn table_lock(&self) -> std::sync::MutexGuard<'_, [Option<Mapping>; MAX_MAPPINGS]> {
        // A panic while holding it (a failed assertion below) leaves a
        // table that is still consistent for the other readers.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a new mapping; false if the table is full.
    fn record(&self, m: Mapping) -> bool {
        let mut t = self.table_lock();
        let Some(slot) = t.iter_mut().find(|s| s.is_none()) else {
            return false;
        };
        *slot = Some(m);
        self.live_bytes.fetch_add(m.len, Ordering::SeqCst);
        true
    }

    /// Removes and returns the mapping at `base`, which must be exactly
    /// `len` bytes long: anything else is a heap bug, reported by a panic.
    fn forget(&self, base: usize, len: usize) -> Mapping {
        let mut t = self.table_lock();
        let Some(slot) = t
            .iter_mut()
            .find(|s| s.is_some_and(|m| m.base as usize == base))
        else {
            panic!("fake OS: unmap of {base:#x}, which is not a live mapping");
        };
        let m = slot.take().unwrap_or_else(|| unreachable!());
        assert_eq!(
            m.len, len,
            "fake OS: unmap of {base:#x} with a wrong length"
        );
        self.live_bytes.fetch_sub(m.len, Ordering::SeqCst);
        m
    }

    /// Whether `[ptr, ptr + len)` lies inside one live mapping.
    fn covers(&self, ptr: usize, len: usize) -> bool {
        self.table_lock()
            .iter()
            .flatten()
            .any(|m| m.base as usize <= ptr && ptr + len <= m.base as usize + m.len)
    }

    /// Allocates zeroed memory from the global allocator for a mapping of
    /// `len` bytes with `(base + offset) % align == 0`.
    fn memory_map(len: usize, align: usize, offset: usize) -> Option<Mapping> {
        let align = align.max(os::page_size());
        let lead = (align - offset % align) % align;
        let layout = Layout::from_size_align(len.checked_add(lead)?, align).ok()?;
        // SAFETY: `layout` has a non-zero size (`len > 0`, caller).
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        (!raw.is_null()).then_some(Mapping {
            base: raw.wrapping_add(lead),
            len,
            raw,
            layout_size: layout.size(),
            layout_align: layout.align(),
        })
    }

    /// Gives a memory-backed mapping back to the global allocator.
    ///
    /// # Safety
    /// `m` came from [`Self::memory_map`] and is not used any more.
    unsafe fn memory_unmap(m: Mapping) {
        // SAFETY: `raw` was allocated with exactly this layout (caller).
        unsafe {
            std::alloc::dealloc(
                m.raw,
                Layout::from_size_align_unchecked(m.layout_size, m.layout_align),
            )
        }
    }
}

// SAFETY: the system backing forwards to the functions whose contracts
// `PageSource` names; the memory backing hands out fresh zeroed
// allocations with the asked alignment, zeroes purged ranges (or leaves
// them, when told to fail), copies on remap and keeps the allocation on
// shrink, so every promise holds for it too.
unsafe impl PageSource for FakeOs {
    unsafe fn map(&self, len: usize, align: usize, offset: usize) -> *mut u8 {
        if self.fault(Call::Map).hit() {
            return core::ptr::null_mut();
        }
        let m = match self.backing {
            Backing::System => {
                // SAFETY: forwarded precondition.
                let p = unsafe { os::map(len, align, offset) };
                if p.is_null() {
                    return p;
                }
                Mapping {
                    base: p,
                    len,
                    raw: p,
                    layout_size: len,
                    layout_align: align,
                }
            }
            Backing::Memory => match Self::memory_map(len, align, offset) {
                Some(m) => m,
                None => return core::ptr::null_mut(),
            },
        };
        if !self.record(m) {
            // SAFETY: the mapping was just made and nobody has seen it.
            unsafe { self.release(m) };
            return core::ptr::null_mut();
        }
        self.maps.fetch_add(1, Ordering::SeqCst);
        m.base
    }

    unsafe fn unmap(&self, ptr: *mut u8, len: usize) {
        let m = self.forget(ptr as usize, len);
        self.unmaps.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the heap gave the whole mapping back (caller).
        unsafe { self.release(m) };
    }

    unsafe fn purge(&self, ptr: *mut u8, len: usize) -> bool {
        assert!(
            self.covers(ptr as usize, len),
            "fake OS: purge of {ptr:p} + {len:#x} outside every live mapping"
        );
        if self.fault(Call::Purge).hit() {
            return false;
        }
        let done = match self.backing {
            // SAFETY: forwarded precondition.
            Backing::System => unsafe { os::purge(ptr, len) },
            // SAFETY: the range lies in a live mapping of ours (checked)
            // and holds no data anybody needs (caller): zero it, as
            // MADV_DONTNEED makes it read.
            Backing::Memory => unsafe {
                ptr.write_bytes(0, len);
                true
            },
        };
        if done {
            self.purges.fetch_add(1, Ordering::SeqCst);
        }
        done
    }

    unsafe fn remap(&self, ptr: *mut u8, old_len: usize, new_len: usize, align: usize) -> *mut u8 {
        if self.fault(Call::Remap).hit() {
            return core::ptr::null_mut();
        }
        let old = self.forget(ptr as usize, old_len);
        let new = match self.backing {
            Backing::System => {
                // SAFETY: forwarded precondition.
                let p = unsafe { os::remap(ptr, old_len, new_len, align) };
                (!p.is_null()).then_some(Mapping {
                    base: p,
                    len: new_len,
                    raw: p,
                    layout_size: new_len,
                    layout_align: align,
                })
            }
            Backing::Memory => Self::memory_map(new_len, align, 0).inspect(|m| {
                // SAFETY: both mappings are live and distinct; the old one
                // holds `old_len` bytes and the new one at least that much
                // when growing (a shrinking remap copies `new_len`).
                unsafe {
                    core::ptr::copy_nonoverlapping(ptr, m.base, old_len.min(new_len));
                    Self::memory_unmap(old);
                }
            }),
        };
        let Some(new) = new else {
            // The old mapping is untouched: list it again.
            let kept = self.record(old);
            debug_assert!(kept, "a slot was just freed");
            return core::ptr::null_mut();
        };
        let kept = self.record(new);
        debug_assert!(kept, "a slot was just freed");
        self.remaps.fetch_add(1, Ordering::SeqCst);
        new.base
    }

    unsafe fn shrink(&self, ptr: *mut u8, old_len: usize, new_len: usize) -> bool {
        let mut m = self.forget(ptr as usize, old_len);
        let done = match self.backing {
            // SAFETY: forwarded precondition.
            Backing::System => unsafe { os::shrink(ptr, old_len, new_len) },
            // The allocation stays whole; only the length the heap may
            // use (and must unmap with) changes.
            Backing::Memory => true,
        };
        if done {
            m.len = new_len;
            if self.backing == Backing::System {
                m.layout_size = new_len;
            }
            self.shrinks.fetch_add(1, Ordering::SeqCst);
        }
        let kept = self.record(m);
        debug_assert!(kept, "a slot was just freed");
        done
    }
}

impl FakeOs {
    /// Releases a mapping that is no longer listed.
    ///
    /// # Safety
    /// `m` is a whole mapping of this fake that nobody uses any more.
    unsafe fn release(&self, m: Mapping) {
        match self.backing {
            // SAFETY: caller's precondition.
            Backing::System => unsafe { os::unmap(m.base, m.len) },
            // SAFETY: caller's precondition.
            Backing::Memory => unsafe { Self::memory_unmap(m) },
        }
    }
}
