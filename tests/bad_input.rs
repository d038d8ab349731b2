//! Bad input gets a clear answer (DESIGN.md promises 2 and 3): null returns
//! for impossible requests and out-of-memory, and a one-line message plus an
//! abort for pointers this heap never handed out and double frees of large
//! blocks. The aborting scenarios run in child processes.

mod common;

use common::{child_scenario, run_child};
use memalloc::limits::{PAGE_SIZE, REGION_ALIGN};
use memalloc::size_class::{CLASSES, class_of};
use memalloc::{Heap, Memalloc};
use std::alloc::{GlobalAlloc, Layout};

fn expect_abort(test: &str, scenario: &str, message: &str) {
    let (status, stderr) = run_child(test, scenario);
    assert!(
        !status.success(),
        "child should have aborted; stderr: {stderr}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGABRT), "stderr: {stderr}");
    }
    let line = stderr
        .lines()
        .find(|l| l.starts_with("memalloc: "))
        .unwrap_or_else(|| panic!("no memalloc line in: {stderr}"));
    assert!(line.contains(message), "unexpected message: {line}");
}

#[test]
fn free_of_a_foreign_pointer_aborts_with_a_message() {
    if child_scenario().as_deref() == Some("foreign") {
        let on_stack = 0u64;
        unsafe { memalloc::free(&on_stack as *const u64 as *mut u8) };
        return;
    }
    expect_abort(
        "free_of_a_foreign_pointer_aborts_with_a_message",
        "foreign",
        "not allocated by memalloc",
    );
}

#[test]
fn free_of_a_system_malloc_pointer_aborts_with_a_message() {
    if child_scenario().as_deref() == Some("system") {
        let p = unsafe { libc::malloc(100) } as *mut u8;
        unsafe { memalloc::free(p) };
        return;
    }
    expect_abort(
        "free_of_a_system_malloc_pointer_aborts_with_a_message",
        "system",
        "not allocated by memalloc",
    );
}

#[test]
fn double_free_of_a_large_block_aborts_with_a_message() {
    if child_scenario().as_deref() == Some("double-large") {
        unsafe {
            let keep = memalloc::malloc(1 << 20); // a live neighbour
            let p = memalloc::malloc(300 << 10);
            let after = memalloc::malloc(1 << 20);
            memalloc::free(p);
            memalloc::free(p);
            memalloc::free(keep);
            memalloc::free(after);
        }
        return;
    }
    expect_abort(
        "double_free_of_a_large_block_aborts_with_a_message",
        "double-large",
        "free",
    );
}

#[test]
fn double_free_of_a_huge_block_aborts_with_a_message() {
    if child_scenario().as_deref() == Some("double-huge") {
        unsafe {
            let p = memalloc::malloc(40 << 20);
            memalloc::free(p);
            memalloc::free(p);
        }
        return;
    }
    expect_abort(
        "double_free_of_a_huge_block_aborts_with_a_message",
        "double-huge",
        "not allocated by memalloc",
    );
}

#[test]
fn immediate_double_free_of_a_small_block_aborts() {
    if child_scenario().as_deref() == Some("double-small") {
        unsafe {
            let p = memalloc::malloc(24);
            memalloc::free(p);
            memalloc::free(p);
        }
        return;
    }
    expect_abort(
        "immediate_double_free_of_a_small_block_aborts",
        "double-small",
        "double free",
    );
}

#[test]
fn interior_pointer_free_aborts_with_a_message() {
    if child_scenario().as_deref() == Some("interior") {
        unsafe {
            let p = memalloc::malloc(64);
            memalloc::free(p.add(8));
        }
        return;
    }
    expect_abort(
        "interior_pointer_free_aborts_with_a_message",
        "interior",
        "not the start of a block",
    );
}

#[test]
fn pointer_of_another_heap_is_rejected() {
    if child_scenario().as_deref() == Some("other-heap") {
        let heap = Heap::new();
        unsafe {
            let p = heap.malloc(32);
            memalloc::free(p);
        }
        return;
    }
    expect_abort(
        "pointer_of_another_heap_is_rejected",
        "other-heap",
        "different memalloc heap",
    );
}

#[test]
fn free_of_null_is_a_no_op() {
    unsafe {
        memalloc::free(std::ptr::null_mut());
        Heap::new().free(std::ptr::null_mut());
    }
}

