//! Huge blocks: requests above `LARGE_MAX` (or aligned beyond what a region
//! can give) get a mapping of their own, listed behind the huge lock.
//!
//! ```text
//!   huge ─▶ [hdr|user block........] ⇄ [hdr|user block....] ⇄ ...
//!           map / unmap / mremap run outside the lock; the lock covers
//!           only the list, the registry entry and the counters
//! ```
//!
//! What the huge lock protects ([`HugeState`]): the list of huge mappings
//! and their counters. It is a leaf lock: nothing else is taken while it
//! is held, and it is taken with no other memalloc lock held (except by
//! the whole-heap operations of `CentralHeap::everything`, last).

use super::LockCounts;
use crate::os::{self, Os};
use crate::region::{self, PAGE_SIZE, REGION_ALIGN, RegionHeader, RegionKind};
use crate::sync::{Lock, UnsafeCell};
use core::ptr;

/// The list of huge mappings and their counters.
///
/// Invariant: `list` holds exactly the live huge mappings of this heap,
/// each registered (findable from its block); the byte and mapping counts
/// are their sums.
pub(super) struct HugeState {
    pub(super) list: *mut RegionHeader,
    pub(super) bytes: usize,
    pub(super) user_bytes: usize,
    pub(super) count: usize,
    pub(super) allocs: u64,
    pub(super) maps: u64,
    pub(super) unmaps: u64,
    pub(super) lock: LockCounts,
}

/// The huge lock and the state behind it.
pub(super) struct HugeMappings {
    pub(super) lock: Lock,
    state: UnsafeCell<HugeState>,
    /// Where huge blocks are mapped; fixed at construction, so read
    /// without the lock.
    os: Os,
}

impl HugeState {
    pub(super) const fn new() -> Self {
        HugeState {
            list: ptr::null_mut(),
            bytes: 0,
            user_bytes: 0,
            count: 0,
            allocs: 0,
            maps: 0,
            unmaps: 0,
            lock: LockCounts::new(),
        }
    }

    unsafe fn link(&mut self, r: *mut RegionHeader) {
        // SAFETY: `r` is a live huge mapping not on the list.
        unsafe {
            (*r).prev = ptr::null_mut();
            (*r).next = self.list;
            if !self.list.is_null() {
                (*self.list).prev = r;
            }
            self.list = r;
            region::register(r as usize);
            self.bytes += (*r).map_size;
            self.user_bytes += (*r).user_size;
            self.count += 1;
        }
    }

    /// Takes a huge mapping off the list and out of the registry; returns
    /// its length. (The caller unmaps it, or moves it and links it again.)
    pub(super) unsafe fn unlink(&mut self, r: *mut RegionHeader) -> usize {
        // SAFETY: `r` is on the list.
        unsafe {
            if (*r).prev.is_null() {
                self.list = (*r).next;
            } else {
                (*(*r).prev).next = (*r).next;
            }
            if !(*r).next.is_null() {
                (*(*r).next).prev = (*r).prev;
            }
            region::unregister(r as usize);
            self.bytes -= (*r).map_size;
            self.user_bytes -= (*r).user_size;
            self.count -= 1;
            (*r).map_size
        }
    }

    /// Unmaps every huge mapping (teardown).
    ///
    /// # Safety
    /// No block in a huge mapping is used any more.
    pub(super) unsafe fn release_all(&mut self, os: Os) {
        while !self.list.is_null() {
            let r = self.list;
            // SAFETY: `r` is on the list; caller's precondition.
            unsafe {
                let len = self.unlink(r);
                self.unmaps += 1;
                os.unmap(r as *mut u8, len);
            }
        }
    }
}

impl HugeMappings {
    pub(super) const fn new(os: Os) -> Self {
        HugeMappings {
            lock: Lock::new(),
            state: UnsafeCell::new(HugeState::new()),
            os,
        }
    }

    #[cfg(loom)]
    pub(super) fn new_modelled() -> Self {
        HugeMappings {
            lock: Lock::new_modelled(),
            state: UnsafeCell::new_modelled(HugeState::new()),
            os: Os::System,
        }
    }

    /// The mapping functions huge blocks use.
    pub(super) fn os(&self) -> Os {
        self.os
    }

    fn locked<R>(&self, f: impl FnOnce(&mut HugeState) -> R) -> R {
        let (_guard, contended) = self.lock.lock_noting_contention();
        self.state.with_mut(|s| {
            // SAFETY: the lock is held for the closure's whole duration, so
            // this is the only reference to the state.
            let s = unsafe { &mut *s };
            s.lock.note(contended);
            f(s)
        })
    }

    /// The state, for a caller that holds the lock through a guard of its
    /// own (see `CentralHeap::everything`).
    ///
    /// # Safety
    /// The caller holds `self.lock` for as long as it uses the pointer.
    pub(super) unsafe fn state_ptr(&self) -> *mut HugeState {
        self.state.with_mut(|s| s)
    }

