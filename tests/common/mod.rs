//! Helpers shared by the integration tests: a small deterministic PRNG, fill
//! patterns, and a way to run a scenario in a child process.
#![allow(dead_code)]

/// xorshift64*: deterministic, no dependencies.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// A size spread log-uniformly over [1, max].
    pub fn log_size(&mut self, max: usize) -> usize {
        let bits = usize::BITS - max.leading_zeros();
        let b = 1 + self.below(bits as u64) as u32;
        let hi = (1usize << b).min(max);
        1 + self.below(hi as u64) as usize
    }
}

/// The byte expected at offset `i` of a block filled with `tag`.
#[inline]
pub fn pattern(tag: u64, i: usize) -> u8 {
    (tag as u8).wrapping_add((i as u8).wrapping_mul(31)) ^ (i >> 8) as u8
}

/// Fills the first `len` bytes (all of them up to 8 KiB, then one byte per 4 KiB page
/// plus the last byte, so large blocks stay cheap to check).
pub unsafe fn fill(p: *mut u8, len: usize, tag: u64) {
    for i in sample_offsets(len) {
        unsafe { *p.add(i) = pattern(tag, i) };
    }
}

/// Verifies what `fill(p, len, tag)` wrote.
pub unsafe fn verify(p: *const u8, len: usize, tag: u64) {
    unsafe { verify_prefix(p, len, len, tag) }
}

/// Verifies the bytes below `prefix` of what `fill(p, filled, tag)` wrote
/// (after a realloc that kept only `prefix` bytes).
pub unsafe fn verify_prefix(p: *const u8, filled: usize, prefix: usize, tag: u64) {
    let len = filled;
    for i in sample_offsets(filled).filter(|&i| i < prefix) {
        let got = unsafe { *p.add(i) };
        assert_eq!(
            got,
            pattern(tag, i),
            "block {p:p} tag {tag} corrupted at offset {i} of {len}"
        );
    }
}

fn sample_offsets(len: usize) -> impl Iterator<Item = usize> {
    let dense = len.min(8192);
    (0..dense)
        .chain((dense..len).step_by(4096))
        .chain(if len > dense { Some(len - 1) } else { None })
}

/// Runs the test `name` of this test binary again in a child process with
/// `MEMALLOC_CHILD=scenario`, returning (exit status, stderr).
pub fn run_child(test_name: &str, scenario: &str) -> (std::process::ExitStatus, String) {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env("MEMALLOC_CHILD", scenario)
        .output()
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The scenario this process should run, if it is a child.
pub fn child_scenario() -> Option<String> {
    std::env::var("MEMALLOC_CHILD").ok()
}

/// Resident set size of this process in bytes (Linux).
pub fn rss_bytes() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