#[test]
fn impossible_sizes_and_alignments_return_null() {
    let heap = Heap::new();
    unsafe {
        assert!(memalloc::malloc(usize::MAX).is_null());
        assert!(memalloc::malloc(isize::MAX as usize + 1).is_null());
        assert!(
            memalloc::malloc(isize::MAX as usize).is_null(),
            "cannot be mapped"
        );
        assert!(memalloc::aligned_alloc(3, 64).is_null());
        assert!(memalloc::aligned_alloc(1 << 62, 64).is_null());
        assert!(heap.malloc(usize::MAX - 4096).is_null());
        let p = memalloc::malloc(16);
        assert!(
            memalloc::realloc(p, usize::MAX).is_null(),
            "realloc overflow"
        );
        memalloc::free(p); // still valid after a failed realloc
        let layout = Layout::from_size_align(isize::MAX as usize - (1 << 20) + 1, 1 << 20).unwrap();
        assert!(Memalloc.alloc(layout).is_null());
        assert!(heap.alloc(layout).is_null());
    }
    heap.check().unwrap();
}

#[test]
fn calloc_overflow_returns_null() {
    unsafe {
        assert!(memalloc::calloc(usize::MAX / 2, 3).is_null());
        assert!(memalloc::calloc(1 << 33, 1 << 33).is_null());
        assert!(Heap::new().calloc(usize::MAX, 2).is_null());
        let p = memalloc::calloc(0, 100);
        assert!(!p.is_null());
        memalloc::free(p);
    }
}

#[test]
fn zero_sized_requests_return_unique_freeable_pointers() {
    unsafe {
        let a = memalloc::malloc(0);
        let b = memalloc::malloc(0);
        assert!(!a.is_null() && !b.is_null() && a != b);
        assert!(memalloc::realloc(a, 0).is_null(), "realloc(p, 0) frees");
        memalloc::free(b);
        let l = Layout::from_size_align(0, 4096).unwrap();
        let p = Memalloc.alloc(l);
        assert_eq!(p as usize % 4096, 0);
        Memalloc.dealloc(p, l);
    }
}

// Linux only: the address-space limit is RLIMIT_AS, read against
// /proc/self/statm.
#[cfg(target_os = "linux")]
#[test]
fn out_of_memory_returns_null_and_the_heap_still_works() {
    if child_scenario().as_deref() == Some("oom") {
        unsafe {
            let heap = Heap::new();
            // Touch the process-wide heap before lowering the limit.
            let warm = memalloc::malloc(100);
            let lim = libc::rlimit {
                rlim_cur: 1 << 30,
                rlim_max: libc::RLIM_INFINITY,
            };
            let mut old = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::getrlimit(libc::RLIMIT_AS, &mut old);
            let cur = std::fs::read_to_string("/proc/self/statm").unwrap();
            let vm_pages: u64 = cur.split_whitespace().next().unwrap().parse().unwrap();
            let lim = libc::rlimit {
                rlim_cur: vm_pages * 4096 + (256 << 20),
                ..lim
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_AS, &lim), 0);
            // Huge requests fail.
            assert!(memalloc::malloc(1 << 30).is_null());
            assert!(heap.malloc(1 << 30).is_null());
            // Exhaust with region-sized requests; keep what we get.
            let mut held = Vec::with_capacity(4096);
            loop {
                let p = memalloc::malloc(8 << 20);
                if p.is_null() {
                    break;
                }
                held.push(p);
            }
            assert!(!held.is_empty());
            // Small requests keep failing cleanly or succeeding; never abort.
            for _ in 0..1000 {
                let p = memalloc::malloc(64);
                if !p.is_null() {
                    held.push(p);
                }
            }
            for p in held.drain(..) {
                memalloc::free(p);
            }
            memalloc::trim();
            // Usable again.
            let p = memalloc::malloc(8 << 20);
            assert!(!p.is_null(), "heap unusable after OOM");
            p.write_bytes(1, 8 << 20);
            memalloc::free(p);
            memalloc::free(warm);
            memalloc::check().unwrap();
            libc::setrlimit(libc::RLIMIT_AS, &old);
            println!("OOM-SCENARIO-OK");
        }
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "out_of_memory_returns_null_and_the_heap_still_works",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MEMALLOC_CHILD", "oom")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("OOM-SCENARIO-OK"),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn aligned_alloc_of_a_huge_size_with_a_medium_alignment_returns_null() {
    let p = unsafe { memalloc::aligned_alloc(32, usize::MAX) };
    assert!(p.is_null(), "got a block for a usize::MAX request: {p:p}");
    let h = Heap::new();
    let q = unsafe { h.aligned_alloc(4096, usize::MAX - 100) };
    assert!(
        q.is_null(),
        "got a block for a usize::MAX-100 request: {q:p}"
    );
    let l = Layout::from_size_align(isize::MAX as usize - 4095, 4096).unwrap();
    assert!(unsafe { Memalloc.alloc(l) }.is_null());
}

