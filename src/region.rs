//! Regions: aligned mappings with a header and a page map.
//!
//! ```text
//!  base = ptr & !(REGION_ALIGN - 1)
//!  │
//!  ▼
//!  ┌──────────────┬─────────────┬──────────────────────┬────────┬────────┬──────
//!  │ RegionHeader │ PageMark ×  │ PageDesc × npages    │ page   │ page   │ ...
//!  │ (kind, size, │ 8192 (every │ (the page map: which │ first_ │        │
//!  │  owner, ...) │ page's)     │ span each page is in)│ page   │        │
//!  └──────────────┴─────────────┴──────────────────────┴────────┴────────┴──────
//!  ◀──────────────── metadata pages ──────────────────▶◀─ spans tile the rest ─▶
//! ```
//!
//! The page marks ([`RegionHeader::mark`]) have room for the largest
//! region whatever this region's size, so the lock-free `free` indexes them
//! by the pointer's page bits with no bound test; entries past `npages`
//! stay zero (fresh mappings are zero and nothing writes them), and their
//! pages are never touched, so they cost address space, not memory.
//!
//! Glossary:
//! - **page**: [`PAGE_SIZE`] bytes, the unit the page heap deals in.
//! - **span** (or run): consecutive pages of one region with one use: a
//!   free run, blocks of one size class, or one large block.
//! - **region**: a mapping aligned to [`REGION_ALIGN`] (1–64 MiB), whose
//!   header is found from any pointer into it by masking.
//! - **huge mapping**: one allocation too big for regions, in a mapping of
//!   its own with the same header (kind `Huge`) so `free` still finds it.
//!
//! Page-map invariants (checked by `CentralHeap::check`):
//! - spans tile `[first_page, npages)` exactly; a span's head descriptor has
//!   `head = true`, `span_start = its index` and `npages > 0`;
//! - the last page of every span has `span_start` = the head's index, and so
//!   does every page of a small-block span (blocks can be anywhere in it);
//!   interior pages of free and large spans may hold stale values, so a
//!   lookup accepts a head only if `head` is set and the head's range covers
//!   the page;
//! - no two free spans are adjacent (freeing coalesces both neighbours).
//!
//! The registry is a bitmap with one bit per `REGION_ALIGN` chunk of the
//! 48-bit address space: the bit is set while a region or huge mapping of
//! any memalloc heap has its header at that chunk. It is what lets `free`
//! reject a pointer it never handed out without touching unmapped memory.

use crate::size_class::{ListOffset, NUM_CLASSES, START_CHECK_ENTRIES, START_CHECKS};
use crate::sync::atomic::Ordering;
use core::ptr;
use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64};

/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: usize = 13;
/// The page heap's unit: 8 KiB.
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// log2 of [`REGION_ALIGN`].
pub const REGION_SHIFT: usize = 26;
/// Alignment (and maximum size) of a region: 64 MiB.
pub const REGION_ALIGN: usize = 1 << REGION_SHIFT;
/// Smallest region mapped.
pub const MIN_REGION_SIZE: usize = 1 << 20;
/// Largest number of pages in a region.
pub const MAX_REGION_PAGES: usize = REGION_ALIGN / PAGE_SIZE;

/// What a mapping holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum RegionKind {
    /// Pages managed by the page heap.
    Pages = 1,
    /// One huge allocation.
    Huge = 2,
}

const MAGIC: usize = 0x6d65_6d61_6c6c_6f63; // "memalloc"

/// The header at the start of every mapping.
///
/// Invariants: `magic == MAGIC`; the mapping is `[self, self + map_size)`;
/// for `Pages`, `npages * PAGE_SIZE == map_size` and the `npages` page
/// descriptors follow the header directly, with pages `[0, first_page)`
/// holding this metadata; for `Huge`, `user_ptr` is the one block,
/// `user_size` bytes long, ending inside the mapping. `owner` is the address
/// of the owning central heap and never changes. The list links belong to
/// the owner and are only touched under its lock.
#[repr(C)]
pub struct RegionHeader {
    pub magic: usize,
    pub owner: usize,
    pub kind: RegionKind,
    pub map_size: usize,
    pub npages: usize,
    pub first_page: usize,
    /// Pages in free spans.
    pub free_pages: usize,
    pub next: *mut RegionHeader,
    pub prev: *mut RegionHeader,
    pub user_ptr: *mut u8,
    pub user_size: usize,
}

