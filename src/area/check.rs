//! The area heap's invariant walker and its statistics snapshot, both
//! taken under the heap's lock.
//!
//! ```text
//!   walk:  start ─▶ chunk ─▶ chunk ─▶ ... ─▶ end     tags, PREV_IN_USE,
//!                                                    footers, no free pair
//!   bins:  bins[b] ─▶ free ─▶ free ─▶ null            links, bin_of, bits
//!   sums:  walk totals == counters == bin totals
//! ```
//!
//! The walker reads only words inside the area (every size and link is
//! range-checked before it is followed) and bounds every loop by the most
//! chunks the area can hold, so a corrupted heap yields an error, not a
//! crash or a hang.

use super::chunk::{FLAGS, IN_USE, MIN_CHUNK, NUM_BINS, PREV_IN_USE, UNIT, W, bin_of};
use super::state::AreaState;
use crate::HeapError;

/// A snapshot of an [`AreaHeap`](super::AreaHeap)'s accounting.
///
/// `bytes_in_use + bytes_free == area_bytes`. Sizes are whole chunks:
/// a block's header and rounding count as in use (see the module docs
/// of [`area`](super) for the overhead per allocation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AreaStats {
    /// Bytes the heap manages: the area after alignment trimming.
    pub area_bytes: usize,
    /// Bytes in chunks handed out (payload, headers, rounding).
    pub bytes_in_use: usize,
    /// Bytes in free chunks.
    pub bytes_free: usize,
    /// The largest free chunk, in bytes; the largest request it can serve
    /// at 16-byte alignment is `largest_free_run - OVERHEAD` bytes.
    pub largest_free_run: usize,
    /// Blocks handed out and not yet freed.
    pub live_blocks: usize,
    /// Free chunks (each one maximal: no two touch).
    pub free_runs: usize,
}

impl AreaState {
    /// The counters, and the largest free chunk from the top bin.
    pub(super) fn stats(&self) -> AreaStats {
        let area = self.end as usize - self.start as usize;
        AreaStats {
            area_bytes: area,
            bytes_in_use: self.in_use_bytes,
            bytes_free: area - self.in_use_bytes,
            largest_free_run: self.largest_free(),
            live_blocks: self.live,
            free_runs: self.free_runs,
        }
    }

    /// Verifies every invariant listed on [`AreaState`].
    ///
    /// # Safety
    /// Lock held; the area is formatted.
    pub(super) unsafe fn check(&self) -> Result<(), HeapError> {
        let err = |m| Err(HeapError(m));
        let (lo, hi) = (self.start as usize, self.end as usize);
        if lo == hi {
            // No area, or one too small for a chunk: nothing may be counted.
            return if self.in_use_bytes == 0 && self.live == 0 && self.free_runs == 0 {
                Ok(())
            } else {
                err("counters are non-zero in an empty area")
            };
        }
        if !(lo + W).is_multiple_of(UNIT) || !(hi - lo).is_multiple_of(UNIT) {
            return err("area bounds are not chunk-aligned");
        }
        // The walk.
        let (mut c, mut prev_free) = (lo, false);
        let (mut used, mut live, mut free, mut runs) = (0usize, 0usize, 0usize, 0usize);
        while c < hi {
            let p = self.start.wrapping_add(c - lo);
            // SAFETY: `lo ≤ c < hi` and `c ≡ lo (mod 16)`: a W-aligned
            // word inside the area.
            let h = unsafe { p.cast::<usize>().read() };
            let s = h & !FLAGS;
            if h & (FLAGS & !(IN_USE | PREV_IN_USE)) != 0 {
                return err("a chunk header has stray flag bits");
            }
            if s < MIN_CHUNK || s > hi - c {
                return err("a chunk size is too small or runs past the area");
            }
            if (h & PREV_IN_USE != 0) == prev_free {
                return err("a PREV_IN_USE bit disagrees with the left neighbour");
            }
            if h & IN_USE != 0 {
                used += s;
                live += 1;
                prev_free = false;
            } else {
                if prev_free {
                    return err("two adjacent free chunks (coalescing missed)");
                }
                // SAFETY: the chunk's last word is inside the area.
                let footer = unsafe { p.add(s - W).cast::<usize>().read() };
                if footer != s {
                    return err("a free chunk's footer differs from its size");
                }
                free += s;
                runs += 1;
                prev_free = true;
            }
            c += s;
        }
        if used != self.in_use_bytes || live != self.live {
            return err("in-use counters differ from the walk");
        }
        if used + free != hi - lo {
            return err("chunks do not tile the area");
        }
        // The bins.
        let max_chunks = (hi - lo) / MIN_CHUNK;
        let (mut binned, mut binned_bytes) = (0usize, 0usize);
        for b in 0..NUM_BINS {
            let bit = self.bits[b / usize::BITS as usize] >> (b % usize::BITS as usize) & 1 != 0;
            if bit == self.bins[b].is_null() {
                return err("a bin's bitmap bit disagrees with its list");
            }
            let (mut q, mut back) = (self.bins[b], core::ptr::null_mut::<u8>());
            while !q.is_null() {
                let a = q as usize;
                if a < lo || a >= hi || !(a - lo).is_multiple_of(UNIT) {
                    return err("a free-list link points outside the area");
                }
                binned += 1;
                if binned > max_chunks {
                    return err("a free list loops");
                }
                // SAFETY: `q` is a chunk-aligned address inside the area;
                // its header and (for a chunk of MIN_CHUNK bytes or more,
                // checked below before the links are read) its link words
                // are inside it.
                let (h, next, prev) = unsafe {
                    let h = q.cast::<usize>().read();
                    if h & !FLAGS < MIN_CHUNK || h & !FLAGS > hi - a {
                        return err("a binned chunk has a bad size");
                    }
                    (
                        h,
                        q.add(W).cast::<*mut u8>().read(),
                        q.add(2 * W).cast::<*mut u8>().read(),
                    )
                };
                if h & IN_USE != 0 {
                    return err("an in-use chunk is on a free list");
                }
                if bin_of(h & !FLAGS) != b {
                    return err("a free chunk is in the wrong bin");
                }
                if prev != back {
                    return err("a free list's prev link is wrong");
                }
                binned_bytes += h & !FLAGS;
                back = q;
                q = next;
            }
        }
        if binned != runs || binned_bytes != free || runs != self.free_runs {
            return err("the bins do not hold exactly the free chunks");
        }
        Ok(())
    }
}
