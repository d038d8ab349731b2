//! The operating-system layer: page mappings and nothing else.
//!
//! ```text
//!   central ──▶ map(len, align, offset) / unmap / purge / remap / shrink
//!                 │ unix: mmap, munmap, madvise(MADV_DONTNEED), mremap (Linux)
//!                 │ windows: VirtualAlloc / VirtualFree
//! ```
//!
//! Preconditions shared by every function here (callers uphold them):
//! - lengths are non-zero multiples of [`page_size()`];
//! - addresses passed back in are ones this module returned (or lie inside
//!   them at page-aligned offsets, for `purge`);
//! - `align` is a power of two, at least [`page_size()`].
//!
//! Nothing here allocates; failures return null / `false` so the caller can
//! return null to its own caller. A central heap reaches these functions
//! through [`Os`], which a test can point at a fake ([`PageSource`]). Every change to a mapping is reported to
//! `options::os_event` (one stderr line each with `MEMALLOC_VERBOSE=1`).

use crate::options::{OsEvent, os_event};
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};

static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// The end of the user address space memalloc hands out memory from: its
/// registry of regions covers 48 bits of address (what Linux and Windows
/// give user space unless a program asks for more).
pub(crate) const ADDRESS_LIMIT: usize = 1 << 48;

/// The operating system's page size (cached after the first call).
#[inline]
pub(crate) fn page_size() -> usize {
    let cached = PAGE_SIZE.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    let size = query_page_size();
    PAGE_SIZE.store(size, Ordering::Relaxed);
    size
}

/// Maps `len` bytes of zeroed read-write memory whose address `base`
/// satisfies `(base + offset) % align == 0`. Returns null on failure.
///
/// # Safety
/// `len` is a non-zero multiple of the page size, `align` a power of two
/// (any value at most the page size means "no extra alignment"), and
/// `offset` a multiple of the page size smaller than `len`.
pub(crate) unsafe fn map(len: usize, align: usize, offset: usize) -> *mut u8 {
    let page = page_size();
    let p = if align <= page {
        // SAFETY: forwarded precondition.
        unsafe { sys::map_plain(len) }
    } else if let Some(over) = len.checked_add(align) {
        // SAFETY: forwarded precondition; `over` is a multiple of the page size.
        unsafe { sys::map_aligned(len, over, align, offset) }
    } else {
        ptr::null_mut()
    };
    if !p.is_null() {
        os_event(OsEvent::Map, p as usize, len);
    }
    p
}

/// The first address at or above `raw` whose `base + offset` is a multiple
/// of `align` (a power of two).
fn aligned_base(raw: usize, align: usize, offset: usize) -> usize {
    let base = ((raw + offset + align - 1) & !(align - 1)) - offset;
    if base < raw { base + align } else { base }
}

/// Unmaps a whole mapping returned by [`map`] (or grown by [`remap`]).
///
/// # Safety
/// `(ptr, len)` is exactly a live mapping from this module; nothing in it is
/// used afterwards.
pub(crate) unsafe fn unmap(ptr: *mut u8, len: usize) {
    // SAFETY: forwarded precondition.
    unsafe { sys::unmap(ptr, len) };
    os_event(OsEvent::Unmap, ptr as usize, len);
}

/// Gives the physical pages behind `[ptr, ptr + len)` back to the OS while
/// keeping the address range mapped. The range is shrunk inward to OS page
/// boundaries. On Linux this is `MADV_DONTNEED`: the RSS drop is immediate
/// and the pages read back as zero, which keeps RSS figures honest (with
/// `MADV_FREE` the kernel reclaims lazily and RSS stays high until memory
/// pressure). The central heap delays purges so this is not paid on every
/// free (see `central::PURGE_DELAY_MS`).
///
/// Returns whether the pages were given back; on failure they stay
/// resident with their contents, and the caller must keep counting them
/// as resident.
///
/// # Safety
/// The range lies inside a live mapping from this module and holds no data
/// anybody still needs.
pub(crate) unsafe fn purge(ptr: *mut u8, len: usize) -> bool {
    let page = page_size();
    let start = (ptr as usize + page - 1) & !(page - 1);
    let end = (ptr as usize + len) & !(page - 1);
    if end <= start {
        return true;
    }
    // SAFETY: `[start, end)` is page-aligned and inside the caller's range.
    let done = unsafe { sys::purge(start as *mut u8, end - start) };
    if done {
        os_event(OsEvent::Purge, start, end - start);
    }
    done
}

