//! Tests of the thread cache's lists, limits and budget against a real
//! central heap.

use super::*;
use crate::size_class::CLASSES;

fn with_heap(f: impl FnOnce(&CentralHeap)) {
    let h = CentralHeap::new();
    f(&h);
    // SAFETY: the test released every block it used.
    unsafe { h.release_all() };
}

#[test]
fn a_missing_class_earns_a_deeper_list() {
    with_heap(|h| {
        let mut c = ThreadCache::new();
        let class = 2;
        let batch = CLASSES[class].batch;
        assert_eq!(c.lists[class].max_len, 1, "slow start");
        let mut live = Vec::new();
        let mut misses = 0;
        while c.lists[class].max_len <= batch {
            if c.current.len(class) == 0 {
                misses += 1;
            }
            // SAFETY: valid class; `c` is only used with `h`.
            live.push(unsafe { c.alloc(h, class) });
        }
        // 1, 2, 4, ... up to a batch (log2(batch) misses), then one
        // more miss adds a whole batch.
        assert_eq!(
            misses,
            batch.trailing_zeros() + 1,
            "doubling per miss up to a batch, then a batch per miss"
        );
        assert_eq!(c.lists[class].max_len, 2 * batch);
        assert!(c.lists[class].max_len <= max_list_len(class, batch));
        for p in live {
            // SAFETY: blocks of `class` from `h`.
            unsafe { c.free(h, p, class) };
        }
        assert!(c.current.len(class) <= c.lists[class].max_len);
        // SAFETY: `c` is only used with `h`.
        unsafe { c.flush(h) };
        assert_eq!(c.cached_bytes(h), 0);
        let s = h.stats(None);
        assert_eq!((s.bytes_in_use, s.bytes_in_thread_caches), (0, 0), "{s:?}");
        h.check().unwrap();
    });
}

#[test]
#[cfg(not(loom))] // loom builds keep the eight-batch cap
fn a_thread_that_drops_512_kib_of_small_blocks_keeps_them_all() {
    with_heap(|h| {
        let mut c = ThreadCache::new();
        let class = 0; // 16-byte blocks: eight batches are only 8 KiB
        let batch = CLASSES[class].batch;
        // A structure a batch below the cap (at the cap exactly, the
        // newest block on the current list would overflow it).
        let n = (max_list_len(class, batch) - batch) as usize;
        assert!(n as u32 > MAX_BATCHES_PER_LIST * batch);
        assert!(n * block_size(class) < MAX_LIST_BYTES);
        // Build and drop it a few times: the list grows on misses until
        // the whole of it stays cached.
        for round in 0..4 {
            let before = h.stats(None).class_lock_acquisitions;
            // SAFETY: valid class; `c` is only used with `h`.
            let live: Vec<_> = (0..n).map(|_| unsafe { c.alloc(h, class) }).collect();
            for &p in &live {
                // SAFETY: blocks of `class` from `h`, freed once.
                unsafe { c.free(h, p, class) };
            }
            let exchanges = h.stats(None).class_lock_acquisitions - before;
            if round == 3 {
                assert_eq!(exchanges, 0, "the last round never leaves the cache");
                let cached = c.cached_bytes(h);
                assert!(cached >= n * block_size(class) && cached <= MAX_LIST_BYTES);
            }
            assert!(c.lists[class].max_len <= max_list_len(class, batch));
            assert!(c.capacity <= THREAD_BUDGET);
        }
        // SAFETY: `c` is only used with `h`.
        unsafe { c.flush(h) };
        let s = h.stats(None);
        assert_eq!((s.bytes_in_use, s.bytes_in_thread_caches), (0, 0), "{s:?}");
        h.check().unwrap();
    });
}

#[test]
fn an_overfull_list_flushes_one_batch_to_the_central_heap() {
    with_heap(|h| {
        let mut c = ThreadCache::new();
        let class = 0;
        let batch = CLASSES[class].batch as usize;
        c.set_max_len(class, 2 * batch as u32, batch as u32);
        let (head, n) = h.alloc_batch(class, 2 * batch + 1, 0);
        assert_eq!(n, 2 * batch + 1);
        let mut b = head;
        let before = h.stats(None).small_blocks_flushed;
        while !b.is_null() {
            // SAFETY: walking a list the heap just handed out.
            let next = unsafe { (*b).next };
            // SAFETY: a block of class 0 from `h`.
            unsafe { c.free(h, b.cast(), class) };
            b = next;
        }
        let flushed = h.stats(None).small_blocks_flushed - before;
        assert_eq!(
            flushed as usize, batch,
            "one whole batch went back when the cache passed max_len"
        );
        let l = c.lists[class];
        assert_eq!(
            (c.current.len(class), l.nfull),
            (1, 1),
            "the newest block and one whole batch stay"
        );
        assert_eq!(
            h.stats(None).bytes_in_central_batches,
            batch * 16,
            "it went back whole"
        );
        // SAFETY: `c` is only used with `h`.
        unsafe { c.flush(h) };
        h.check().unwrap();
    });
}