#[test]
fn zero_size_with_a_region_sized_alignment_can_be_freed() {
    if let Some(s) = child_scenario() {
        let align: usize = s.parse().unwrap();
        unsafe {
            let p = memalloc::aligned_alloc(align, 0);
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0);
            memalloc::free(p);
        }
        return;
    }
    for align in [64usize << 20, 128 << 20] {
        let (status, stderr) = run_child(
            "zero_size_with_a_region_sized_alignment_can_be_freed",
            &align.to_string(),
        );
        assert!(
            status.success(),
            "align {align}: child died ({status:?}): {stderr}"
        );
    }
}

/// `n` blocks of `size` from the process-wide heap, sorted by address:
/// enough to fill several spans of the class.
fn sorted_blocks(size: usize) -> Vec<*mut u8> {
    let c = &CLASSES[class_of(size)];
    let n = 3 * c.blocks_per_span as usize + 2 * c.batch as usize;
    let mut all: Vec<*mut u8> = (0..n)
        .map(|_| {
            // SAFETY: malloc has no preconditions.
            let p = unsafe { memalloc::malloc(size) };
            assert!(!p.is_null());
            p
        })
        .collect();
    all.sort();
    all
}

/// Block sizes whose spans are 6, 5 and 5 pages long (spans have no tail:
/// their size is a multiple of the block size), so that blocks straddle
/// page boundaries and a page holds the end of one block and the start of
/// the next.
const STRADDLING_SIZES: [usize; 3] = [48, 160, 5 << 10];

#[test]
fn spans_of_straddling_sizes_are_not_a_power_of_two_pages() {
    for size in STRADDLING_SIZES {
        let c = &CLASSES[class_of(size)];
        assert_eq!(c.block_size as usize, size);
        assert!(!c.span_pages.is_power_of_two(), "size {size}");
        assert_eq!(
            c.span_pages as usize * PAGE_SIZE,
            c.blocks_per_span as usize * size
        );
    }
}

#[test]
fn free_at_a_page_boundary_inside_a_block_aborts_with_a_message() {
    if let Some((size, end)) = child_scenario().and_then(|s| {
        let (size, end) = s.strip_prefix("straddle-")?.split_once('-')?;
        Some((size.parse::<usize>().ok()?, end == "end"))
    }) {
        let blocks = sorted_blocks(size);
        // A block that a page boundary cuts in two.
        let p = *blocks
            .iter()
            .find(|&&p| p as usize / PAGE_SIZE != (p as usize + size - 1) / PAGE_SIZE)
            .expect("no block straddles a page boundary");
        let inside = if end {
            p as usize + size - 16
        } else {
            (p as usize / PAGE_SIZE + 1) * PAGE_SIZE
        };
        // SAFETY: deliberately none: an interior address memalloc must reject.
        unsafe { memalloc::free(inside as *mut u8) };
        return;
    }
    for size in STRADDLING_SIZES {
        for at in ["page", "end"] {
            expect_abort(
                "free_at_a_page_boundary_inside_a_block_aborts_with_a_message",
                &format!("straddle-{size}-{at}"),
                "not the start of a block",
            );
        }
    }
}

#[test]
fn free_of_a_region_header_address_aborts_with_a_message() {
    // The region base itself (an aligned address can only be a huge block
    // of region alignment, whose header would lie a region below), a word
    // into the header, and the first page of the page map (every region's
    // metadata spans at least two pages).
    const CASES: [(usize, &str); 3] = [
        (0, "not allocated by memalloc"),
        (64, "header or page map"),
        (PAGE_SIZE, "header or page map"),
    ];
    if let Some(offset) =
        child_scenario().and_then(|s| s.strip_prefix("header-")?.parse::<usize>().ok())
    {
        // SAFETY: malloc has no preconditions.
        let p = unsafe { memalloc::malloc(100) };
        let base = p as usize & !(REGION_ALIGN - 1);
        // SAFETY: deliberately none: a metadata address memalloc must reject.
        unsafe { memalloc::free((base + offset) as *mut u8) };
        return;
    }
    for (offset, message) in CASES {
        expect_abort(
            "free_of_a_region_header_address_aborts_with_a_message",
            &format!("header-{offset}"),
            message,
        );
    }
}

#[test]
fn freeing_every_block_of_whole_spans_aborts_nothing() {
    if child_scenario().as_deref() == Some("whole-spans") {
        for size in STRADDLING_SIZES {
            // Highest address first: the last block of every span before
            // the rest of it.
            for p in sorted_blocks(size).into_iter().rev() {
                // SAFETY: each came from malloc and is freed once.
                unsafe { memalloc::free(p) };
            }
        }
        memalloc::flush_thread_cache();
        memalloc::check().unwrap();
        println!("WHOLE-SPANS-OK");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "freeing_every_block_of_whole_spans_aborts_nothing",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MEMALLOC_CHILD", "whole-spans")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("WHOLE-SPANS-OK"),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
