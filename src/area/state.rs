//! The area heap's state behind its lock: free chunks binned by size, best
//! fit, split on allocate, coalesce with both neighbours on free.
//!
//! ```text
//!   bins[0..64]    free chunks of exactly 0..64 units (16 B each)
//!   bins[64..]     [2^k·(4+s)/4, 2^k·(5+s)/4) units, s = 0..4, k = 6..
//!   bits           bit b set iff bins[b] is non-empty
//!
//!   alloc(need, align): lowest non-empty bin that may fit ─▶ smallest
//!       chunk in it where an aligned placement fits ─▶ leading piece (if
//!       any) back to a bin ─▶ split the tail off if ≥ MIN_CHUNK
//!   free(c): merge with a free right and a free left neighbour ─▶ bin
//! ```
//!
//! Best fit: bins are monotone in size, so the smallest fitting chunk
//! lives in the lowest bin holding any fitting chunk; that bin is scanned
//! whole (an exact bin stops at its first fit). Lists are doubly linked
//! through the free chunks themselves, so taking a chunk out of its bin,
//! which coalescing does for each free neighbour, is O(1).

use super::chunk::{
    BIT_WORDS, FLAGS, IN_USE, MIN_CHUNK, NUM_BINS, PREV_IN_USE, UNIT, W, align_up, bin_of, header,
    links, place, set_footer, set_header, size,
};
use core::ptr;

/// What was wrong with a bad free or resize (see [`BadFree`](super::BadFree)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadFreeKind {
    /// The pointer is not inside the heap's area, or not 16-aligned.
    OutsideArea,
    /// The chunk header says the block is already free.
    DoubleFree,
    /// The word before the pointer is not a plausible in-use chunk header
    /// (an interior pointer, or the bytes were overwritten).
    NotABlock,
    /// The `Layout` passed back is larger than the block.
    LayoutTooLarge,
}

/// Everything behind the area heap's lock.
///
/// Invariants (checked by `check.rs`):
/// - the chunks tile `[start, end)`: each header's size is a multiple of
///   16, at least [`MIN_CHUNK`], and the next chunk starts where it ends;
///   `start + W` is 16-aligned;
/// - a chunk's `PREV_IN_USE` bit is set iff it is the first chunk or its
///   left neighbour is in use; a free chunk's footer equals its size;
/// - no two adjacent chunks are free (coalescing is complete);
/// - every free chunk is on exactly one list, `bins[bin_of(size)]`, whose
///   `prev`/`next` links agree; bit `b` of `bits` is set iff `bins[b]` is
///   non-empty;
/// - `in_use_bytes` = Σ sizes of in-use chunks, `live` = their number,
///   `free_runs` = the number of free chunks, and
///   `in_use_bytes + free bytes = end − start`.
///
/// Before the first operation the area is only recorded (`pending`); the
/// first locked operation formats it (`format`), so a constructor can be
/// `const` and sit in a `static`.
pub(super) struct AreaState {
    /// The caller's area, not yet formatted (null once formatted or if
    /// none was given).
    pub(super) pending: *mut u8,
    pub(super) pending_len: usize,
    /// The first chunk; `start == end` when there are no chunks.
    pub(super) start: *mut u8,
    /// One past the last chunk.
    pub(super) end: *mut u8,
    pub(super) bins: [*mut u8; NUM_BINS],
    pub(super) bits: [usize; BIT_WORDS],
    pub(super) in_use_bytes: usize,
    pub(super) live: usize,
    pub(super) free_runs: usize,
}

impl AreaState {
    pub(super) const fn new(pending: *mut u8, pending_len: usize) -> Self {
        AreaState {
            pending,
            pending_len,
            start: ptr::null_mut(),
            end: ptr::null_mut(),
            bins: [ptr::null_mut(); NUM_BINS],
            bits: [0; BIT_WORDS],
            in_use_bytes: 0,
            live: 0,
            free_runs: 0,
        }
    }

    /// Whether an area was given (formatted or not).
    pub(super) fn has_area(&self) -> bool {
        !self.pending.is_null() || !self.start.is_null()
    }

