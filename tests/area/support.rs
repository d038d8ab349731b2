//! Area heaps over buffers the test owns, for the area-heap tests.
#![allow(dead_code)]

use memalloc::AreaHeap;
use memalloc::area::{MIN_CHUNK, OVERHEAD, UNIT};
use std::ops::Deref;

/// An [`AreaHeap`] over a 16-aligned buffer that lives exactly as long as
/// this value (the heap never outlives its area).
pub struct OwnedArea {
    heap: AreaHeap,
    buf: *mut [u128],
}

impl OwnedArea {
    /// A heap over `len` bytes (a multiple of 16) starting `skew` bytes
    /// into a 16-aligned buffer.
    pub fn skewed(len: usize, skew: usize) -> Self {
        let words = (len + skew).div_ceil(16);
        let buf = Box::into_raw(vec![0u128; words].into_boxed_slice());
        // SAFETY: the buffer is ours, used only through the heap, and freed
        // only when this value drops (after the heap).
        let heap = unsafe { AreaHeap::from_raw_parts(buf.cast::<u8>().add(skew), len) };
        OwnedArea { heap, buf }
    }

    /// A heap over `len` bytes of a 16-aligned buffer.
    pub fn new(len: usize) -> Self {
        Self::skewed(len, 0)
    }

    /// The buffer's address range (`[lo, hi)`).
    pub fn range(&self) -> (usize, usize) {
        let lo = self.buf.cast::<u8>() as usize;
        (lo, lo + self.buf.len() * 16)
    }
}

impl Deref for OwnedArea {
    type Target = AreaHeap;
    fn deref(&self) -> &AreaHeap {
        &self.heap
    }
}

impl Drop for OwnedArea {
    fn drop(&mut self) {
        // SAFETY: made by `Box::into_raw` in `skewed`; the heap is not used
        // again (it drops with this value).
        drop(unsafe { Box::from_raw(self.buf) });
    }
}

/// The chunk a request of `size` bytes at alignment ≤ 16 takes: the
/// documented formula `max(MIN_CHUNK, round_up(size + OVERHEAD, 16))`.
pub fn chunk(size: usize) -> usize {
    ((size + OVERHEAD).div_ceil(UNIT) * UNIT).max(MIN_CHUNK)
}
