//! A test binary that installs `Memalloc` as its `#[global_allocator]`,
//! spawns threads and exercises std collections; thread exit flushes caches
//! and a free-everything phase gives memory back to the OS.

mod common;

use std::collections::{BTreeMap, HashMap, VecDeque};

#[global_allocator]
static GLOBAL: memalloc::Memalloc = memalloc::Memalloc;

#[test]
fn std_collections_work_across_threads() {
    let handles: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut map: HashMap<String, Vec<u64>> = HashMap::new();
                let mut tree = BTreeMap::new();
                let mut dq = VecDeque::new();
                for i in 0..20_000u64 {
                    map.entry(format!("key-{}", i % 1000)).or_default().push(i);
                    tree.insert(i, format!("{t}-{i}"));
                    dq.push_back(vec![i as u8; (i % 300) as usize]);
                    if dq.len() > 100 {
                        dq.pop_front();
                    }
                }
                let total: usize = map.values().map(|v| v.len()).sum();
                assert_eq!(total, 20_000);
                assert_eq!(tree.len(), 20_000);
                assert_eq!(tree[&19_999], format!("{t}-19999"));
                // Hand ownership back to the spawning thread: freed there.
                (map, tree)
            })
        })
        .collect();
    for h in handles {
        let (map, tree) = h.join().unwrap();
        assert_eq!(map.len(), 1000);
        drop(tree);
    }
    memalloc::check().unwrap();
}

#[test]
fn large_and_aligned_layouts_through_the_global_allocator() {
    use std::alloc::{Layout, alloc, dealloc, realloc};
    unsafe {
        let mut align = 1;
        while align <= 4 << 20 {
            for size in [1, 100, 5000, 300_000, 3 << 20] {
                let l = Layout::from_size_align(size, align).unwrap();
                let p = alloc(l);
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0, "size {size} align {align}");
                p.write_bytes(0xCD, size);
                let q = realloc(p, l, size * 3);
                assert_eq!(q as usize % align, 0);
                assert_eq!(*q.add(size - 1), 0xCD);
                dealloc(q, Layout::from_size_align(size * 3, align).unwrap());
            }
            align *= 4;
        }
        // Growth of a huge Vec by realloc (mremap on Linux).
        let mut v: Vec<u8> = Vec::new();
        for i in 0..(80usize << 20) / 4096 {
            v.extend_from_slice(&[i as u8; 4096]);
        }
        assert_eq!(v[(79 << 20) + 5], ((79 << 20) / 4096) as u8);
    }
}

#[test]
fn exited_threads_leave_nothing_in_their_caches() {
    let before = memalloc::stats();
    std::thread::spawn(|| {
        let v: Vec<Box<[u8; 48]>> = (0..5000).map(|_| Box::new([7u8; 48])).collect();
        drop(v);
        let s: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        drop(s);
    })
    .join()
    .unwrap();
    let after = memalloc::stats();
    assert!(
        after.small_blocks_flushed > before.small_blocks_flushed,
        "the exit flush returned blocks: {before:?} -> {after:?}"
    );
}

// Linux only: RSS from /proc/self/statm.
#[cfg(target_os = "linux")]
#[test]
fn rss_falls_back_after_everything_is_freed() {
    // Runs in a child so other tests' threads don't disturb the figures.
    if common::child_scenario().as_deref() == Some("rss") {
        memalloc::trim();
        let start = common::rss_bytes();
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        for i in 0..200_000usize {
            blocks.push(vec![i as u8; 16 + (i * 37) % 2000]);
        }
        for i in 0..40usize {
            blocks.push(vec![i as u8; 256 << 10]);
        }
        blocks.push(vec![1; 64 << 20]);
        let peak = common::rss_bytes();
        drop(blocks);
        memalloc::trim();
        let end = common::rss_bytes();
        println!("RSS start {start} peak {peak} end {end}");
        assert!(peak > start + (200 << 20), "the workload is resident");
        assert!(
            end <= start + (8 << 20),
            "RSS fell back: start {start} peak {peak} end {end}"
        );
        return;
    }
    let (status, stderr) = common::run_child("rss_falls_back_after_everything_is_freed", "rss");
    assert!(status.success(), "{stderr}");
}