/// What a span holds (stored in its head descriptor).
pub const SPAN_FREE: u8 = 1;
pub const SPAN_SMALL: u8 = 2;
pub const SPAN_LARGE: u8 = 3;

/// One intrusive free-list node: the first word of a free block.
#[repr(C)]
pub struct Block {
    pub next: *mut Block,
}

/// The page-map entry for one page.
///
/// `index` is constant. `span_start` is valid as described in the module
/// docs; every other field is meaningful only on a span's head. Fields that
/// a lock-free `free` reads (`span_start`, `head`, `kind`, `class`,
/// `npages`) only change while no live block lies in the span, except
/// `npages` of a large span, which only its block's owner changes
/// (`realloc` in place). Everything else is guarded by the owner's lock.
#[repr(C)]
pub struct PageDesc {
    pub index: u32,
    pub span_start: u32,
    pub npages: u32,
    pub kind: u8,
    pub class: u8,
    pub head: bool,
    /// Free span: whether its resident pages are among its first `dirty`
    /// pages (so a split from the front knows how many the rest keeps).
    pub dirty_front: bool,
    /// Free span: how many of its pages may still be resident (freed and
    /// not purged since): at most `dirty` of them are, among its first
    /// `dirty` if `dirty_front`, anywhere otherwise. Never an
    /// under-estimate; `dirty ≤ npages`; 0 means every page is purged.
    pub dirty: u32,
    /// Small span: blocks handed out (to caches or callers).
    pub used: u32,
    /// Small span: blocks carved so far (`used + |free| == carved`).
    pub carved: u32,
    /// Small span: whether it is on its class's partial list.
    pub in_partial: bool,
    /// Small span: its free blocks.
    pub free: *mut Block,
    /// Free span: bin links. Small span: partial-list links.
    pub next: *mut PageDesc,
    pub prev: *mut PageDesc,
    /// Free span: `os::now_ms()` when it became free.
    pub freed_at: u64,
}

/// Where a region's page marks start: right after the header.
const MARKS_OFFSET: usize = core::mem::size_of::<RegionHeader>().next_multiple_of(64);
/// Where its page descriptors start: after a mark for every page the
/// largest region has.
const DESCS_OFFSET: usize = (MARKS_OFFSET + MAX_REGION_PAGES * core::mem::size_of::<PageMark>())
    .next_multiple_of(core::mem::align_of::<PageDesc>());

/// What the lock-free `free` of the process-wide heap
/// ([`process_small_class`]) reads about a page: two fields of one 8-byte
/// entry, each its own atomic. `start` holds the low 32 bits of minus the
/// address of the page's small span, so that the low 32 bits of `pointer +
/// start` are the pointer's offset in the span (spans are at most 64 KiB),
/// one addition with no mask; `class` holds the span's class + 1, the
/// index of its entry in [`START_CHECKS`] (below 256, so inside the table,
/// whatever the byte holds). Both are 0 for a page of no small span.
///
/// Invariant: set (under the page-heap lock) when a span is marked small,
/// cleared before its pages go back to the page heap, so a mark never
/// changes while a live block lies in its page; only ever zero or
/// [`PageMark::small`] of a real class and span.
#[repr(C, align(8))]
pub struct PageMark {
    start: AtomicU32,
    class: AtomicU8,
}

const _: () = assert!(core::mem::size_of::<PageMark>() == 8);
// An offset in a span fits the block-start check's 16 bits.
const _: () = assert!(crate::size_class::MAX_SPAN_PAGES * PAGE_SIZE <= 1 << 16);
const _: () = assert!(NUM_CLASSES < START_CHECK_ENTRIES);

