//! DESIGN.md promise 5: `fork()` in a multithreaded process leaves a usable
//! allocator in the child, even when other threads were inside the heap
//! (holding its locks) at the moment of the fork.
#![cfg(unix)]

use memalloc::Heap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[test]
fn fork_while_other_threads_allocate_leaves_a_usable_child() {
    let heap = Arc::new(Heap::new());
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|t| {
            let (heap, stop) = (Arc::clone(&heap), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    unsafe {
                        // Mixed sizes so the central lock and page heap are hot.
                        let n = 16 + (i * 7919 + t) % (600 << 10);
                        let p = memalloc::malloc(n);
                        let q = heap.malloc(n / 2 + 1);
                        memalloc::free(p);
                        heap.free(q);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(5));
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // Child: only this thread exists. Allocate on both heaps.
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
                let mut v = Vec::new();
                for i in 0..2000usize {
                    v.push(memalloc::malloc(1 + i * 97 % 100_000));
                    v.push(heap.malloc(1 + i % 5000));
                }
                for (k, p) in v.into_iter().enumerate() {
                    if k % 2 == 0 {
                        memalloc::free(p)
                    } else {
                        heap.free(p)
                    }
                }
                memalloc::check().is_ok() && heap.check().is_ok()
            }));
            unsafe { libc::_exit(if matches!(code, Ok(true)) { 0 } else { 1 }) };
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut status = 0;
        loop {
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                break;
            }
            if Instant::now() > deadline {
                unsafe { libc::kill(pid, libc::SIGKILL) };
                panic!("child {pid} hung: a heap lock was inherited locked");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child failed: status {status:#x}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    heap.check().unwrap();
}