/// Moves or grows the mapping `(ptr, old_len)` to `new_len` bytes at an
/// address aligned to `align`, without copying where the OS can move pages
/// (Linux `mremap`). Returns the new base, or null if that is not possible
/// here (the caller then copies).
///
/// # Safety
/// `(ptr, old_len)` is a live mapping from this module; on success it must no
/// longer be used through the old address.
pub(crate) unsafe fn remap(ptr: *mut u8, old_len: usize, new_len: usize, align: usize) -> *mut u8 {
    // SAFETY: forwarded precondition.
    let p = unsafe { sys::remap(ptr, old_len, new_len, align) };
    if !p.is_null() {
        os_event(OsEvent::Remap, p as usize, new_len);
    }
    p
}

/// Shrinks the mapping `(ptr, old_len)` in place to `new_len` bytes.
/// Returns false if the OS cannot (the caller keeps the larger mapping).
///
/// # Safety
/// `(ptr, old_len)` is a live mapping from this module and the tail holds no
/// needed data.
pub(crate) unsafe fn shrink(ptr: *mut u8, old_len: usize, new_len: usize) -> bool {
    // SAFETY: forwarded precondition.
    let done = unsafe { sys::shrink(ptr, old_len, new_len) };
    if done {
        os_event(OsEvent::Shrink, ptr as usize, new_len);
    }
    done
}

/// A replacement for the mapping functions above, chosen per heap: tests
/// plug in a fake that fails the Nth call and counts them
/// ([`crate::fault::FakeOs`]). Only the slow paths of the central heap (a
/// region, a huge block, a purge) and a `Heap`'s own bookkeeping mapping
/// go through it.
///
/// # Safety
/// Each method keeps the contract of the function of this module with the
/// same name: `map` returns null or a fresh, zeroed, writable mapping of
/// `len` bytes with `(base + offset) % align == 0`, used by nobody else;
/// `remap` returns null (leaving the mapping as it was) or the mapping
/// grown or moved with its contents and zeroed new pages; `shrink` returns
/// whether the tail was released; `purge` may drop the contents of the
/// range (they read back as zero or unchanged), never anything outside
/// it, and returns false if the pages stay resident.
pub(crate) unsafe trait PageSource: Sync {
    /// See [`map`].
    ///
    /// # Safety
    /// As [`map`].
    unsafe fn map(&self, len: usize, align: usize, offset: usize) -> *mut u8;
    /// See [`unmap`].
    ///
    /// # Safety
    /// As [`unmap`].
    unsafe fn unmap(&self, ptr: *mut u8, len: usize);
    /// See [`purge`].
    ///
    /// # Safety
    /// As [`purge`].
    unsafe fn purge(&self, ptr: *mut u8, len: usize) -> bool;
    /// See [`remap`].
    ///
    /// # Safety
    /// As [`remap`].
    unsafe fn remap(&self, ptr: *mut u8, old_len: usize, new_len: usize, align: usize) -> *mut u8;
    /// See [`shrink`].
    ///
    /// # Safety
    /// As [`shrink`].
    unsafe fn shrink(&self, ptr: *mut u8, old_len: usize, new_len: usize) -> bool;
}

/// The mapping functions one central heap uses: the operating system's
/// (every real heap, the process-wide one included: a direct call after
/// one well-predicted branch), or a [`PageSource`] a test chose. Only slow
/// paths call through it; the thread caches never do.
#[derive(Clone, Copy)]
pub(crate) enum Os {
    /// The functions of this module.
    System,
    /// A replacement that lives as long as the program.
    Source(&'static dyn PageSource),
}

impl Os {
    /// [`map`] through this OS.
    ///
    /// # Safety
    /// As [`map`].
    pub(crate) unsafe fn map(self, len: usize, align: usize, offset: usize) -> *mut u8 {
        match self {
            // SAFETY: forwarded precondition.
            Os::System => unsafe { map(len, align, offset) },
            // SAFETY: forwarded precondition (PageSource contract).
            Os::Source(s) => unsafe { s.map(len, align, offset) },
        }
    }

