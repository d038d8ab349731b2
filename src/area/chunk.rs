//! Chunks: the area heap's unit of allocation, their boundary tags, and
//! the size → bin map.
//!
//! ```text
//!   in use:  | header |  payload (size − W bytes, 16-aligned) ............ |
//!   free:    | header | next | prev |  (unused)  ...............  | footer |
//!            ^ chunk start c (c + W ≡ 0 mod 16)                         c + size
//!
//!   header = size | IN_USE | PREV_IN_USE      (size: a multiple of 16)
//!   footer = size                             (free chunks only)
//! ```
//!
//! W is the word size (8 bytes on 64-bit targets, 4 on 32-bit). A chunk
//! starts W bytes before a 16-byte boundary, so its payload is 16-aligned.
//! Only a free chunk has a footer; an in-use chunk lends those W bytes to
//! its payload, and its successor's `PREV_IN_USE` bit says which case
//! holds, so freeing finds the left neighbour's start from its footer.

use core::mem::size_of;

/// The word: the header, each free-list link and the footer take one.
pub(super) const W: usize = size_of::<usize>();
/// Chunk sizes and payload addresses are multiples of this.
pub const UNIT: usize = 16;
/// The smallest chunk: a free one must hold its header, two links and its
/// footer. 32 bytes on 64-bit targets, 16 on 32-bit ones.
pub const MIN_CHUNK: usize = (4 * W).div_ceil(UNIT) * UNIT;
/// Bytes of each in-use chunk that are not payload: its header.
pub const OVERHEAD: usize = W;

/// Header bit: this chunk is handed out.
pub(super) const IN_USE: usize = 1;
/// Header bit: the chunk just before this one is in use (or there is
/// none); clear iff the left neighbour is free and has a footer.
pub(super) const PREV_IN_USE: usize = 2;
/// The header bits that are not the size.
pub(super) const FLAGS: usize = UNIT - 1;

/// Chunks of fewer than `EXACT_UNITS` units each have a bin of their own.
const EXACT_UNITS: usize = 64;
/// Ranged bins split every power of two into this many (log2).
const SUB_BITS: u32 = 2;
/// Bins: one per exact unit count below 64 (bins 0..64, the smallest
/// unused), then four per power of two of units from 2^6 up to the largest
/// possible chunk (`usize::MAX / 16` units).
pub(super) const NUM_BINS: usize = EXACT_UNITS + ((usize::BITS - 4 - 6) as usize) * (1 << SUB_BITS);
/// Words in the non-empty-bin bitmap.
pub(super) const BIT_WORDS: usize = NUM_BINS.div_ceil(usize::BITS as usize);

/// The bin of a free chunk of `size` bytes (a non-zero multiple of 16):
/// exact for fewer than 64 units (1 KiB), then `[2^k·(4+s)/4,
/// 2^k·(5+s)/4)` units in sub-bin `s` of power `k`. Monotone in `size`, so
/// every chunk of a lower bin is smaller than every chunk of a higher one.
pub(super) const fn bin_of(size: usize) -> usize {
    let units = size / UNIT;
    if units < EXACT_UNITS {
        return units;
    }
    let k = usize::BITS - 1 - units.leading_zeros();
    let sub = (units >> (k - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    EXACT_UNITS + ((k - 6) as usize) * (1 << SUB_BITS) + sub
}

/// The chunk size that serves `size` payload bytes at 16-byte alignment:
/// header plus payload rounded up to 16, at least [`MIN_CHUNK`]. `None` if
/// that overflows or exceeds `isize::MAX`.
pub(super) const fn chunk_for(size: usize) -> Option<usize> {
    let Some(with_header) = size.checked_add(W + UNIT - 1) else {
        return None;
    };
    let c = with_header & !(UNIT - 1);
    if c > isize::MAX as usize {
        return None;
    }
    Some(if c < MIN_CHUNK { MIN_CHUNK } else { c })
}

/// `addr` rounded up to `align` (a power of two), or `None` on overflow.
pub(super) const fn align_up(addr: usize, align: usize) -> Option<usize> {
    match addr.checked_add(align - 1) {
        Some(a) => Some(a & !(align - 1)),
        None => None,
    }
}

/// Where a chunk of `need` bytes whose payload is aligned to `align` fits
/// in the free chunk at `c` of `size` bytes: its offset from `c`, either 0
/// or at least [`MIN_CHUNK`] (the leading piece must be a chunk of its
/// own). `None` if it does not fit.
pub(super) fn place(c: *mut u8, size: usize, need: usize, align: usize) -> Option<usize> {
    let base = c as usize;
    let off = if align <= UNIT {
        0
    } else {
        let p = align_up(base.checked_add(W)?, align)?;
        let off = p - W - base;
        if off == 0 || off >= MIN_CHUNK {
            off
        } else {
            align_up(base.checked_add(W + MIN_CHUNK)?, align)? - W - base
        }
    };
    (off.checked_add(need)? <= size).then_some(off)
}

// The accessors below read and write a chunk's words. Their common
// precondition: `c` is a chunk start inside the heap's area (so `c` is
// W-aligned and its header word is in bounds), and the caller holds the
// heap's lock.

/// The header word.
///
/// # Safety
/// `c` is a chunk start of a formatted area (see above).
#[inline]
pub(super) unsafe fn header(c: *mut u8) -> usize {
    // SAFETY: caller's precondition: the header word is in the area and
    // W-aligned.
    unsafe { c.cast::<usize>().read() }
}

/// Writes the header word.
///
/// # Safety
/// As [`header`].
#[inline]
pub(super) unsafe fn set_header(c: *mut u8, h: usize) {
    // SAFETY: caller's precondition, as in `header`.
    unsafe { c.cast::<usize>().write(h) }
}

/// The chunk's size from its header.
///
/// # Safety
/// As [`header`].
#[inline]
pub(super) unsafe fn size(c: *mut u8) -> usize {
    // SAFETY: forwarded.
    unsafe { header(c) & !FLAGS }
}

/// Writes the footer of a free chunk of `size` bytes at `c`.
///
/// # Safety
/// `[c, c + size)` is a chunk of the area, `size ≥ MIN_CHUNK`.
#[inline]
pub(super) unsafe fn set_footer(c: *mut u8, size: usize) {
    // SAFETY: the last word of the chunk is inside it (caller), and W-aligned
    // since `c` and `size` are.
    unsafe { c.add(size - W).cast::<usize>().write(size) }
}

/// The free-list link words of a free chunk: `next` at `c + W`, `prev`
/// at `c + 2W`.
///
/// # Safety
/// `c` is a free chunk (so at least [`MIN_CHUNK`] = 4 words long).
#[inline]
pub(super) unsafe fn links(c: *mut u8) -> (*mut *mut u8, *mut *mut u8) {
    // SAFETY: both words lie inside the chunk (caller).
    unsafe { (c.add(W).cast(), c.add(2 * W).cast()) }
}