impl PageMark {
    /// The mark of every page of a small span of `class` at address
    /// `span`, as one word: `start` in bits 0–31, `class` in bits 32–39
    /// ([`Self::get`], [`Self::set`]).
    pub const fn small(class: usize, span: usize) -> u64 {
        (span.wrapping_neg() as u32) as u64 | ((class as u64 + 1) << 32)
    }

    /// Both fields, as [`Self::small`] packs them.
    #[inline(always)]
    pub fn get(&self) -> u64 {
        self.start.load(Ordering::Relaxed) as u64 | (self.class.load(Ordering::Relaxed) as u64) << 32
    }

    /// Sets both fields from a word packed as [`Self::small`] packs it
    /// (under the page-heap lock).
    pub fn set(&self, mark: u64) {
        self.start.store(mark as u32, Ordering::Relaxed);
        self.class.store((mark >> 32) as u8, Ordering::Relaxed);
    }
}

/// Bytes of header, page marks and page map for a region of `npages`
/// pages, rounded up to whole pages.
pub const fn metadata_pages(npages: usize) -> usize {
    let bytes = DESCS_OFFSET + npages * core::mem::size_of::<PageDesc>();
    bytes.div_ceil(PAGE_SIZE)
}

impl RegionHeader {
    /// The descriptor of page `i`.
    ///
    /// # Safety
    /// `this` is a live `Pages` region and `i < npages`.
    #[inline(always)]
    pub unsafe fn desc(this: *mut RegionHeader, i: usize) -> *mut PageDesc {
        // SAFETY: the descriptors follow the marks inside the mapping's
        // metadata pages.
        unsafe {
            debug_assert!(
                i < (*this).npages,
                "page {i} outside a region of {} pages",
                (*this).npages
            );
            ((this as *mut u8).add(DESCS_OFFSET) as *mut PageDesc).add(i)
        }
    }

    /// The [`PageMark`] of page `i` (zero for every index past `npages`:
    /// see the module docs).
    ///
    /// # Safety
    /// `this` is a live `Pages` region and `i < MAX_REGION_PAGES`.
    #[inline(always)]
    pub unsafe fn mark<'a>(this: *mut RegionHeader, i: usize) -> &'a PageMark {
        debug_assert!(i < MAX_REGION_PAGES);
        // SAFETY: the marks of every page the largest region has follow the
        // header inside the metadata pages (`metadata_pages`), so index
        // `i` lies in the live mapping; they are written atomically, and
        // read atomically except by `process_small_class` (see there).
        unsafe { &*((this as *mut u8).add(MARKS_OFFSET) as *const PageMark).add(i) }
    }

    /// The address of page `i`.
    #[inline(always)]
    pub fn page_addr(this: *mut RegionHeader, i: usize) -> *mut u8 {
        (this as *mut u8).wrapping_add(i << PAGE_SHIFT)
    }

    /// The region a descriptor belongs to.
    #[inline(always)]
    pub fn of_desc(d: *mut PageDesc) -> *mut RegionHeader {
        (d as usize & !(REGION_ALIGN - 1)) as *mut RegionHeader
    }
}

const REGISTRY_WORDS: usize = CHUNKS / 64;

/// One bit per `REGION_ALIGN` chunk: set while a header of ours lives there.
/// 512 KiB of zeroed static memory; untouched pages cost nothing.
///
/// Ordering: a bit is set (under the owning heap's lock) before any block of
/// the mapping is handed out, and cleared after its last block came back and
/// before it is unmapped. A thread freeing a valid pointer therefore sees the
/// bit through the happens-before edge that gave it the pointer; relaxed
/// operations suffice.
static REGISTRY: [AtomicU64; REGISTRY_WORDS] = [const { AtomicU64::new(0) }; REGISTRY_WORDS];