    /// [`unmap`] through this OS.
    ///
    /// # Safety
    /// As [`unmap`].
    pub(crate) unsafe fn unmap(self, ptr: *mut u8, len: usize) {
        match self {
            // SAFETY: forwarded precondition.
            Os::System => unsafe { unmap(ptr, len) },
            // SAFETY: forwarded precondition (PageSource contract).
            Os::Source(s) => unsafe { s.unmap(ptr, len) },
        }
    }

    /// [`purge`] through this OS.
    ///
    /// # Safety
    /// As [`purge`].
    pub(crate) unsafe fn purge(self, ptr: *mut u8, len: usize) -> bool {
        match self {
            // SAFETY: forwarded precondition.
            Os::System => unsafe { purge(ptr, len) },
            // SAFETY: forwarded precondition (PageSource contract).
            Os::Source(s) => unsafe { s.purge(ptr, len) },
        }
    }

    /// [`remap`] through this OS.
    ///
    /// # Safety
    /// As [`remap`].
    pub(crate) unsafe fn remap(
        self,
        ptr: *mut u8,
        old_len: usize,
        new_len: usize,
        align: usize,
    ) -> *mut u8 {
        match self {
            // SAFETY: forwarded precondition.
            Os::System => unsafe { remap(ptr, old_len, new_len, align) },
            // SAFETY: forwarded precondition (PageSource contract).
            Os::Source(s) => unsafe { s.remap(ptr, old_len, new_len, align) },
        }
    }

    /// [`shrink`] through this OS.
    ///
    /// # Safety
    /// As [`shrink`].
    pub(crate) unsafe fn shrink(self, ptr: *mut u8, old_len: usize, new_len: usize) -> bool {
        match self {
            // SAFETY: forwarded precondition.
            Os::System => unsafe { shrink(ptr, old_len, new_len) },
            // SAFETY: forwarded precondition (PageSource contract).
            Os::Source(s) => unsafe { s.shrink(ptr, old_len, new_len) },
        }
    }
}

/// Milliseconds on a monotonic clock (only differences are meaningful).
pub(crate) fn now_ms() -> u64 {
    sys::now_ms()
}

/// Nanoseconds on a fine monotonic clock (only differences are
/// meaningful): the page-heap lock's hold time. On Windows it has the
/// tick count's millisecond resolution.
#[inline]
pub(crate) fn now_ns() -> u64 {
    sys::now_ns()
}

/// Writes `bytes` to standard error, unbuffered and without allocating.
pub(crate) fn write_stderr(bytes: &[u8]) {
    sys::write_stderr(bytes)
}

/// Reports detected heap misuse on one stderr line and aborts the process.
#[cold]
#[inline(never)]
pub(crate) fn fatal(msg: &str, addr: usize) -> ! {
    let mut buf = crate::stats::StackWriter::<256>::new();
    use core::fmt::Write;
    let _ = writeln!(buf, "memalloc: {msg} (pointer {addr:#x})");
    write_stderr(buf.as_bytes());
    std::process::abort()
}

#[cfg(unix)]
mod sys {
    use core::ptr;

    pub(super) fn query_page_size() -> usize {
        // SAFETY: sysconf has no preconditions.
        let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if v <= 0 { 4096 } else { v as usize }
    }

    /// Under Miri there is no `mmap` to speak of (no partial `munmap`, no
    /// `madvise`, no `mremap`): mappings come from the global allocator
    /// through the memory-backed fake, which keeps this module's contract
    /// (zeroed, aligned, purges read back as zero), so the whole heap runs
    /// under Miri's aliasing and provenance checks.
    #[cfg(miri)]
    static MIRI_PAGES: crate::fault::FakeOs =
        crate::fault::FakeOs::new(crate::fault::Backing::Memory);

    #[cfg(miri)]
    pub(super) unsafe fn map_plain(len: usize) -> *mut u8 {
        // SAFETY: forwarded precondition.
        unsafe { PageSource::map(&MIRI_PAGES, len, 1, 0) }
    }

    #[cfg(miri)]
    pub(super) unsafe fn map_aligned(
        len: usize,
        _over: usize,
        align: usize,
        offset: usize,
    ) -> *mut u8 {
        // SAFETY: forwarded precondition.
        unsafe { PageSource::map(&MIRI_PAGES, len, align, offset) }
    }