#[test]
fn a_deep_list_keeps_whole_batches_and_reuses_them_without_the_central_heap() {
    with_heap(|h| {
        let mut c = ThreadCache::new();
        let class = 0;
        let batch = CLASSES[class].batch;
        c.set_max_len(class, 4 * batch, batch);
        let (head, n) = h.alloc_batch(class, 3 * batch as usize, 0);
        assert_eq!(n, 3 * batch as usize);
        let mut b = head;
        while !b.is_null() {
            // SAFETY: walking a list the heap just handed out.
            let next = unsafe { (*b).next };
            // SAFETY: a block of class 0 from `h`.
            unsafe { c.free(h, b.cast(), class) };
            b = next;
        }
        let l = c.lists[class];
        assert_eq!(
            (l.nfull, c.current.len(class)),
            (2, batch),
            "two whole batches stacked"
        );
        let before = h.stats(None);
        let got: Vec<_> = (0..3 * batch)
            // SAFETY: valid class; `c` is only used with `h`.
            .map(|_| unsafe { c.alloc(h, class) })
            .collect();
        let after = h.stats(None);
        assert_eq!(
            after.small_blocks_refilled, before.small_blocks_refilled,
            "all three batches came from the cache itself"
        );
        assert_eq!(
            after.class_lock_acquisitions,
            before.class_lock_acquisitions
        );
        let distinct: std::collections::HashSet<_> = got.iter().collect();
        assert_eq!(distinct.len(), got.len(), "no block handed out twice");
        for p in got {
            // SAFETY: blocks of class 0 from `h`.
            unsafe { c.free(h, p, class) };
        }
        // SAFETY: `c` is only used with `h`.
        unsafe { c.flush(h) };
        assert_eq!(h.stats(None).bytes_in_use, 0);
        h.check().unwrap();
    });
}

#[test]
fn a_consumer_thread_stops_hoarding_after_repeated_overflows() {
    with_heap(|h| {
        let mut c = ThreadCache::new();
        let class = 1;
        let batch = CLASSES[class].batch;
        c.set_max_len(class, 4 * batch, batch);
        for _ in 0..(MAX_OVERAGES + 1) * 4 {
            let (head, n) = h.alloc_batch(class, batch as usize, 0);
            let mut b = head;
            for _ in 0..n {
                // SAFETY: walking and freeing blocks the heap handed out.
                unsafe {
                    let next = (*b).next;
                    c.free(h, b.cast(), class);
                    b = next;
                }
            }
        }
        assert!(c.lists[class].max_len < 4 * batch, "the limit shrank");
        // SAFETY: `c` is only used with `h`.
        unsafe { c.flush(h) };
        h.check().unwrap();
    });
}

#[test]
fn a_thread_cache_stays_near_its_byte_budget() {
    with_heap(|h| {
        let mut c = ThreadCache::new();
        let mut live = Vec::new();
        // Allocate then free a lot of every class.
        for (class, info) in CLASSES.iter().enumerate() {
            for _ in 0..info.batch * 8 {
                // SAFETY: valid class; `c` is only used with `h`.
                live.push((unsafe { c.alloc(h, class) }, class));
            }
        }
        for (p, class) in live {
            // SAFETY: blocks of their class from `h`.
            unsafe { c.free(h, p, class) };
        }
        let cached = c.cached_bytes(h);
        let one_each: usize = (0..NUM_CLASSES).map(block_size).sum();
        assert!(
            cached <= THREAD_BUDGET + one_each,
            "cached {cached} over budget"
        );
        assert!(c.capacity <= THREAD_BUDGET);
        // SAFETY: `c` is only used with `h`.
        unsafe { c.flush(h) };
        h.check().unwrap();
    });
}

#[test]
fn a_checked_push_of_the_list_head_is_refused_without_a_write() {
    with_heap(|h| {
        let mut c = ThreadCache::new();
        let list = ListOffset::of_class(3);
        // Room for more than one block on the list.
        // SAFETY: valid class; `c` is only used with `h`.
        let live: Vec<_> = (0..4).map(|_| unsafe { c.alloc(h, 3) }).collect();
        for &p in &live {
            // SAFETY: blocks of class 3 from `h`.
            unsafe { c.free(h, p, 3) };
        }
        let p = c.pop(list);
        assert!(!p.is_null());
        // SAFETY: `p` is a block of class 3 from `h`, no longer used.
        assert!(unsafe { c.push_if_room(p, list, true) });
        // A second free of the head: the checked push refuses it (the slow
        // path then diagnoses it), writing nothing.
        let len = c.current.len(3);
        // SAFETY: refused without a write, as asserted.
        assert!(!unsafe { c.push_if_room(p, list, true) });
        assert_eq!(c.current.len(3), len);
        // SAFETY: `c` is only used with `h`.
        unsafe { c.flush(h) };
        h.check().unwrap();
    });
}