/// Records that a header of ours lives at `base` (chunk-aligned; callers
/// only map below `os::ADDRESS_LIMIT`, checked with [`addressable`]).
pub fn register(base: usize) {
    let chunk = base >> REGION_SHIFT;
    debug_assert!(chunk / 64 < REGISTRY_WORDS);
    if let Some(word) = REGISTRY.get(chunk / 64) {
        word.fetch_or(1 << (chunk % 64), Ordering::Relaxed);
    }
}

/// Forgets `base`.
pub fn unregister(base: usize) {
    let chunk = base >> REGION_SHIFT;
    if let Some(word) = REGISTRY.get(chunk / 64) {
        word.fetch_and(!(1 << (chunk % 64)), Ordering::Relaxed);
    }
}

fn is_registered(base: usize) -> bool {
    let chunk = base >> REGION_SHIFT;
    chunk / 64 < REGISTRY_WORDS
        && REGISTRY[chunk / 64].load(Ordering::Relaxed) & (1 << (chunk % 64)) != 0
}

/// Whether `addr` can be a region/huge base at all under the registry.
pub fn addressable(base: usize, len: usize) -> bool {
    base.checked_add(len)
        .is_some_and(|end| end <= crate::os::ADDRESS_LIMIT)
}

/// Finds the mapping of ours that `ptr` points into, without trusting `ptr`.
///
/// Returns null if no memalloc mapping is registered at the masked address
/// or `ptr` lies beyond that mapping. A pointer that is exactly
/// `REGION_ALIGN`-aligned can only be a huge block with an alignment of at
/// least `REGION_ALIGN`, whose header sits one chunk below it.
#[inline]
pub fn find(ptr: *const u8) -> *mut RegionHeader {
    let addr = ptr as usize;
    let base = if addr & (REGION_ALIGN - 1) == 0 {
        addr.wrapping_sub(REGION_ALIGN)
    } else {
        addr & !(REGION_ALIGN - 1)
    };
    if addr == 0 || !is_registered(base) {
        return ptr::null_mut();
    }
    let region = base as *mut RegionHeader;
    // SAFETY: the registry bit says a header of ours is mapped at `base`.
    // For a pointer to a live block that mapping cannot be unmapped
    // meanwhile (its block pins it). For an invalid pointer the check is
    // best-effort: a concurrent unmap of that very chunk is a race the
    // caller's bug already made (see README, Caveats).
    let (magic, size) = unsafe { ((*region).magic, (*region).map_size) };
    if magic != MAGIC || addr - base >= size {
        return ptr::null_mut();
    }
    region
}

/// `REGION_ALIGN` chunks of the address space the registries cover.
const CHUNKS: usize = crate::os::ADDRESS_LIMIT >> REGION_SHIFT;

/// The two tables the process-wide heap's lock-free `free`
/// ([`process_small_class`]) reads, in one static so that one address
/// (`lea`) reaches both.
#[repr(C)]
struct FreeTables {
    /// [`START_CHECKS`], the block-start check of each page mark's class
    /// byte.
    start_checks: [u32; START_CHECK_ENTRIES],
    /// For each `REGION_ALIGN` chunk, 1 if a page region of the
    /// process-wide heap has its header there, 0 otherwise: the one load
    /// that lets that heap's `free` find a small block's span and class
    /// without the checks of [`find`] (4 MiB of zeroed static memory; a
    /// chunk's entry touches one page of it). A byte, so that the test is
    /// one compare with memory.
    ///
    /// Ordering: as [`REGISTRY`]: set under the page-heap lock after the
    /// region's page map is written and before any block of it is handed
    /// out, cleared before the region is unmapped (when no block of it is
    /// live), so relaxed operations suffice for every valid pointer.
    regions: [AtomicU8; CHUNKS],
}

static FREE_TABLES: FreeTables = FreeTables {
    start_checks: START_CHECKS,
    regions: [const { AtomicU8::new(0) }; CHUNKS],
};