    /// Formats the pending area, if any, into one free chunk (or none, if
    /// it is smaller than [`MIN_CHUNK`] after alignment).
    ///
    /// # Safety
    /// The pending area is valid for reads and writes for the heap's life
    /// and used by nothing else (the constructors' precondition).
    #[inline]
    pub(super) unsafe fn format(&mut self) {
        if self.pending.is_null() {
            return;
        }
        let (p, len) = (self.pending, self.pending_len);
        self.pending = ptr::null_mut();
        let base = p as usize;
        let limit = base.saturating_add(len);
        // The first chunk starts W before the first 16-byte boundary that
        // leaves room for its header.
        let first = match align_up(base.saturating_add(W), UNIT) {
            Some(a) => a - W,
            None => limit,
        };
        let total = limit.saturating_sub(first) & !(UNIT - 1);
        let total = total.min(isize::MAX as usize & !(UNIT - 1));
        // Pointers derived from `p`, keeping its provenance.
        let start = p.wrapping_add(first.min(limit) - base);
        if total < MIN_CHUNK {
            self.start = start;
            self.end = start;
            return;
        }
        self.start = start;
        // SAFETY: `first - base + total ≤ len`: in the caller's area.
        self.end = unsafe { start.add(total) };
        // SAFETY: `[start, start + total)` is in the area, which is ours
        // (precondition); `start` is W-aligned since `start + W` is
        // 16-aligned.
        unsafe {
            set_header(start, total | PREV_IN_USE);
            set_footer(start, total);
            self.push(start, total);
        }
    }

    /// Puts the free chunk `c` of `size` bytes at the head of its bin.
    ///
    /// # Safety
    /// `c` is a free chunk of this area, on no list; lock held.
    unsafe fn push(&mut self, c: *mut u8, size: usize) {
        let b = bin_of(size);
        let head = self.bins[b];
        // SAFETY: `c` and `head` (if any) are free chunks of this area,
        // whose link words are theirs (chunk.rs).
        unsafe {
            let (next, prev) = links(c);
            next.write(head);
            prev.write(ptr::null_mut());
            if !head.is_null() {
                links(head).1.write(c);
            }
        }
        self.bins[b] = c;
        self.bits[b / usize::BITS as usize] |= 1 << (b % usize::BITS as usize);
        self.free_runs += 1;
    }

    /// Takes the free chunk `c` of `size` bytes out of its bin.
    ///
    /// # Safety
    /// `c` is on `bins[bin_of(size)]`; lock held.
    unsafe fn unlink(&mut self, c: *mut u8, size: usize) {
        let b = bin_of(size);
        // SAFETY: `c` and its list neighbours are free chunks on this list,
        // whose link words are theirs.
        unsafe {
            let (next, prev) = links(c);
            let (n, p) = (next.read(), prev.read());
            if p.is_null() {
                self.bins[b] = n;
            } else {
                links(p).0.write(n);
            }
            if !n.is_null() {
                links(n).1.write(p);
            }
        }
        if self.bins[b].is_null() {
            self.bits[b / usize::BITS as usize] &= !(1 << (b % usize::BITS as usize));
        }
        self.free_runs -= 1;
    }

    /// The first non-empty bin at or above `b`.
    pub(super) fn next_bin(&self, b: usize) -> Option<usize> {
        let bits = usize::BITS as usize;
        let mut w = b / bits;
        if w >= BIT_WORDS {
            return None;
        }
        let mut word = self.bits[w] & (usize::MAX << (b % bits));
        loop {
            if word != 0 {
                return Some(w * bits + word.trailing_zeros() as usize);
            }
            w += 1;
            if w == BIT_WORDS {
                return None;
            }
            word = self.bits[w];
        }
    }

    /// Sets or clears the `PREV_IN_USE` bit of the chunk at `c`, if `c` is
    /// a chunk (not `end`).
    ///
    /// # Safety
    /// `c` is a chunk start of this area or `end`; lock held.
    unsafe fn set_prev_in_use(&mut self, c: *mut u8, in_use: bool) {
        if c != self.end {
            // SAFETY: `c` is a chunk of this area (caller).
            unsafe {
                let h = header(c);
                set_header(
                    c,
                    if in_use {
                        h | PREV_IN_USE
                    } else {
                        h & !PREV_IN_USE
                    },
                );
            }
        }
    }

