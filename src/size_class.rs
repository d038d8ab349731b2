//! The size-class table: size → class, class → block size, span size and
//! batch size. Pure data, computed at compile time.
//!
//! ```text
//!  bytes   16  32  48 ... 128 | 160 192 224 256 | 320 384 448 512 | ... | 20K 24K 28K 32K
//!  class    0   1   2 ...   7 |   8   9  10  11 |  12  13  14  15 | ... |  36  37  38  39
//!          ── 16-byte steps ── ───────── four classes per power of two ─────────────────────
//! ```
//!
//! Spacing: every multiple of 16 up to 128 B, then four classes per doubling
//! (2^k·5/4, 6/4, 7/4, 8/4). Worst-case internal waste (block − request):
//! at most 15 bytes up to 128 B, and below 20 % of the block above it
//! (a request of 2^k + 1 lands in a block of 2^k·5/4).
//!
//! Alignment: every block size `b` is a multiple of 16, and for any
//! power-of-two `align` ≤ [`PAGE_SIZE`], the class chosen for
//! `round_up(size, align)` has a block size that is a multiple of `align`
//! (the table holds `m·2^a` for m ∈ {1, 2, 3}, and larger blocks are
//! multiples of 2^(k−2) ≥ align). Spans start on page boundaries, so blocks
//! carved at multiples of `b` keep that alignment. The unit test
//! `every_class_keeps_alignment` checks this for every class.

use crate::region::PAGE_SIZE;

/// Number of small size classes.
pub const NUM_CLASSES: usize = 40;
/// Largest size served from size classes; larger requests take whole pages.
/// 32 KiB: above it, page runs can grow in place on `realloc` (a doubling
/// buffer then stops being copied), and one thread cache cannot pin much
/// memory in big blocks. Measured: realloc growth to 1 B–1 MiB 2.0 µs →
/// 0.57 µs per buffer; the loopback server benchmark unchanged.
pub const SMALL_MAX: usize = 32 * 1024;

/// Target bytes moved between a thread cache and the central heap at once.
const BATCH_BYTES: usize = 16 * 1024;
/// Largest and smallest batch (in blocks).
const MAX_BATCH: usize = 64;
const MIN_BATCH: usize = 2;
/// The largest span of small blocks. A span has no tail: its size is a
/// multiple of its block size (so every multiple of the block size inside
/// it is a block start, which is what lets the lock-free `free` check a
/// block start with one multiplication; see [`SizeClass::start_check`]).
/// Classes with `m = 1` get 64 KiB spans, the others `3·2^k`, 5 or 7 pages
/// (48, 40, 56 KiB).
const MAX_SPAN_BYTES: usize = 64 * 1024;

/// Everything the allocator needs to know about one class.
#[derive(Clone, Copy, Debug)]
pub struct SizeClass {
    /// Bytes per block.
    pub block_size: u32,
    /// Pages per span carved into blocks of this class.
    pub span_pages: u32,
    /// Blocks per span (`span_pages * PAGE_SIZE / block_size`).
    pub blocks_per_span: u32,
    /// Blocks moved between a thread cache and the central heap at once.
    pub batch: u32,
    /// `ceil(2^32 / block_size)`: an offset `x < 2^16` from the span's
    /// start is a multiple of the block size exactly when the 32-bit
    /// product `x · start_check` is below `start_check` (Lemire, Kaser and
    /// Kurz, "Faster remainder by direct computation", 2019: the check is
    /// exact for N-bit `x` when `32 ≥ N + log2(block_size)`, here 16 + 15).
    /// Spans have no tail (`MAX_SPAN_BYTES`), so every multiple inside
    /// one is a block start, and the lock-free `free` needs no bound test.
    /// A unit test checks every offset of every class.
    pub start_check: u32,
}

const fn block_size_of(class: usize) -> usize {
    if class < 8 {
        (class + 1) * 16
    } else {
        let group = (class - 8) / 4; // 0 → (128, 256], 1 → (256, 512], ...
        let sub = (class - 8) % 4;
        let base = 128usize << group;
        base + (sub + 1) * (base / 4)
    }
}

