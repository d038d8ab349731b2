//! Heap statistics and the allocation-free report writer.

use core::fmt;

/// A snapshot of one heap's state, taken under its lock.
///
/// Byte counts are exact for the central heap. Blocks sitting in thread
/// caches are known to the central heap as of each thread's last exchange
/// with it (refill, flush, exit); call [`crate::flush_thread_cache`] first
/// for exact figures from the current thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes in blocks handed to callers (block sizes, not request sizes).
    pub bytes_in_use: usize,
    /// Bytes of free blocks held by thread caches (as last reported).
    pub bytes_in_thread_caches: usize,
    /// Bytes of free blocks held in the central heap's per-class batches.
    pub bytes_in_central_batches: usize,
    /// Bytes mapped from the OS: regions plus huge mappings.
    pub bytes_mapped: usize,
    /// Bytes in free runs of pages (resident or purged).
    pub bytes_free_runs: usize,
    /// Bytes of free runs known not to be resident: returned to the OS with
    /// `madvise`, or never touched since they were mapped.
    pub bytes_purged: usize,
    /// Regions currently mapped.
    pub regions: usize,
    /// Huge allocations (one mapping each) currently live.
    pub huge_allocations: usize,
    /// Number of free runs.
    pub free_runs: usize,
    /// Bytes in the largest free run.
    pub largest_free_run: usize,
    /// Large (page-run) allocations made, ever.
    pub large_allocs: u64,
    /// Huge (dedicated mapping) allocations made, ever.
    pub huge_allocs: u64,
    /// Blocks handed to thread caches in batches, ever.
    pub small_blocks_refilled: u64,
    /// Blocks returned by thread caches, ever.
    pub small_blocks_flushed: u64,
    /// Mappings created (regions and huge), ever.
    pub maps: u64,
    /// Mappings released, ever.
    pub unmaps: u64,
    /// Free runs purged with `madvise`, ever.
    pub purges: u64,
    /// Acquisitions of the size classes' central locks, summed over
    /// classes, ever (counted exactly under each lock; whole-heap
    /// operations such as this snapshot are not counted).
    pub class_lock_acquisitions: u64,
    /// Of those, the ones that found the lock held and waited.
    pub class_lock_contended: u64,
    /// Nanoseconds the class locks were held, summed: an estimate, one
    /// acquisition in 64 is timed and counts for 64.
    pub class_lock_hold_ns: u64,
    /// Acquisitions of the page-heap lock, ever.
    pub page_lock_acquisitions: u64,
    /// Of those, the ones that waited.
    pub page_lock_contended: u64,
    /// Nanoseconds the page-heap lock was held, summed.
    pub page_lock_hold_ns: u64,
    /// Acquisitions of the huge-mapping lock, ever.
    pub huge_lock_acquisitions: u64,
    /// Of those, the ones that waited.
    pub huge_lock_contended: u64,
}

/// A fixed-capacity text buffer on the stack: `core::fmt` into it never
/// allocates; text past the capacity is dropped.
pub(crate) struct StackWriter<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackWriter<N> {
    pub(crate) const fn new() -> Self {
        StackWriter {
            buf: [0; N],
            len: 0,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }
}

impl<const N: usize> fmt::Write for StackWriter<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(N - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// One line of the free-run report: a bin and what it holds.
#[derive(Clone, Copy, Default)]
pub(crate) struct BinLine {
    pub pages_lo: usize,
    pub pages_hi: usize,
    pub runs: usize,
    pub bytes: usize,
}

/// Writes the human-readable report to stderr, a line at a time.
pub(crate) fn print_report(title: &str, s: &Stats, bins: &[BinLine]) {
    use fmt::Write;
    let mut w = StackWriter::<256>::new();
    let line = |w: &mut StackWriter<256>| {
        crate::os::write_stderr(w.as_bytes());
        w.clear();
    };
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    let _ = writeln!(w, "memalloc: {title}");
    line(&mut w);
    let _ = writeln!(
        w,
        "  in use {:>12} B ({:.2} MiB)   mapped {:>12} B ({:.2} MiB)",
        s.bytes_in_use,
        mib(s.bytes_in_use),
        s.bytes_mapped,
        mib(s.bytes_mapped)
    );
    line(&mut w);
    let _ = writeln!(
        w,
        "  thread caches {} B   central batches {} B   regions {}   huge {}",
        s.bytes_in_thread_caches, s.bytes_in_central_batches, s.regions, s.huge_allocations
    );
    line(&mut w);
    let _ = writeln!(
        w,
        "  free runs {} ({} B, {} B not resident, largest {} B)",
        s.free_runs, s.bytes_free_runs, s.bytes_purged, s.largest_free_run
    );
    line(&mut w);
    let _ = writeln!(
        w,
        "  large allocs {}   huge allocs {}   blocks refilled {}   flushed {}",
        s.large_allocs, s.huge_allocs, s.small_blocks_refilled, s.small_blocks_flushed
    );
    line(&mut w);
    let _ = writeln!(
        w,
        "  maps {}   unmaps {}   purges {}",
        s.maps, s.unmaps, s.purges
    );
    line(&mut w);
    let _ = writeln!(
        w,
        "  locks (acquired/contended): classes {}/{} held ~{} us   page heap {}/{} held {} us   huge {}/{}",
        s.class_lock_acquisitions,
        s.class_lock_contended,
        s.class_lock_hold_ns / 1000,
        s.page_lock_acquisitions,
        s.page_lock_contended,
        s.page_lock_hold_ns / 1000,
        s.huge_lock_acquisitions,
        s.huge_lock_contended
    );
    line(&mut w);
    if bins.iter().any(|b| b.runs > 0) {
        let _ = writeln!(w, "  free runs by size (pages: runs, bytes):");
        line(&mut w);
        for b in bins.iter().filter(|b| b.runs > 0) {
            if b.pages_lo == b.pages_hi {
                let _ = writeln!(
                    w,
                    "    {:>5}        : {:>6} runs {:>12} B",
                    b.pages_lo, b.runs, b.bytes
                );
            } else {
                let _ = writeln!(
                    w,
                    "    {:>5}-{:<6} : {:>6} runs {:>12} B",
                    b.pages_lo, b.pages_hi, b.runs, b.bytes
                );
            }
            line(&mut w);
        }
    }
}