    /// The best-fitting chunk for `need` bytes at `align`: a chunk start
    /// whose payload is `align`-aligned, in use, of at least `need` bytes.
    /// Null if no free chunk can hold it.
    ///
    /// # Safety
    /// Lock held; the area is formatted.
    pub(super) unsafe fn alloc(&mut self, need: usize, align: usize) -> *mut u8 {
        let mut b = bin_of(need);
        let (mut best, mut best_size, mut best_off) = (ptr::null_mut(), usize::MAX, 0);
        while let Some(bin) = self.next_bin(b) {
            let mut c = self.bins[bin];
            while !c.is_null() {
                // SAFETY: binned chunks are free chunks of this area.
                let (s, next) = unsafe { (size(c), links(c).0.read()) };
                if s < best_size
                    && let Some(off) = place(c, s, need, align)
                {
                    (best, best_size, best_off) = (c, s, off);
                    if s == need || bin < 64 {
                        // Nothing smaller fits: an exact bin's chunks all
                        // have this size.
                        break;
                    }
                }
                c = next;
            }
            if !best.is_null() {
                break;
            }
            b = bin + 1;
        }
        if best.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: `best` is a binned free chunk where `need` bytes fit at
        // `best_off` (place); lock held.
        unsafe { self.take(best, best_size, best_off, need) }
    }

    /// Hands out `need` bytes at `off` in the free chunk `c` of `size`
    /// bytes: the leading `off` bytes stay free, a tail of at least
    /// [`MIN_CHUNK`] is split off and stays free, the rest is in use.
    ///
    /// # Safety
    /// `c` is binned; `off` is 0 or ≥ `MIN_CHUNK`, a multiple of 16, and
    /// `off + need ≤ size`; lock held.
    unsafe fn take(&mut self, c: *mut u8, size: usize, off: usize, need: usize) -> *mut u8 {
        // SAFETY: everything written lies in `[c, c + size)`, a free chunk
        // of this area (caller), cut at multiples of 16 into pieces of at
        // least MIN_CHUNK.
        unsafe {
            self.unlink(c, size);
            // `c` is free, so its left neighbour is in use (no two free
            // chunks touch): a leading piece keeps PREV_IN_USE.
            let n = c.add(off);
            if off > 0 {
                set_header(c, off | PREV_IN_USE);
                set_footer(c, off);
                self.push(c, off);
            }
            let rest = size - off;
            let prev = if off > 0 { 0 } else { PREV_IN_USE };
            let used = if rest - need >= MIN_CHUNK {
                let t = n.add(need);
                set_header(t, (rest - need) | PREV_IN_USE);
                set_footer(t, rest - need);
                self.push(t, rest - need);
                need
            } else {
                self.set_prev_in_use(n.add(rest), true);
                rest
            };
            set_header(n, used | IN_USE | prev);
            self.in_use_bytes += used;
            self.live += 1;
            n
        }
    }

    /// Makes `[c, c + len)` one free chunk, merged with a free right
    /// neighbour, binned, and its successor told. The left neighbour must
    /// be in use (or absent).
    ///
    /// # Safety
    /// The range is a whole number of chunks of this area that nobody
    /// uses, on no list, whose left neighbour is in use; lock held.
    unsafe fn release(&mut self, c: *mut u8, mut len: usize) {
        // SAFETY: `c + len` is the next chunk or `end` (caller); a free
        // right neighbour is binned (invariant) and becomes part of this
        // chunk.
        unsafe {
            let r = c.add(len);
            if r != self.end && header(r) & IN_USE == 0 {
                let rs = size(r);
                self.unlink(r, rs);
                len += rs;
            }
            set_header(c, len | PREV_IN_USE);
            set_footer(c, len);
            self.push(c, len);
            self.set_prev_in_use(c.add(len), false);
        }
    }