    #[cfg(miri)]
    pub(super) unsafe fn unmap(ptr: *mut u8, len: usize) {
        // SAFETY: forwarded precondition.
        unsafe { PageSource::unmap(&MIRI_PAGES, ptr, len) }
    }

    #[cfg(miri)]
    pub(super) unsafe fn purge(ptr: *mut u8, len: usize) -> bool {
        // SAFETY: forwarded precondition.
        unsafe { PageSource::purge(&MIRI_PAGES, ptr, len) }
    }

    #[cfg(miri)]
    pub(super) unsafe fn remap(ptr: *mut u8, old: usize, new: usize, align: usize) -> *mut u8 {
        // SAFETY: forwarded precondition.
        unsafe { PageSource::remap(&MIRI_PAGES, ptr, old, new, align) }
    }

    #[cfg(miri)]
    pub(super) unsafe fn shrink(ptr: *mut u8, old: usize, new: usize) -> bool {
        // SAFETY: forwarded precondition.
        unsafe { PageSource::shrink(&MIRI_PAGES, ptr, old, new) }
    }

    #[cfg(miri)]
    use super::PageSource;

    #[cfg(not(miri))]
    pub(super) unsafe fn map_plain(len: usize) -> *mut u8 {
        // SAFETY: an anonymous private mapping at a kernel-chosen address
        // touches no existing memory.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            ptr::null_mut()
        } else {
            p.cast()
        }
    }

    #[cfg(not(miri))]
    pub(super) unsafe fn map_aligned(
        len: usize,
        over: usize,
        align: usize,
        offset: usize,
    ) -> *mut u8 {
        // Over-map, then trim both ends so exactly `len` bytes remain.
        // SAFETY: `over` is a page multiple (caller precondition).
        let raw = unsafe { map_plain(over) };
        if raw.is_null() {
            return raw;
        }
        let raw_addr = raw as usize;
        let base = super::aligned_base(raw_addr, align, offset);
        let head = base - raw_addr;
        let tail = over - head - len;
        // SAFETY: both trimmed pieces lie inside the mapping just made and
        // outside `[base, base + len)`.
        unsafe {
            if head > 0 {
                libc::munmap(raw.cast(), head);
            }
            if tail > 0 {
                libc::munmap((base + len) as *mut libc::c_void, tail);
            }
        }
        base as *mut u8
    }

    #[cfg(not(miri))]
    pub(super) unsafe fn unmap(ptr: *mut u8, len: usize) {
        // SAFETY: caller passes a whole live mapping of ours.
        unsafe { libc::munmap(ptr.cast(), len) };
    }

    #[cfg(not(miri))]
    pub(super) unsafe fn purge(ptr: *mut u8, len: usize) -> bool {
        // SAFETY: page-aligned range inside one of our mappings whose
        // contents are dead.
        unsafe { libc::madvise(ptr.cast(), len, libc::MADV_DONTNEED) == 0 }
    }

    #[cfg(all(target_os = "linux", not(miri)))]
    pub(super) unsafe fn remap(
        ptr: *mut u8,
        old_len: usize,
        new_len: usize,
        align: usize,
    ) -> *mut u8 {
        // First try to grow or shrink where it is.
        // SAFETY: `(ptr, old_len)` is a live mapping of ours; without
        // MREMAP_MAYMOVE the kernel either resizes in place or fails.
        let same = unsafe { libc::mremap(ptr.cast(), old_len, new_len, 0) };
        if same != libc::MAP_FAILED {
            return ptr;
        }
        // Reserve an aligned destination, then move the pages onto it.
        // SAFETY: `new_len` is a page multiple.
        let dest = unsafe { super::map(new_len, align, 0) };
        if dest.is_null() {
            return dest;
        }
        if dest as usize + new_len > super::ADDRESS_LIMIT {
            // SAFETY: the reservation is ours and unused.
            unsafe { libc::munmap(dest.cast(), new_len) };
            return ptr::null_mut();
        }
        // SAFETY: MREMAP_FIXED atomically replaces the reservation we own at
        // `dest` with the pages of `(ptr, old_len)`.
        let moved = unsafe {
            libc::mremap(
                ptr.cast(),
                old_len,
                new_len,
                libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                dest as *mut libc::c_void,
            )
        };
        if moved == libc::MAP_FAILED {
            // SAFETY: the reservation is still ours and unused.
            unsafe { libc::munmap(dest.cast(), new_len) };
            return ptr::null_mut();
        }
        moved.cast()
    }