/// The largest span of at most [`MAX_SPAN_BYTES`] that blocks of `block`
/// bytes tile exactly. Every block size is `m·2^a` with `m` ∈ {1, 3, 5, 7}
/// (the module docs), so `m` pages always qualify.
const fn span_pages_of(block: usize) -> usize {
    let mut pages = MAX_SPAN_BYTES / PAGE_SIZE;
    while !(pages * PAGE_SIZE).is_multiple_of(block) {
        pages -= 1;
    }
    pages
}

const fn build_table() -> [SizeClass; NUM_CLASSES] {
    let mut t = [SizeClass {
        block_size: 0,
        span_pages: 0,
        blocks_per_span: 0,
        batch: 0,
        start_check: 0,
    }; NUM_CLASSES];
    let mut c = 0;
    while c < NUM_CLASSES {
        let block = block_size_of(c);
        let pages = span_pages_of(block);
        let mut batch = BATCH_BYTES / block;
        if batch > MAX_BATCH {
            batch = MAX_BATCH;
        }
        if batch < MIN_BATCH {
            batch = MIN_BATCH;
        }
        t[c] = SizeClass {
            block_size: block as u32,
            span_pages: pages as u32,
            blocks_per_span: (pages * PAGE_SIZE / block) as u32,
            batch: batch as u32,
            start_check: (1u64 << 32).div_ceil(block as u64) as u32,
        };
        c += 1;
    }
    t
}

/// The table, indexed by class.
pub static CLASSES: [SizeClass; NUM_CLASSES] = build_table();

/// The most pages any class's span has.
pub const MAX_SPAN_PAGES: usize = {
    let mut max = 0;
    let mut c = 0;
    while c < NUM_CLASSES {
        if CLASSES[c].span_pages as usize > max {
            max = CLASSES[c].span_pages as usize;
        }
        c += 1;
    }
    max
};
// The block-start check's range (`SizeClass::start_check`): offsets in a
// span below 2^16, block sizes below 2^16.
const _: () = assert!(MAX_SPAN_PAGES * PAGE_SIZE <= 1 << 16);
const _: () = assert!(SMALL_MAX < 1 << 16);

/// Entries of [`START_CHECKS`]: every value a page mark's class byte can
/// hold (`region::PageMark`).
pub const START_CHECK_ENTRIES: usize = 256;
const _: () = assert!(NUM_CLASSES < START_CHECK_ENTRIES);

/// [`SizeClass::start_check`] indexed by `class + 1`, the value a page's
/// mark gives (`region::PageMark`), for the lock-free `free`: entry 0 (a
/// page of no small span) and the entries past the last class are 0, which
/// accepts no offset (`x · 0 < 0` never holds), so the lookup needs no
/// separate test for them.
pub const START_CHECKS: [u32; START_CHECK_ENTRIES] = {
    let mut t = [0u32; START_CHECK_ENTRIES];
    let mut c = 0;
    while c < NUM_CLASSES {
        t[c + 1] = CLASSES[c].start_check;
        c += 1;
    }
    t
};

/// Whether `offset` (from a span's start, below 2^16) is a multiple of the
/// block size whose [`SizeClass::start_check`] is `check`; never, for a
/// check of 0.
#[inline(always)]
pub fn is_block_start(offset: u32, check: u32) -> bool {
    offset.wrapping_mul(check) < check
}

/// Sizes up to this are classified by [`SIZE_LOOKUP`].
const LOOKUP_MAX: usize = 1024;

/// A small size class as the fast paths use it: the index of its current
/// list in a thread cache's arrays of list heads and rooms, which an
/// x86-64 address scales for free (`[cache + class × 8]`, `[rooms + class
/// × 4]`), so the fast paths index both with the value `SIZE_LOOKUP` (or
/// a page mark) holds, with no shift. Invariant: `class() < NUM_CLASSES`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListOffset(usize);

impl ListOffset {
    /// The offset of `class`'s list.
    #[inline(always)]
    pub const fn of_class(class: usize) -> Self {
        debug_assert!(class < NUM_CLASSES);
        ListOffset(class)
    }

    /// The class.
    #[inline(always)]
    pub const fn class(self) -> usize {
        self.0
    }
}