/// The entry of [`FreeTables::regions`] for `chunk`, if the table covers
/// it. Reached through a raw pointer to the table, so that no reference to
/// the whole 4 MiB array is formed: Miri's borrow tracking would retag all
/// of it on every call.
#[inline(always)]
fn process_entry(chunk: usize) -> Option<&'static AtomicU8> {
    if chunk >= CHUNKS {
        return None;
    }
    let table = core::ptr::addr_of!(FREE_TABLES.regions) as *const AtomicU8;
    // SAFETY: `chunk < CHUNKS`, so the element lies inside the static, which
    // lives for the whole program; it is written atomically, and read
    // atomically except by `process_small_class` (see there).
    Some(unsafe { &*table.add(chunk) })
}

/// Records the process-wide heap's page region `r` (fully initialised) in
/// [`FreeTables::regions`].
///
/// # Safety
/// `r` is a live `Pages` region of the process-wide heap below
/// `os::ADDRESS_LIMIT`, with its page map written.
pub unsafe fn register_process_region(r: *mut RegionHeader) {
    if let Some(entry) = process_entry(r as usize >> REGION_SHIFT) {
        entry.store(1, Ordering::Relaxed);
    }
}

/// Whether [`FreeTables::regions`] records a region at the chunk at `base`, for
/// the invariant checker.
pub fn is_process_region(base: usize) -> bool {
    process_entry(base >> REGION_SHIFT).is_some_and(|e| e.load(Ordering::Relaxed) != 0)
}

/// Forgets the process-wide heap's page region at `base`.
pub fn unregister_process_region(base: usize) {
    if let Some(entry) = process_entry(base >> REGION_SHIFT) {
        entry.store(0, Ordering::Relaxed);
    }
}

/// `x`, in a register the optimiser cannot see through. `free`'s bound
/// test on a pointer's chunk is then one comparison of the chunk itself;
/// without this, LLVM rewrites `(addr >> 26) < 2^22` as `addr >> 48 == 0`
/// and shifts the pointer twice (two more instructions on every `free`).
/// An empty assembly statement: no instruction.
#[inline(always)]
fn opaque(mut x: usize) -> usize {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: the statement is empty: it reads and writes nothing but the
    // register it names, and leaves that register as it was.
    unsafe {
        core::arch::asm!("/* {0} */", inout(reg) x, options(pure, nomem, nostack, preserves_flags));
    }
    x
}

/// The class of the small block `ptr` if `ptr` is the start of a block of
/// a small span of the process-wide heap; `None` for anything else (large
/// and huge blocks, other heaps, and every invalid pointer, which the
/// caller then classifies the careful way, with its diagnostics).
///
/// A shift, a bound test and four loads: the chunk's entry (is it a page
/// region of the process-wide heap?), the two fields of the page's mark
/// ([`RegionHeader::mark`], indexed by the pointer's page bits with no
/// bound test), and the check of the mark's class. The block-start check
/// is one multiplication and one comparison
/// ([`SizeClass::start_check`](crate::size_class::SizeClass::start_check)).
///
/// The chunk's entry and the mark's fields are read with plain
/// (non-atomic) loads of their atomics, so that each folds into the
/// instruction that uses it. That is sound for every pointer a correct
/// program can pass: each location is written only when a region is
/// registered or a span is marked or unmarked, under the page-heap lock,
/// and a live block's chunk entry and page mark do not change while it is
/// live, so every write to them happens before the block was handed out,
/// and so before this read. Only a pointer to no live block, which is
/// already the caller's bug, can race a write; what the lookup then sees
/// is not guaranteed (README, Caveats), as for [`find`]'s header reads.
#[inline(always)]
pub fn process_small_class(ptr: *const u8) -> Option<ListOffset> {
    let addr = ptr as usize;
    let chunk = opaque(addr >> REGION_SHIFT);
    if chunk >= CHUNKS {
        return None;
    }
    let tables = core::ptr::addr_of!(FREE_TABLES);
    // SAFETY: `chunk < CHUNKS`, so the entry lies in the static; the read
    // races no write for a pointer to a live block (above).
    if unsafe { *(core::ptr::addr_of!((*tables).regions) as *const u8).add(chunk) } == 0 {
        return None;
    }
    let page = (addr >> PAGE_SHIFT) & (MAX_REGION_PAGES - 1);
    let r = (chunk << REGION_SHIFT) as *mut RegionHeader;
    // SAFETY: the entry is non-zero only while a page region of the
    // process-wide heap lives at `r`, and `page < MAX_REGION_PAGES`, so the
    // mark lies in its metadata pages (`RegionHeader::mark`). For a live
    // block its mark does not change (above); for an invalid pointer the
    // read is of mapped memory of ours, and the checks below reject it
    // unless it is a block start.
    let mark = unsafe { RegionHeader::mark(r, page) };
    // SAFETY: as the mark itself (above).
    let (start, class_plus_one) = unsafe { (*mark.start.as_ptr(), *mark.class.as_ptr()) };
    // `class + 1`, or 0 for a page of no small span, whose check (like
    // those past the last class) accepts no offset: no separate test.
    // SAFETY: a byte indexes the 256-entry table in bounds; the static
    // lives for the whole program and is never written.
    let check = unsafe {
        *(core::ptr::addr_of!((*tables).start_checks) as *const u32).add(class_plus_one as usize)
    };
    // Offset from the span's first page, exact for a pointer into the span
    // (below `MAX_SPAN_PAGES × PAGE_SIZE` ≤ 2^16: `PageMark`).
    let offset = (addr as u32).wrapping_add(start);
    if crate::size_class::is_block_start(offset, check) {
        Some(ListOffset::of_class(class_plus_one as usize - 1))
    } else {
        None
    }
}


