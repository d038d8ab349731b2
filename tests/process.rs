//! Process-level cases: memalloc as the `#[global_allocator]` of a whole
//! program under `fork`, heavy thread churn, allocation in TLS destructors
//! that run after the exit flush, and an address-space limit lowered
//! mid-run.
//!
//! Each scenario runs in a child process (this test binary run again with
//! `MEMALLOC_CHILD` set), so that only its own threads exist there and the
//! figures it checks (RSS, `stats()`) are its own. The parent gives every
//! child a deadline: a deadlock fails the test instead of hanging it.
//!
//! Linux only (glibc and musl): `fork`, `RLIMIT_AS`, pthread keys and
//! `/proc/self/statm` are what these cases are about.
// Not built under `--cfg loom`: that run is for the loom models, and these
// tests (real threads and programs) already run in plain `cargo test`.
#![cfg(all(target_os = "linux", not(loom)))]

mod common;

use common::{child_scenario, fill, rss_bytes, verify};
use std::alloc::{GlobalAlloc, Layout};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: memalloc::Memalloc = memalloc::Memalloc;

/// Runs the test `test_name` of this binary in a child with
/// `MEMALLOC_CHILD=scenario`; kills it and fails if it is not done within
/// `limit`. Returns (status, stdout, stderr).
fn run_child_within(test_name: &str, scenario: &str, limit: Duration) -> (ExitStatus, String) {
    let dir = std::env::temp_dir();
    let base = format!("memalloc-process-{}-{scenario}", std::process::id());
    let out_path = dir.join(format!("{base}.out"));
    let err_path = dir.join(format!("{base}.err"));
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env("MEMALLOC_CHILD", scenario)
        .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            let err = std::fs::read_to_string(&err_path).unwrap_or_default();
            panic!("child `{scenario}` still running after {limit:?}: hung?\n{err}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = std::fs::read_to_string(&out_path).unwrap_or_default();
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    (status, format!("--- stdout\n{out}--- stderr\n{err}"))
}

/// Runs the scenario in a child and expects it to print `<scenario> OK`
/// and exit 0.
fn expect_child_ok(test_name: &str, scenario: &str, limit: Duration) {
    let (status, output) = run_child_within(test_name, scenario, limit);
    println!("{output}");
    assert!(
        status.success() && output.contains(&format!("{scenario} OK")),
        "child `{scenario}` failed ({status:?}):\n{output}"
    );
}

// --- fork ------------------------------------------------------------------

/// What a forked child does: std collections in every size range, a thread
/// of its own that allocates and hands its blocks back, and a heap check.
/// Returns whether everything checked out. Prints nothing: another thread
/// of the parent may have held the stdout lock at the fork.
fn forked_child_work(seed: u64) -> bool {
    use std::collections::HashMap;
    let mut map: HashMap<String, Vec<u64>> = HashMap::new();
    for i in 0..3000u64 {
        map.entry(format!("k{}", i % 300))
            .or_default()
            .push(i ^ seed);
    }
    let sizes = [16usize, 700, 4096, 100 << 10, 3 << 20, 40 << 20];
    let mut blocks: Vec<Vec<u8>> = sizes.iter().map(|&n| vec![0u8; n]).collect();
    for (k, b) in blocks.iter_mut().enumerate() {
        // SAFETY: the vector's buffer holds `b.len()` initialised bytes.
        unsafe { fill(b.as_mut_ptr(), b.len(), seed + k as u64) };
    }
    let from_thread = std::thread::spawn(move || {
        (0..500usize)
            .map(|i| vec![i as u8; 1 + i * 37 % 5000])
            .collect::<Vec<_>>()
    })
    .join();
    let Ok(from_thread) = from_thread else {
        return false;
    };
    let threads_ok = from_thread
        .iter()
        .enumerate()
        .all(|(i, v)| v.len() == 1 + i * 37 % 5000 && v.iter().all(|&x| x == i as u8));
    for (k, b) in blocks.iter().enumerate() {
        // SAFETY: as above; `fill` wrote these bytes.
        unsafe { verify(b.as_ptr(), b.len(), seed + k as u64) };
    }
    let map_ok = map.len() == 300 && map.values().map(Vec::len).sum::<usize>() == 3000;
    drop((map, blocks, from_thread));
    threads_ok && map_ok && memalloc::check().is_ok()
}

/// Waits for `pid` for at most `limit`; kills it and returns None if it is
/// still running then.
fn wait_within(pid: libc::pid_t, limit: Duration) -> Option<libc::c_int> {
    let deadline = Instant::now() + limit;
    let mut status = 0;
    loop {
        // SAFETY: `pid` is our child; `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(r >= 0, "waitpid failed");
        if r == pid {
            return Some(status);
        }
        if Instant::now() > deadline {
            // SAFETY: killing and reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn fork_scenario() {
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(64);
    let rx = Arc::new(Mutex::new(rx));
    // Four threads allocate in every size range while the main thread
    // forks; half of them free blocks the other half allocated.
    let workers: Vec<_> = (0..4usize)
        .map(|t| {
            let (stop, ops, tx, rx) = (stop.clone(), ops.clone(), tx.clone(), rx.clone());
            std::thread::spawn(move || {
                let mut rng = common::Rng::new(t as u64 + 1);
                let mut live: Vec<Vec<u8>> = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let n = match rng.below(100) {
                        0 => 33 << 20, // huge: a mapping of its own
                        1..=9 => (32 << 10) + rng.below(1 << 20) as usize,
                        _ => 1 + rng.below(4096) as usize,
                    };
                    let mut v = Vec::with_capacity(n);
                    v.resize(n.min(4096), t as u8);
                    if t % 2 == 0 {
                        let _ = tx.try_send(v);
                    } else {
                        if let Ok(v) = rx.lock().unwrap().try_recv() {
                            drop(v);
                        }
                        live.push(v);
                        if live.len() > 64 {
                            live.swap_remove(rng.below(64) as usize);
                        }
                    }
                    ops.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    drop(tx);
    while ops.load(Ordering::Relaxed) < 1000 {
        std::thread::yield_now();
    }
    let mut forks = 0;
    for round in 0..20u64 {
        std::thread::sleep(Duration::from_millis(3));
        // SAFETY: fork has no memory-safety preconditions; the child only
        // allocates, checks and `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let ok = std::panic::catch_unwind(|| forked_child_work(round)).unwrap_or(false);
            // SAFETY: ends the child without running the parent's
            // exit-time code (the test harness, other threads' state).
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        match wait_within(pid, Duration::from_secs(20)) {
            None => panic!("forked child {round} hung: a lock was inherited locked"),
            Some(status) => assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "forked child {round} failed: status {status:#x}"
            ),
        }
        forks += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    memalloc::check().unwrap();
    println!(
        "{forks} forks during {} allocations by 4 threads",
        ops.load(Ordering::Relaxed)
    );
    println!("fork OK");
}

#[test]
fn fork_while_threads_allocate_through_the_global_allocator_leaves_a_working_child() {
    if child_scenario().as_deref() == Some("fork") {
        return fork_scenario();
    }
    expect_child_ok(
        "fork_while_threads_allocate_through_the_global_allocator_leaves_a_working_child",
        "fork",
        Duration::from_secs(120),
    );
}

// --- thread churn ----------------------------------------------------------

/// What each churned thread does: small blocks of many classes and two
/// large ones, filled and checked; it frees most itself and hands a few to
/// the thread that joins it.
fn churn_thread_work(seed: u64) -> Vec<Box<[u8]>> {
    let mut rng = common::Rng::new(seed);
    let mut live: Vec<Box<[u8]>> = Vec::with_capacity(66);
    for i in 0..64u64 {
        let n = 1 + rng.below(3000) as usize;
        live.push(vec![(seed ^ i) as u8; n].into_boxed_slice());
    }
    live.push(vec![1u8; 40 << 10].into_boxed_slice());
    live.push(vec![2u8; 300 << 10].into_boxed_slice());
    let keep = live.split_off(60);
    for (i, b) in live.iter().enumerate() {
        assert!(b.iter().all(|&x| x == (seed ^ i as u64) as u8));
    }
    keep
}

fn churn_scenario() {
    const THREADS: usize = 10_000;
    const BATCH: usize = 100;
    let run_batch = |batch: usize| {
        let handles: Vec<_> = (0..BATCH)
            .map(|i| {
                let seed = (batch * BATCH + i) as u64;
                std::thread::Builder::new()
                    .stack_size(128 << 10)
                    .spawn(move || churn_thread_work(seed))
                    .unwrap()
            })
            .collect();
        for h in handles {
            // Freed here: cross-thread frees into this thread's cache.
            drop(h.join().unwrap());
        }
    };
    // The first batch maps the regions, fills glibc's cache of thread
    // stacks and the central batches; later batches should reuse them.
    run_batch(0);
    memalloc::flush_thread_cache();
    let warm_rss = rss_bytes();
    let warm = memalloc::stats();
    for batch in 1..THREADS / BATCH {
        run_batch(batch);
    }
    memalloc::flush_thread_cache();
    let end_rss = rss_bytes();
    let end = memalloc::stats();
    memalloc::check().unwrap();
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    println!(
        "{THREADS} threads: RSS after the first batch {:.1} MiB, after all {:.1} MiB; \
         mapped {:.1} -> {:.1} MiB; in use {} -> {} B",
        mib(warm_rss),
        mib(end_rss),
        mib(warm.bytes_mapped),
        mib(end.bytes_mapped),
        warm.bytes_in_use,
        end.bytes_in_use
    );
    // Every exited thread's cache was flushed: nothing is left reported in
    // thread caches once this thread has flushed its own.
    assert_eq!(end.bytes_in_thread_caches, 0, "{end:?}");
    // Nothing the threads allocated is still counted in use.
    assert!(
        end.bytes_in_use <= warm.bytes_in_use + (64 << 10),
        "bytes in use grew: {warm:?} -> {end:?}"
    );
    // The bound: RSS may grow by at most 16 MiB over the 9 900 threads
    // after the first batch. What may legitimately stay resident is the
    // dirty-page bound (max(8 MiB, 1/8 of the bytes in use, twice the
    // largest recent free): 8 MiB here, the blocks being at most 300 KiB
    // and little staying in use), the page map of a region mapped later,
    // and slack for glibc's stack cache. A leak of 1.7 KiB per thread
    // (a stranded cache, a key never freed) would pass it.
    let bound = memalloc::limits::DIRTY_MIN_BYTES + (8 << 20);
    assert!(
        end_rss <= warm_rss + bound,
        "RSS grew with thread churn: {warm_rss} -> {end_rss} (bound +{bound})"
    );
    println!("churn OK");
}

#[test]
fn ten_thousand_threads_in_batches_leave_rss_and_caches_bounded() {
    if child_scenario().as_deref() == Some("churn") {
        return churn_scenario();
    }
    expect_child_ok(
        "ten_thousand_threads_in_batches_leave_rss_and_caches_bounded",
        "churn",
        Duration::from_secs(120),
    );
}

// --- TLS destructors after the exit flush ------------------------------------

/// Filled in by `late_destructor` (which must not panic: it runs from libc).
static LATE_ROUNDS: AtomicUsize = AtomicUsize::new(0);
static LATE_SAW_FLUSH: AtomicUsize = AtomicUsize::new(0);
static LATE_BAD: AtomicUsize = AtomicUsize::new(0);
static FLUSHED_BEFORE_EXIT: AtomicU64 = AtomicU64::new(0);
/// Blocks a late destructor allocated and handed to the main thread, with
/// their fill tags.
static HANDED_OVER: Mutex<Vec<(Box<[u8]>, u64)>> = Mutex::new(Vec::new());
static LATE_KEY: AtomicUsize = AtomicUsize::new(0);

/// Rounds of pthread key destructors the test asks for (glibc and musl run
/// up to PTHREAD_DESTRUCTOR_ITERATIONS = 4 while values are set again).
const LATE_ROUND_COUNT: usize = 3;

/// A pthread key destructor created after memalloc's own exit hook, so it
/// runs after the thread's cache was flushed and the thread marked dead.
/// It allocates in every size range through std, checks the contents,
/// frees most and hands some blocks to the main thread.
extern "C" fn late_destructor(_value: *mut libc::c_void) {
    let round = LATE_ROUNDS.fetch_add(1, Ordering::SeqCst) as u64;
    if memalloc::stats().small_blocks_flushed > FLUSHED_BEFORE_EXIT.load(Ordering::SeqCst) {
        LATE_SAW_FLUSH.fetch_add(1, Ordering::SeqCst);
    }
    let strings: Vec<String> = (0..2000).map(|i| format!("late-{round}-{i}")).collect();
    let mut blocks: Vec<(Box<[u8]>, u64)> = Vec::new();
    for (k, n) in [24usize, 1000, 8 << 10, 64 << 10, 1 << 20, 40 << 20]
        .into_iter()
        .enumerate()
    {
        let tag = round * 16 + k as u64;
        let mut b = vec![0u8; n].into_boxed_slice();
        // SAFETY: the box holds `n` initialised bytes.
        unsafe { fill(b.as_mut_ptr(), n, tag) };
        blocks.push((b, tag));
    }
    let strings_ok = strings
        .iter()
        .enumerate()
        .all(|(i, s)| *s == format!("late-{round}-{i}"));
    if !strings_ok {
        LATE_BAD.fetch_add(1, Ordering::SeqCst);
    }
    drop(strings);
    // Half go to the main thread, half are freed here (straight to the
    // central heap: this thread has no cache any more).
    let keep = blocks.split_off(3);
    HANDED_OVER.lock().unwrap().extend(keep);
    drop(blocks);
    if LATE_ROUNDS.load(Ordering::SeqCst) < LATE_ROUND_COUNT {
        // SAFETY: the key is live; a non-null value asks libc for one more
        // destructor round.
        unsafe {
            libc::pthread_setspecific(
                LATE_KEY.load(Ordering::SeqCst) as _,
                std::ptr::dangling::<libc::c_void>(),
            )
        };
    }
}

fn late_tls_scenario() {
    // The test harness's main thread may still be setting up when this
    // test thread starts; its cache's exchanges would move the figures.
    // Let it settle, and let std make its lazily allocated thread state,
    // so `before` and `after` differ only by what the thread left behind.
    std::thread::sleep(Duration::from_millis(50));
    std::thread::spawn(|| ()).join().unwrap();
    memalloc::flush_thread_cache();
    let before = memalloc::stats();
    std::thread::spawn(|| {
        // Fill the cache with blocks of several classes, so the exit
        // flush has something to return.
        let v: Vec<Box<[u8]>> = (0..3000)
            .map(|i| vec![i as u8; 16 + i % 900].into_boxed_slice())
            .collect();
        drop(v);
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: a valid out-pointer and a destructor of the right type.
        let r = unsafe { libc::pthread_key_create(&mut key, Some(late_destructor)) };
        assert_eq!(r, 0, "pthread_key_create");
        LATE_KEY.store(key as usize, Ordering::SeqCst);
        FLUSHED_BEFORE_EXIT.store(memalloc::stats().small_blocks_flushed, Ordering::SeqCst);
        // SAFETY: the key was just created.
        unsafe { libc::pthread_setspecific(key, std::ptr::dangling::<libc::c_void>()) };
    })
    .join()
    .unwrap();
    assert_eq!(LATE_ROUNDS.load(Ordering::SeqCst), LATE_ROUND_COUNT);
    assert_eq!(
        LATE_SAW_FLUSH.load(Ordering::SeqCst),
        LATE_ROUND_COUNT,
        "memalloc's exit flush ran before every late destructor round"
    );
    assert_eq!(LATE_BAD.load(Ordering::SeqCst), 0, "strings built late");
    let handed = std::mem::take(&mut *HANDED_OVER.lock().unwrap());
    assert_eq!(handed.len(), 3 * LATE_ROUND_COUNT);
    for (b, tag) in &handed {
        // SAFETY: `late_destructor` filled the box with this tag.
        unsafe { verify(b.as_ptr(), b.len(), *tag) };
    }
    drop(handed);
    memalloc::flush_thread_cache();
    let after = memalloc::stats();
    memalloc::check().unwrap();
    println!("stats before the thread: {before:?}\nstats after: {after:?}");
    // No stranded bytes: the dead thread's frees went to the central heap,
    // its cache reports nothing, and everything it allocated is freed.
    assert_eq!(after.bytes_in_thread_caches, 0);
    assert_eq!(after.bytes_in_use, before.bytes_in_use);
    // The huge blocks' mappings are gone.
    assert_eq!(after.huge_allocations, before.huge_allocations);
    println!("late-tls OK");
}

#[test]
fn allocations_in_tls_destructors_after_the_exit_flush_are_correct_and_leak_nothing() {
    if child_scenario().as_deref() == Some("late-tls") {
        return late_tls_scenario();
    }
    expect_child_ok(
        "allocations_in_tls_destructors_after_the_exit_flush_are_correct_and_leak_nothing",
        "late-tls",
        Duration::from_secs(60),
    );
}

// --- RLIMIT_AS lowered mid-run ---------------------------------------------

/// Address space of this process in bytes, from /proc/self/statm.
fn vm_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = s.split_whitespace().next().unwrap().parse().unwrap();
    pages * 4096
}

/// Layouts of every size range and some alignments, cycled through while
/// exhausting the address space.
fn exhaust_layouts() -> [Layout; 7] {
    [
        Layout::from_size_align(48, 8).unwrap(),
        Layout::from_size_align(3000, 64).unwrap(),
        Layout::from_size_align(100 << 10, 16).unwrap(),
        Layout::from_size_align(1 << 20, 4096).unwrap(),
        Layout::from_size_align(8 << 20, 2 << 20).unwrap(),
        Layout::from_size_align(20 << 20, 16).unwrap(),
        Layout::from_size_align(40 << 20, 16).unwrap(),
    ]
}

fn rlimit_scenario() {
    let heap = memalloc::Heap::new();
    // Used before the limit drops, so both heaps have regions.
    let warm: Vec<u8> = vec![1; 100];
    // SAFETY: a fresh heap; the block is freed below.
    let heap_warm = unsafe { heap.malloc(100) };
    // Every container the scenario fills while memory is short is sized
    // now: a failed allocation of theirs would abort through
    // `handle_alloc_error`, which is std's choice, not memalloc's.
    let mut held: Vec<(*mut u8, Layout)> = Vec::with_capacity(1 << 20);
    let mut heap_held: Vec<(*mut u8, Layout)> = Vec::with_capacity(1 << 20);
    let mut nulls = [0usize; 7];

    let limit = vm_bytes() + (256 << 20);
    let lim = libc::rlimit {
        rlim_cur: limit,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: a valid rlimit; lowering the soft limit is always allowed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);

    // SAFETY: the GlobalAlloc and Heap calls get valid, non-zero layouts;
    // blocks are used within their sizes and freed once, below.
    unsafe {
        // Requests larger than what is left fail with null, aligned or not.
        for (size, align) in [(1usize << 30, 16usize), (1 << 30, 2 << 20), (600 << 20, 64)] {
            let l = Layout::from_size_align(size, align).unwrap();
            assert!(GLOBAL.alloc(l).is_null(), "{l:?}");
            assert!(GLOBAL.alloc_zeroed(l).is_null(), "{l:?}");
            assert!(heap.alloc(l).is_null(), "{l:?}");
        }
        assert!(heap.malloc(1 << 30).is_null());
        let mut v: Vec<u8> = Vec::new();
        assert!(v.try_reserve(1 << 30).is_err(), "try_reserve sees the null");

        // Realloc growth until it fails: the failure is a null and the old
        // block stays valid with its contents, for a huge block (grown
        // with mremap) and for a large one (grown in place or moved).
        for start in [40usize << 20, 64 << 10] {
            let mut l = Layout::from_size_align(start, 16).unwrap();
            let mut p = GLOBAL.alloc(l);
            assert!(!p.is_null());
            fill(p, l.size(), 7);
            let mut filled = l.size();
            loop {
                let new = l.size() * 2;
                let q = GLOBAL.realloc(p, l, new);
                if q.is_null() {
                    break;
                }
                common::verify_prefix(q, filled, filled, 7);
                p = q;
                l = Layout::from_size_align(new, 16).unwrap();
                fill(p, l.size(), 7);
                filled = l.size();
            }
            assert!(l.size() < 1 << 30, "growth stopped by the limit");
            verify(p, filled, 7);
            GLOBAL.dealloc(p, l);
        }
        // The same through a heap instance's malloc-style resize.
        let mut size = 2usize << 20;
        let mut p = heap.malloc(size);
        assert!(!p.is_null());
        fill(p, size, 9);
        loop {
            let q = heap.resize(p, size * 2);
            if q.is_null() {
                break;
            }
            verify(q, size, 9);
            p = q;
            size *= 2;
            fill(p, size, 9);
        }
        verify(p, size, 9);
        heap.free(p);

        // Exhaust the address space in every size range, both heaps.
        let layouts = exhaust_layouts();
        let mut live_bytes = 0usize;
        for round in 0..200_000usize {
            let k = round % layouts.len();
            let l = layouts[k];
            let p = if round % 5 == 0 {
                heap.alloc(l)
            } else {
                GLOBAL.alloc(l)
            };
            if p.is_null() {
                nulls[k] += 1;
                if nulls.iter().all(|&n| n > 20) {
                    break;
                }
                continue;
            }
            *p = 0xA5;
            *p.add(l.size() - 1) = 0x5A;
            live_bytes += l.size();
            if round % 5 == 0 {
                heap_held.push((p, l));
            } else {
                held.push((p, l));
            }
        }
        assert!(
            nulls.iter().all(|&n| n > 0),
            "every size range failed: {nulls:?}"
        );
        assert!(live_bytes > 64 << 20, "the limit left room to allocate");
        for &(p, l) in &held {
            assert_eq!((*p, *p.add(l.size() - 1)), (0xA5, 0x5A));
            GLOBAL.dealloc(p, l);
        }
        held.clear();
        for &(p, l) in &heap_held {
            assert_eq!((*p, *p.add(l.size() - 1)), (0xA5, 0x5A));
            heap.dealloc(p, l);
        }
        heap_held.clear();
        heap.free(heap_warm);
        memalloc::trim();
        heap.trim();

        // The limit is still in force: the heaps work within it again.
        let big = Layout::from_size_align(100 << 20, 4096).unwrap();
        let p = GLOBAL.alloc(big);
        assert!(!p.is_null(), "global heap unusable after exhaustion");
        p.write_bytes(3, big.size());
        GLOBAL.dealloc(p, big);
        let q = heap.malloc(100 << 20);
        assert!(!q.is_null(), "heap instance unusable after exhaustion");
        q.write_bytes(4, 100 << 20);
        heap.free(q);
    }
    let words: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
    assert_eq!(words[9999], "9999");
    drop((words, warm));
    memalloc::check().unwrap();
    heap.check().unwrap();
    drop(heap);
    println!("nulls per layout {nulls:?} under a limit of {limit} B");
    println!("rlimit OK");
}

#[test]
fn a_lowered_address_space_limit_gives_null_returns_and_the_heap_recovers() {
    if child_scenario().as_deref() == Some("rlimit") {
        return rlimit_scenario();
    }
    expect_child_ok(
        "a_lowered_address_space_limit_gives_null_returns_and_the_heap_recovers",
        "rlimit",
        Duration::from_secs(60),
    );
}