    /// Frees the in-use chunk at `c`, coalescing with both neighbours.
    ///
    /// # Safety
    /// `c` is an in-use chunk of this area ([`AreaState::validate`]); lock
    /// held.
    pub(super) unsafe fn free(&mut self, c: *mut u8) {
        // SAFETY: `c` is an in-use chunk (caller); its left neighbour, when
        // PREV_IN_USE is clear, is a binned free chunk whose footer sits
        // just before `c`.
        unsafe {
            let h = header(c);
            let s = h & !FLAGS;
            self.in_use_bytes -= s;
            self.live -= 1;
            // Clear IN_USE first: if `c` merges into its left neighbour,
            // this stale header still tells a second free of the same
            // pointer that the block is free.
            set_header(c, h & !IN_USE);
            let (mut start, mut total) = (c, s);
            if h & PREV_IN_USE == 0 {
                let ls = c.sub(W).cast::<usize>().read();
                let l = c.sub(ls);
                self.unlink(l, ls);
                start = l;
                total += ls;
            }
            self.release(start, total);
        }
    }

    /// Resizes the in-use chunk at `c` to `need` bytes in place, if it can:
    /// shrinking splits a tail off (when at least [`MIN_CHUNK`]), growing
    /// takes from a free right neighbour. False if it cannot grow in place.
    ///
    /// # Safety
    /// `c` is an in-use chunk of this area; lock held.
    pub(super) unsafe fn resize_in_place(&mut self, c: *mut u8, need: usize) -> bool {
        // SAFETY: `c` is in use (caller); everything written lies in `c`
        // and its free right neighbour, cut at multiples of 16.
        unsafe {
            let h = header(c);
            let s = h & !FLAGS;
            let flags = h & FLAGS;
            if need <= s {
                if s - need >= MIN_CHUNK {
                    set_header(c, need | flags);
                    self.in_use_bytes -= s - need;
                    self.release(c.add(need), s - need);
                }
                return true;
            }
            let r = c.add(s);
            if r == self.end || header(r) & IN_USE != 0 {
                return false;
            }
            let rs = size(r);
            if s + rs < need {
                return false;
            }
            self.unlink(r, rs);
            let total = s + rs;
            let used = if total - need >= MIN_CHUNK {
                let t = c.add(need);
                set_header(t, (total - need) | PREV_IN_USE);
                set_footer(t, total - need);
                self.push(t, total - need);
                need
            } else {
                self.set_prev_in_use(c.add(total), true);
                total
            };
            set_header(c, used | flags);
            self.in_use_bytes += used - s;
            true
        }
    }

    /// The chunk of a pointer handed out by this heap, if the cheap checks
    /// pass: inside the area, 16-aligned, with an in-use header whose size
    /// stays in the area and holds `min_payload` bytes.
    ///
    /// # Safety
    /// Lock held; the area is formatted. (`ptr` may be anything: only
    /// words inside the area are read.)
    pub(super) unsafe fn validate(
        &self,
        ptr: *mut u8,
        min_payload: usize,
    ) -> Result<*mut u8, BadFreeKind> {
        let (a, lo, hi) = (ptr as usize, self.start as usize, self.end as usize);
        if a < lo + W || a >= hi || !a.is_multiple_of(UNIT) {
            return Err(BadFreeKind::OutsideArea);
        }
        let c = self.start.wrapping_add(a - W - lo);
        // SAFETY: `c + W ≤ ptr < end` and `c ≡ start (mod 16)`: a W-aligned
        // word inside the area.
        let h = unsafe { header(c) };
        let s = h & !FLAGS;
        if h & (FLAGS & !(IN_USE | PREV_IN_USE)) != 0 || s < MIN_CHUNK || s > hi - (a - W) {
            return Err(BadFreeKind::NotABlock);
        }
        if h & IN_USE == 0 {
            return Err(BadFreeKind::DoubleFree);
        }
        if min_payload > s - W {
            return Err(BadFreeKind::LayoutTooLarge);
        }
        Ok(c)
    }

    /// The size of the largest free chunk (0 if none).
    pub(super) fn largest_free(&self) -> usize {
        let mut top = None;
        let mut b = 0;
        while let Some(bin) = self.next_bin(b) {
            top = Some(bin);
            b = bin + 1;
        }
        let Some(bin) = top else { return 0 };
        let (mut c, mut best) = (self.bins[bin], 0);
        while !c.is_null() {
            // SAFETY: binned chunks are free chunks of this area.
            unsafe {
                best = best.max(size(c));
                c = links(c).0.read();
            }
        }
        best
    }
}