/// Writes a fresh header at `base` (a new mapping of `map_size` bytes).
///
/// # Safety
/// `base` is a new, writable, `REGION_ALIGN`-aligned mapping of `map_size`
/// bytes that nobody else uses yet.
pub unsafe fn init_header(
    base: *mut u8,
    owner: usize,
    kind: RegionKind,
    map_size: usize,
) -> *mut RegionHeader {
    let r = base as *mut RegionHeader;
    // SAFETY: the mapping is ours, writable and large enough for a header.
    unsafe {
        r.write(RegionHeader {
            magic: MAGIC,
            owner,
            kind,
            map_size,
            npages: 0,
            first_page: 0,
            free_pages: 0,
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
            user_ptr: ptr::null_mut(),
            user_size: 0,
        });
    }
    r
}

/// Initialises the page map of a new `Pages` region: every descriptor gets
/// its index; the usable pages form one free span (not yet binned).
///
/// # Safety
/// `r` was just made by `init_header` with kind `Pages` and a `map_size`
/// that is a whole number of pages.
pub unsafe fn init_page_map(r: *mut RegionHeader) -> *mut PageDesc {
    // SAFETY: caller precondition; all descriptors lie in the metadata pages.
    unsafe {
        let npages = (*r).map_size >> PAGE_SHIFT;
        let first = metadata_pages(npages);
        (*r).npages = npages;
        (*r).first_page = first;
        for i in 0..npages {
            RegionHeader::desc(r, i).write(PageDesc {
                index: i as u32,
                span_start: first as u32,
                npages: 0,
                kind: 0,
                class: 0,
                head: false,
                dirty_front: true,
                dirty: 0,
                used: 0,
                carved: 0,
                in_partial: false,
                free: ptr::null_mut(),
                next: ptr::null_mut(),
                prev: ptr::null_mut(),
                freed_at: 0,
            });
        }
        let head = RegionHeader::desc(r, first);
        (*head).head = true;
        (*head).kind = SPAN_FREE;
        (*head).npages = (npages - first) as u32;
        head
    }
}