/// Threads of this process, from /proc.
#[cfg(target_os = "linux")]
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

// Linux only: RSS and threads from /proc.
#[cfg(target_os = "linux")]
#[test]
fn freed_memory_goes_back_at_once_without_trim_or_a_thread() {
    // In a child: this test binary's other threads would disturb the figures.
    if common::child_scenario().as_deref() == Some("bound") {
        let threads = thread_count();
        let start = common::rss_bytes();
        let mut rng = common::Rng::new(8);
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        let mut total = 0usize;
        while total < 1 << 30 {
            // 64 KiB to 8 MiB, log-uniform, every page touched.
            let size = (64 << 10) << rng.below(8);
            let size = size + rng.below(size as u64) as usize;
            let size = size.min(8 << 20);
            blocks.push(vec![1u8; size]);
            total += size;
        }
        let peak = common::rss_bytes();
        // Free in a scrambled order, so regions empty late.
        while !blocks.is_empty() {
            let i = rng.below(blocks.len() as u64) as usize;
            drop(blocks.swap_remove(i));
        }
        drop(blocks);
        // No trim, no sleep, no background thread.
        let end = common::rss_bytes();
        // The dirty-page bound (max(8 MiB, mapped / 8, twice the largest
        // block freed in the last 100 ms): 16 MiB here, as the blocks are
        // at most 8 MiB and only the 64 MiB reserve region stays mapped),
        // plus the reserve region's page map and slack.
        let bound = memalloc::limits::DIRTY_MIN_BYTES.max(2 * (8 << 20)) + (4 << 20);
        println!("RSS start {start} peak {peak} end {end} (bound: start + {bound})");
        assert!(peak > start + (900 << 20), "the workload is resident");
        assert!(
            end <= start + bound,
            "RSS right after freeing: start {start} peak {peak} end {end}"
        );
        assert_eq!(thread_count(), threads, "memalloc started no thread");
        return;
    }
    let (status, stderr) = common::run_child(
        "freed_memory_goes_back_at_once_without_trim_or_a_thread",
        "bound",
    );
    assert!(status.success(), "{stderr}");
}

// Linux only: the purger is a unix thread; RSS and threads from /proc.
#[cfg(target_os = "linux")]
thread_local! {
    /// 1 MiB of static TLS: every thread's stack must hold it, the opt-in
    /// purger's included.
    static BIG_TLS: std::cell::RefCell<[u8; 1 << 20]> =
        const { std::cell::RefCell::new([0; 1 << 20]) };
}

#[cfg(target_os = "linux")]
#[test]
fn the_opt_in_purger_returns_idle_memory_in_a_program_with_a_large_tls() {
    // In a child: this test binary's other threads would disturb the figures.
    if common::child_scenario().as_deref() == Some("idle") {
        // Touched in place (a copy of it would not fit a test thread's stack).
        BIG_TLS.with_borrow_mut(|a| a[(1 << 20) - 1] = 1);
        let threads = thread_count();
        assert!(memalloc::start_background_purger(), "the purger started");
        assert!(
            memalloc::start_background_purger(),
            "a second call is a no-op"
        );
        assert_eq!(thread_count(), threads + 1, "exactly one purger thread");
        let start = common::rss_bytes();
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        for i in 0..300_000usize {
            blocks.push(vec![i as u8; 16 + (i * 131) % 4000]);
        }
        for i in 0..6usize {
            blocks.push(vec![i as u8; 1 << 20]);
        }
        let peak = common::rss_bytes();
        drop(blocks);
        let after_free = common::rss_bytes();
        // No trim, no further allocation: only the background purger runs.
        std::thread::sleep(std::time::Duration::from_millis(1000));
        let end = common::rss_bytes();
        println!("RSS start {start} peak {peak} after free {after_free} end {end}");
        assert!(peak > start + (400 << 20), "the workload is resident");
        assert!(
            end <= start + (8 << 20),
            "RSS after idling: start {start} peak {peak} end {end}"
        );
        return;
    }
    let (status, stderr) = common::run_child(
        "the_opt_in_purger_returns_idle_memory_in_a_program_with_a_large_tls",
        "idle",
    );
    assert!(status.success(), "{stderr}");
}