    /// A dedicated mapping for `size` bytes aligned to `align`, owned by
    /// `owner`; null if out of memory.
    pub(super) fn alloc(&self, owner: usize, size: usize, align: usize) -> *mut u8 {
        let page = os::page_size();
        let (offset, map_align, map_offset) = if align < REGION_ALIGN {
            (align.max(PAGE_SIZE), REGION_ALIGN, 0)
        } else {
            (REGION_ALIGN, align, REGION_ALIGN)
        };
        // A zero-size block still gets a byte, so it lies inside its mapping.
        let Some(len) = size
            .max(1)
            .checked_add(offset)
            .and_then(|n| n.checked_add(page - 1))
            .map(|n| n & !(page - 1))
        else {
            return ptr::null_mut();
        };
        if len > isize::MAX as usize {
            return ptr::null_mut();
        }
        // The system call runs outside the lock.
        // SAFETY: page-multiple length, power-of-two alignment, offset < len.
        let base = unsafe { self.os.map(len, map_align, map_offset) };
        if base.is_null() {
            return base;
        }
        if !region::addressable(base as usize, REGION_ALIGN) {
            // SAFETY: the mapping was just made and is unused.
            unsafe { self.os.unmap(base, len) };
            return ptr::null_mut();
        }
        self.locked(|s| {
            // SAFETY: `base` is a fresh aligned mapping of `len` bytes.
            unsafe {
                let r = region::init_header(base, owner, RegionKind::Huge, len);
                (*r).user_ptr = base.add(offset);
                (*r).user_size = len - offset;
                s.link(r);
                s.allocs += 1;
                s.maps += 1;
                (*r).user_ptr
            }
        })
    }

    /// Unmaps the huge mapping `r`.
    ///
    /// # Safety
    /// `r` is a live huge mapping of this heap whose block is not used any more.
    pub(super) unsafe fn free(&self, r: *mut RegionHeader) {
        let len = self.locked(|s| {
            s.unmaps += 1;
            // SAFETY: `r` is a live huge mapping of this heap; lock held.
            unsafe { s.unlink(r) }
        });
        // SAFETY: unlinked and unregistered: nobody reaches it any more.
        unsafe { self.os.unmap(r as *mut u8, len) };
    }

    /// Resizes huge mapping `r` to hold `new_size` bytes: shrinks in place,
    /// grows by `mremap` (which may move it, keeping its contents). Returns
    /// the block's address, or null if the caller must move it.
    ///
    /// # Safety
    /// `r` is a live huge mapping of this heap.
    pub(super) unsafe fn resize(&self, r: *mut RegionHeader, new_size: usize) -> *mut u8 {
        let page = os::page_size();
        // SAFETY: `r` is a live huge mapping owned by the caller's block.
        let (old_len, offset) = unsafe { ((*r).map_size, (*r).user_ptr as usize - r as usize) };
        if offset >= REGION_ALIGN || new_size <= super::LARGE_MAX / 2 {
            return ptr::null_mut(); // over-aligned, or small enough to move into a region
        }
        let Some(new_len) = new_size
            .checked_add(offset + page - 1)
            .map(|n| n & !(page - 1))
            .filter(|&n| n <= isize::MAX as usize)
        else {
            return ptr::null_mut();
        };
        if new_len == old_len {
            // SAFETY: as above.
            return unsafe { (*r).user_ptr };
        }
        if new_len < old_len {
            // SAFETY: the tail beyond the new length holds no live data.
            if unsafe { self.os.shrink(r as *mut u8, old_len, new_len) } {
                self.locked(|s| {
                    // SAFETY: lock held; `r` is ours.
                    unsafe {
                        s.bytes -= old_len - new_len;
                        s.user_bytes -= old_len - new_len;
                        (*r).map_size = new_len;
                        (*r).user_size = new_len - offset;
                    }
                });
                // SAFETY: as above.
                return unsafe { (*r).user_ptr };
            }
            return ptr::null_mut();
        }
        // Growing: take the mapping out of the list while the kernel moves
        // it, then put it back at its new address.
        self.locked(|s| {
            // SAFETY: lock held; `r` is ours.
            unsafe { s.unlink(r) };
        });
        // SAFETY: `(r, old_len)` is our mapping; nothing else references it now.
        let moved = unsafe { self.os.remap(r as *mut u8, old_len, new_len, REGION_ALIGN) };
        let (nr, len) = if moved.is_null() {
            (r, old_len)
        } else {
            (moved as *mut RegionHeader, new_len)
        };
        self.locked(|s| {
            // SAFETY: `nr` is our (possibly moved) mapping with a valid header.
            unsafe {
                (*nr).map_size = len;
                (*nr).user_ptr = (nr as *mut u8).add(offset);
                (*nr).user_size = len - offset;
                s.link(nr);
            }
        });
        if moved.is_null() {
            ptr::null_mut()
        } else {
            // SAFETY: as above.
            unsafe { (*nr).user_ptr }
        }
    }
}