/// The span head for the page that `ptr` (inside `r`) lies in, or null if
/// the page map does not name a head covering that page.
///
/// # Safety
/// `r` is a live `Pages` region containing `ptr`.
#[inline]
pub unsafe fn span_of(r: *mut RegionHeader, ptr: *const u8) -> *mut PageDesc {
    let page = (ptr as usize - r as usize) >> PAGE_SHIFT;
    // SAFETY: `page < npages` since `ptr` lies in the region; `span_start`
    // always names a descriptor of this region.
    unsafe {
        if page < (*r).first_page {
            return ptr::null_mut();
        }
        let start = (*RegionHeader::desc(r, page)).span_start as usize;
        if start > page || start >= (*r).npages {
            return ptr::null_mut();
        }
        let head = RegionHeader::desc(r, start);
        if !(*head).head || page >= start + (*head).npages as usize {
            return ptr::null_mut();
        }
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::size_class::{CLASSES, SMALL_MAX, block_size};

    #[test]
    fn the_process_lookup_confirms_exactly_the_block_starts_of_small_spans() {
        // One block of every class from the process-wide heap, and each
        // block's neighbourhood: only the start is confirmed, with its class.
        let blocks: Vec<(usize, *mut u8)> = (0..NUM_CLASSES)
            .map(|c| {
                // SAFETY: a live block freed below.
                let p = unsafe { crate::global::malloc(block_size(c)) };
                assert!(!p.is_null());
                (c, p)
            })
            .collect();
        for &(c, p) in &blocks {
            assert_eq!(
                process_small_class(p),
                Some(ListOffset::of_class(c)),
                "class {c}"
            );
            for off in [1, 8, 15, 16, 48, block_size(c) - 16, block_size(c) / 2] {
                if off == 0 || off % block_size(c) == 0 {
                    continue;
                }
                assert_eq!(
                    process_small_class(p.wrapping_add(off)),
                    None,
                    "class {c} +{off}"
                );
            }
            // The block after it in the span is a block start too (free or
            // live: the lookup cannot tell, and need not).
            // SAFETY: `p` is a live block of ours, so `find` gives its
            // region and `span_of` its span.
            let span = unsafe { span_of(find(p), p) };
            // SAFETY: `span` heads the live small span of `p`.
            let (index, pages) = unsafe { ((*span).index as usize, (*span).npages as usize) };
            let start = RegionHeader::page_addr(RegionHeader::of_desc(span), index) as usize;
            let per_span = CLASSES[c].blocks_per_span as usize;
            // Every 8-byte step of the span: exactly the multiples of the
            // block size are confirmed, on every page of it.
            for off in (0..pages * PAGE_SIZE).step_by(8) {
                let expected = (off % block_size(c) == 0).then(|| ListOffset::of_class(c));
                assert_eq!(
                    process_small_class((start + off) as *const u8),
                    expected,
                    "class {c} span offset {off}"
                );
            }
            let end_of_blocks = start + per_span * block_size(c);
            // Spans have no tail: the blocks end where the span does.
            assert_eq!(end_of_blocks, start + pages * PAGE_SIZE, "tail of class {c}");
            let last = end_of_blocks - block_size(c);
            assert_eq!(
                process_small_class(last as *const u8),
                Some(ListOffset::of_class(c)),
                "last block of class {c}"
            );
        }
        // Not small blocks: null, a large block, a stack address, and an
        // address far outside any heap.
        let local = 0u64;
        // SAFETY: a live block freed below.
        let large = unsafe { crate::global::malloc(SMALL_MAX + 1) };
        assert_eq!(process_small_class(core::ptr::null()), None);
        assert_eq!(process_small_class(large), None);
        assert_eq!(process_small_class(&local as *const u64 as *const u8), None);
        assert_eq!(process_small_class(usize::MAX as *const u8), None);
        assert_eq!(process_small_class((1usize << 47) as *const u8), None);
        // A heap instance's blocks are never the process-wide heap's.
        let heap = crate::Heap::new();
        // SAFETY: a live block of `heap`, freed below.
        unsafe {
            let h = heap.malloc(64);
            assert_eq!(process_small_class(h), None);
            heap.free(h);
            crate::global::free(large);
            for (_, p) in blocks {
                crate::global::free(p);
            }
        }
    }
}