/// `SIZE_LOOKUP[size]` is the [`ListOffset`] (the class) of `size` for
/// `size ≤ 1024`: indexed by the size itself, so the fast path's class
/// step is one load (`movzbl table(size)`), where a table indexed by
/// `(size + 15) / 16` needs an add and a shift first. 1 025 bytes, 17 cache lines, of which a
/// program touches those of the sizes it uses.
///
/// Measured and not taken:
/// - one table for every small size (4 KiB, indexed by `(size + 15) /
///   16`) makes an alloc+free pair of 1–32 KiB 53 instructions instead of
///   77, but the mixed C benchmark (8 B–16 KiB, 10 runs each, medians) ran
///   at 151 M pairs/s against 181 M with the 1 KiB table and the
///   arithmetic above it: the lines of the big table that random sizes
///   touch do not stay in L1;
/// - 16-byte classes all the way to 1 KiB (84 classes), so that `(size +
///   15) & !15` *is* the list offset with no table at all: the same two
///   instructions saved, but the thinner per-class flows took the central
///   lock 1.3–2.8× as often (producer/consumer and larson as
///   `#[global_allocator]`, about 25 % slower), the mixed C benchmark's L1
///   misses rose by 43 %, and a test's resident memory after freeing
///   everything and purging rose from 6.0 to 9.3 MB over its start.
const SIZE_LOOKUP: [u8; LOOKUP_MAX + 1] = build_lookup();

const fn build_lookup() -> [u8; LOOKUP_MAX + 1] {
    let mut t = [0u8; LOOKUP_MAX + 1];
    let mut size = 0;
    while size < t.len() {
        t[size] = ListOffset::of_class(class_by_arithmetic(size)).0 as u8;
        size += 1;
    }
    t
}
const _: () = assert!(NUM_CLASSES <= u8::MAX as usize);

/// The list offset of a request of `size` ≤ [`LOOKUP_MAX`] bytes.
#[inline(always)]
fn lookup(size: usize) -> ListOffset {
    ListOffset(SIZE_LOOKUP[size] as usize)
}

const fn class_by_arithmetic(size: usize) -> usize {
    if size <= 128 {
        let s = if size == 0 { 1 } else { size };
        s.div_ceil(16) - 1
    } else {
        let v = size - 1;
        let k = (usize::BITS - 1 - v.leading_zeros()) as usize; // 2^k ≤ v < 2^(k+1)
        let sub = (v >> (k - 2)) & 3;
        8 + (k - 7) * 4 + sub
    }
}

/// The class serving `size` bytes (`size` ≤ [`SMALL_MAX`]; 0 maps to the
/// smallest class): a table load up to 1 KiB, a few integer instructions
/// above.
#[inline(always)]
pub fn class_of(size: usize) -> usize {
    debug_assert!(size <= SMALL_MAX);
    if size <= LOOKUP_MAX {
        lookup(size).class()
    } else {
        let v = size - 1;
        let k = (usize::BITS - 1 - v.leading_zeros()) as usize; // 2^k ≤ v < 2^(k+1)
        let sub = (v >> (k - 2)) & 3;
        8 + (k - 7) * 4 + sub
    }
}

/// The class serving a request of `size` bytes aligned to `align`, as the
/// offset of its current list, if a size class can serve it at all.
#[inline(always)]
pub fn list_offset_for(size: usize, align: usize) -> Option<ListOffset> {
    if align <= 16 {
        // The table first: the common sizes pay one comparison, not two.
        if size <= LOOKUP_MAX {
            return Some(lookup(size));
        }
        // Not cold, but laid out after the table's case, so that case runs
        // straight into the list access with no jump.
        core::hint::cold_path();
        if size <= SMALL_MAX {
            return Some(ListOffset::of_class(class_of(size)));
        }
        return None;
    }
    core::hint::cold_path();
    if align > PAGE_SIZE {
        return None;
    }
    let rounded = size.max(1).checked_add(align - 1)? & !(align - 1);
    if rounded <= SMALL_MAX {
        Some(ListOffset::of_class(class_of(rounded)))
    } else {
        None
    }
}

/// The class serving a request of `size` bytes aligned to `align`, if a
/// size class can serve it at all.
#[inline(always)]
pub fn class_for(size: usize, align: usize) -> Option<usize> {
    list_offset_for(size, align).map(ListOffset::class)
}