    #[cfg(not(any(target_os = "linux", miri)))]
    pub(super) unsafe fn remap(_ptr: *mut u8, _old: usize, _new: usize, _align: usize) -> *mut u8 {
        ptr::null_mut()
    }

    #[cfg(not(miri))]
    pub(super) unsafe fn shrink(ptr: *mut u8, old_len: usize, new_len: usize) -> bool {
        // SAFETY: the tail `[ptr + new_len, ptr + old_len)` is page-aligned,
        // inside our mapping and unused.
        unsafe { libc::munmap(ptr.add(new_len).cast(), old_len - new_len) == 0 }
    }

    pub(super) fn now_ms() -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        #[cfg(target_os = "linux")]
        let clock = libc::CLOCK_MONOTONIC_COARSE;
        #[cfg(not(target_os = "linux"))]
        let clock = libc::CLOCK_MONOTONIC;
        // SAFETY: `ts` is a valid out-pointer.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
    }

    #[inline]
    pub(super) fn now_ns() -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid out-pointer; the vDSO serves this clock
        // without a system call or any lock of libc's.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }

    pub(super) fn write_stderr(mut bytes: &[u8]) {
        while !bytes.is_empty() {
            // SAFETY: `bytes` is a valid readable buffer of the given length.
            let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
            if n <= 0 {
                return;
            }
            bytes = &bytes[n as usize..];
        }
    }
}

#[cfg(windows)]
mod sys {
    use core::ffi::c_void;
    use core::ptr;

    const MEM_COMMIT: u32 = 0x1000;
    const MEM_RESERVE: u32 = 0x2000;
    const MEM_RESET: u32 = 0x80000;
    const MEM_RELEASE: u32 = 0x8000;
    const PAGE_READWRITE: u32 = 0x04;
    const STD_ERROR_HANDLE: u32 = -12i32 as u32;

    #[repr(C)]
    struct SystemInfo {
        processor_arch: u16,
        reserved: u16,
        page_size: u32,
        min_addr: *mut c_void,
        max_addr: *mut c_void,
        active_mask: usize,
        n_processors: u32,
        processor_type: u32,
        alloc_granularity: u32,
        level: u16,
        revision: u16,
    }

    #[link(name = "kernel32")]
    unsafe extern "system" {
        fn VirtualAlloc(addr: *mut c_void, size: usize, kind: u32, protect: u32) -> *mut c_void;
        fn VirtualFree(addr: *mut c_void, size: usize, kind: u32) -> i32;
        fn GetSystemInfo(info: *mut SystemInfo);
        fn GetTickCount64() -> u64;
        fn QueryPerformanceCounter(count: *mut i64) -> i32;
        fn QueryPerformanceFrequency(frequency: *mut i64) -> i32;
        fn GetStdHandle(which: u32) -> *mut c_void;
        fn WriteFile(
            h: *mut c_void,
            buf: *const u8,
            len: u32,
            written: *mut u32,
            overlapped: *mut c_void,
        ) -> i32;
    }

    pub(super) fn query_page_size() -> usize {
        // SAFETY: GetSystemInfo fills the struct we pass; zeroed is a valid
        // initial value for this plain-data struct.
        unsafe {
            let mut info: SystemInfo = core::mem::zeroed();
            GetSystemInfo(&mut info);
            // Windows reserves address space in allocation-granularity units.
            (info.alloc_granularity.max(info.page_size)) as usize
        }
    }

    pub(super) unsafe fn map_plain(len: usize) -> *mut u8 {
        // SAFETY: a fresh reservation at a system-chosen address.
        unsafe {
            VirtualAlloc(
                ptr::null_mut(),
                len,
                MEM_RESERVE | MEM_COMMIT,
                PAGE_READWRITE,
            )
            .cast()
        }
    }