/// Bytes per block of `class`.
#[inline(always)]
pub fn block_size(class: usize) -> usize {
    CLASSES[class].block_size as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_start_check_accepts_exactly_the_multiples_of_the_block_size() {
        for (c, class) in CLASSES.iter().enumerate() {
            let size = class.block_size as usize;
            assert_eq!(START_CHECKS[c + 1], class.start_check);
            // Every offset a span can have (and every 16-bit value).
            for offset in 0..1u32 << 16 {
                assert_eq!(
                    is_block_start(offset, class.start_check),
                    (offset as usize).is_multiple_of(size),
                    "class {c} offset {offset}"
                );
            }
        }
        // A page of no small span (mark 0) and marks past the last class
        // accept no offset at all.
        for mark in (0..1).chain(NUM_CLASSES + 1..START_CHECKS.len()) {
            assert_eq!(START_CHECKS[mark], 0, "mark {mark}");
            assert!(!is_block_start(0, START_CHECKS[mark]));
        }
    }

    #[test]
    fn classes_are_strictly_increasing_multiples_of_16() {
        for c in 0..NUM_CLASSES {
            let b = block_size(c);
            assert_eq!(b % 16, 0);
            if c > 0 {
                assert!(b > block_size(c - 1));
            }
        }
        assert_eq!(block_size(NUM_CLASSES - 1), SMALL_MAX);
    }

    #[test]
    fn class_of_picks_the_smallest_fitting_class() {
        for size in 0..=SMALL_MAX {
            let c = class_of(size);
            assert!(block_size(c) >= size, "size {size}");
            if c > 0 {
                assert!(block_size(c - 1) < size.max(1), "size {size} not tight");
            }
        }
    }

    #[test]
    fn the_list_offset_of_a_request_is_its_class() {
        for align in [1, 8, 16, 32, 4096, PAGE_SIZE, 2 * PAGE_SIZE] {
            for size in (0..=SMALL_MAX + 64).chain([usize::MAX - 1, isize::MAX as usize]) {
                let list = list_offset_for(size, align);
                let rounded = size.max(1).checked_add(align - 1).map(|s| s & !(align - 1));
                let expected = match rounded {
                    Some(r) if r <= SMALL_MAX && align <= PAGE_SIZE => Some(class_of(r)),
                    _ => None,
                };
                assert_eq!(list.map(ListOffset::class), expected, "{size} / {align}");
                assert_eq!(class_for(size, align), expected);
                if let Some(l) = list {
                    assert_eq!(ListOffset::of_class(l.class()), l);
                }
            }
        }
    }

    #[test]
    fn internal_waste_is_bounded_as_documented() {
        for size in 1..=SMALL_MAX {
            let b = block_size(class_of(size));
            if size <= 128 {
                assert!(b - size <= 15);
            } else {
                assert!((b - size) * 5 < b, "size {size} block {b}");
            }
        }
    }

    #[test]
    fn every_class_keeps_alignment() {
        let mut align = 1;
        while align <= PAGE_SIZE {
            for size in (0..=SMALL_MAX)
                .step_by(7)
                .chain([1, 16, 128, 129, 4096, SMALL_MAX])
            {
                if let Some(c) = class_for(size, align) {
                    assert_eq!(
                        block_size(c) % align.max(16),
                        0,
                        "size {size} align {align}"
                    );
                    assert!(block_size(c) >= size);
                }
            }
            align *= 2;
        }
    }

    #[test]
    fn spans_have_no_tail_and_batches_are_sane() {
        for c in CLASSES.iter() {
            let bytes = c.span_pages as usize * PAGE_SIZE;
            let used = c.blocks_per_span as usize * c.block_size as usize;
            assert!(c.blocks_per_span >= 1);
            assert_eq!(bytes, used, "block size {}", c.block_size);
            assert!(bytes <= MAX_SPAN_BYTES);
            assert!(bytes * 8 >= MAX_SPAN_BYTES * 5, "spans of at least 40 KiB");
            assert!(c.batch >= 2 && c.batch <= 64);
        }
    }
}