    pub(super) unsafe fn map_aligned(
        len: usize,
        over: usize,
        align: usize,
        offset: usize,
    ) -> *mut u8 {
        // Windows cannot trim a reservation: find an aligned hole by
        // reserving `over`, releasing it, and claiming the aligned part.
        // Another thread may take the hole in between, so retry.
        for _ in 0..16 {
            // SAFETY: plain reservation/release of address space we own.
            unsafe {
                let raw = VirtualAlloc(ptr::null_mut(), over, MEM_RESERVE, PAGE_READWRITE);
                if raw.is_null() {
                    return ptr::null_mut();
                }
                VirtualFree(raw, 0, MEM_RELEASE);
                let base = super::aligned_base(raw as usize, align, offset);
                let p = VirtualAlloc(
                    base as *mut c_void,
                    len,
                    MEM_RESERVE | MEM_COMMIT,
                    PAGE_READWRITE,
                );
                if !p.is_null() {
                    return p.cast();
                }
            }
        }
        ptr::null_mut()
    }

    pub(super) unsafe fn unmap(ptr: *mut u8, _len: usize) {
        // SAFETY: `ptr` is the base of a whole reservation of ours.
        unsafe { VirtualFree(ptr.cast(), 0, MEM_RELEASE) };
    }

    pub(super) unsafe fn purge(ptr: *mut u8, len: usize) -> bool {
        // SAFETY: range inside a committed reservation of ours.
        unsafe { !VirtualAlloc(ptr.cast(), len, MEM_RESET, PAGE_READWRITE).is_null() }
    }

    pub(super) unsafe fn remap(_ptr: *mut u8, _old: usize, _new: usize, _align: usize) -> *mut u8 {
        ptr::null_mut()
    }

    pub(super) unsafe fn shrink(_ptr: *mut u8, _old: usize, _new: usize) -> bool {
        false
    }

    pub(super) fn now_ms() -> u64 {
        // SAFETY: no preconditions.
        unsafe { GetTickCount64() }
    }

    /// Nanoseconds from the performance counter: `GetTickCount64` ticks in
    /// milliseconds (in 10-16 ms steps), too coarse for lock hold times.
    pub(super) fn now_ns() -> u64 {
        let (mut count, mut frequency) = (0i64, 0i64);
        // SAFETY: valid out-pointers; both calls only write them.
        let ok = unsafe {
            QueryPerformanceCounter(&mut count) != 0
                && QueryPerformanceFrequency(&mut frequency) != 0
        };
        if !ok || count < 0 || frequency <= 0 {
            return now_ms() * 1_000_000;
        }
        (count as u128 * 1_000_000_000 / frequency as u128) as u64
    }

    pub(super) fn write_stderr(bytes: &[u8]) {
        // SAFETY: valid buffer and out-pointer; a bad handle makes WriteFile fail.
        unsafe {
            let mut written = 0u32;
            WriteFile(
                GetStdHandle(STD_ERROR_HANDLE),
                bytes.as_ptr(),
                bytes.len() as u32,
                &mut written,
                ptr::null_mut(),
            );
        }
    }
}

use sys::query_page_size;

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn map_honours_alignment_and_offset() {
        let page = page_size();
        for &(len, align, offset) in &[
            (page, 1 << 21, 0),
            (4 * page, 1 << 26, 0),
            (8 * page, 1 << 22, 2 * page),
        ] {
            // SAFETY: page-multiple length, power-of-two alignment.
            let p = unsafe { map(len, align, offset) };
            assert!(!p.is_null());
            assert_eq!((p as usize + offset) % align, 0);
            // SAFETY: the whole mapping is ours and writable.
            unsafe {
                p.write_bytes(0xAB, len);
                purge(p, len);
                assert_eq!(*p, 0, "MADV_DONTNEED pages read back as zero");
                unmap(p, len);
            }
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn remap_keeps_contents_and_alignment() {
        let page = page_size();
        let align = 1 << 26;
        // SAFETY: as above.
        unsafe {
            let p = map(16 * page, align, 0);
            assert!(!p.is_null());
            p.write_bytes(7, 16 * page);
            let q = remap(p, 16 * page, 4096 * page, align);
            assert!(!q.is_null());
            assert_eq!(q as usize % align, 0);
            assert_eq!(*q.add(16 * page - 1), 7);
            assert!(shrink(q, 4096 * page, 32 * page));
            unmap(q, 32 * page);
        }
    }
}
