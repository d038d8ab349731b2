//! Arbitrary pointers given to `free` and `usable_size` in a child
//! process: the answer must be a correct result or the documented
//! one-line abort (`memalloc: ...` on stderr), never a crash or a heap
//! that fails its checker.
//!
//! ```text
//!   parent ── fork ──▶ child: fresh heap, live blocks of four sizes (+ one
//!     │                       freed), ptr = chosen block + offset
//!     │                       free(ptr) or usable_size(ptr); check(); _exit(0)
//!     │◀── stderr pipe, wait status ──┘
//!   Outcome: Exited(code) | Aborted(line) | Killed(signal)
//! ```

use super::Caches;
use crate::central::LARGE_MAX;
use crate::size_class::{SMALL_MAX, block_size, class_of};

/// Live block sizes of the child's heap: small, small, large, huge.
const SIZES: [usize; 4] = [48, 3000, 200_000, LARGE_MAX + 4096];

/// One probe decoded from fuzz bytes.
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    /// `usable_size` instead of `free`.
    pub usable: bool,
    /// Which block the pointer is relative to: 0..4 the live blocks, 4 a
    /// freed small block, 5 address zero.
    pub base: usize,
    /// Added to the base (wrapping).
    pub offset: isize,
}

impl Probe {
    /// Decodes a probe from up to ten bytes (missing bytes read as zero).
    pub fn decode(bytes: &[u8]) -> Probe {
        let b = |i: usize| bytes.get(i).copied().unwrap_or(0);
        let raw = i64::from_le_bytes([b(2), b(3), b(4), b(5), b(6), b(7), b(8), b(9)]);
        // Mostly near the block (the interesting cases), sometimes anywhere.
        let offset = match b(1) >> 4 {
            0..=11 => (raw % (1 << 20)) as isize,
            12..=14 => (raw % (1 << 28)) as isize,
            _ => raw as isize,
        };
        Probe {
            usable: b(0) & 1 == 1,
            base: (b(1) & 15) as usize % 6,
            offset,
        }
    }
}

/// How the child ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It returned normally (0) or failed a check in the child (1: the
    /// heap checker, 2: a wrong `usable_size`).
    Exited(i32),
    /// It aborted (SIGABRT) after writing this to stderr.
    Aborted(String),
    /// Another signal killed it (a crash).
    Killed(i32),
}

/// Whether memalloc may accept `probe` silently: a pointer to a live
/// block's start is correct, null is a no-op for `free`, and the README's
/// Caveats name the cheap checks it does not make (a block boundary inside
/// a small span, which may hold a free block or another live one).
fn may_return(probe: &Probe, ptr: usize, bases: &[usize; 6]) -> bool {
    if ptr == 0 {
        return !probe.usable;
    }
    if bases[..4].contains(&ptr) {
        return true;
    }
    // The small blocks' spans: a block-aligned offset from a small block
    // is another block of its span (or past it, which is checked).
    [
        (bases[0], SIZES[0]),
        (bases[1], SIZES[1]),
        (bases[4], SIZES[0]),
    ]
    .iter()
    .any(|&(b, size)| {
        let bs = block_size(class_of(size));
        size <= SMALL_MAX && ptr.wrapping_sub(b) as isize % bs as isize == 0
    })
}

/// Decodes a probe from `bytes`, runs it in a child process, and panics
/// unless the child gave a correct result or the documented abort: one
/// line on stderr starting `memalloc: `. The fuzz target and the corpus
/// replay both call this. Returns how the child ended.
pub fn check_probe(bytes: &[u8]) -> Outcome {
    let probe = Probe::decode(bytes);
    let (outcome, ptr, bases) = probe_in_child(probe);
    let valid = bases[..4].contains(&ptr) || (ptr == 0 && !probe.usable);
    match &outcome {
        Outcome::Exited(0) => assert!(
            may_return(&probe, ptr, &bases),
            "{probe:?}: pointer {ptr:#x} accepted silently"
        ),
        Outcome::Exited(code) => panic!("{probe:?}: the child's check failed ({code})"),
        Outcome::Aborted(text) => {
            assert!(
                !valid,
                "{probe:?}: a valid pointer {ptr:#x} aborted: {text:?}"
            );
            assert!(
                text.starts_with("memalloc: ") && text.ends_with('\n') && text.lines().count() == 1,
                "{probe:?}: aborted without the documented message: {text:?}"
            );
        }
        Outcome::Killed(sig) => {
            panic!("{probe:?}: pointer {ptr:#x} crashed the child (signal {sig})")
        }
    }
    outcome
}

/// Runs `probe` in a child process; returns how it ended, the pointer
/// it used and the child's block bases.
pub fn probe_in_child(probe: Probe) -> (Outcome, usize, [usize; 6]) {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a valid out-array of two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // The bases are chosen in the child; it sends them on the pipe first.
    // SAFETY: fork has no preconditions; the child only calls
    // async-signal-safe functions and memalloc (which forks cleanly).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: in the child: default signal dispositions (a fuzzer's
        // handlers would turn an abort into its own report), stderr to
        // the pipe, then run.
        unsafe {
            for sig in [libc::SIGABRT, libc::SIGSEGV, libc::SIGBUS, libc::SIGILL] {
                libc::signal(sig, libc::SIG_DFL);
            }
            libc::close(fds[0]);
            libc::dup2(fds[1], 2);
            libc::_exit(child(probe, fds[1]));
        }
    }
    // SAFETY: closing our copy of the write end.
    unsafe { libc::close(fds[1]) };
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        // SAFETY: `buf` is a valid writable buffer.
        let n = unsafe { libc::read(fds[0], buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    // SAFETY: our read end.
    unsafe { libc::close(fds[0]) };
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` a valid out-pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    // The first 48 bytes are the six bases, then stderr text.
    let mut bases = [0usize; 6];
    for (i, b) in bases.iter_mut().enumerate() {
        if let Some(c) = out.get(i * 8..i * 8 + 8) {
            *b = usize::from_le_bytes(c.try_into().unwrap_or([0; 8]));
        }
    }
    let ptr = bases[probe.base].wrapping_add_signed(probe.offset);
    let text = String::from_utf8_lossy(out.get(48..).unwrap_or(&[])).into_owned();
    let outcome = if libc::WIFEXITED(status) {
        Outcome::Exited(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGABRT {
        Outcome::Aborted(text)
    } else {
        Outcome::Killed(libc::WTERMSIG(status))
    };
    (outcome, ptr, bases)
}

/// The child's work; returns its exit code.
fn child(probe: Probe, out: i32) -> i32 {
    let heap = Caches::new(1, None);
    let mut bases = [0usize; 6];
    for (i, &size) in SIZES.iter().enumerate() {
        bases[i] = heap.malloc(0, size) as usize;
    }
    let freed = heap.malloc(0, SIZES[0]);
    bases[4] = freed as usize;
    // SAFETY: a live block of this heap, freed once.
    unsafe { heap.free(0, freed) };
    let mut words = [0u8; 48];
    for (i, b) in bases.iter().enumerate() {
        words[i * 8..i * 8 + 8].copy_from_slice(&b.to_le_bytes());
    }
    // SAFETY: a valid buffer; the pipe is ours.
    unsafe { libc::write(out, words.as_ptr().cast(), words.len()) };
    let ptr = bases[probe.base].wrapping_add_signed(probe.offset) as *mut u8;
    if probe.usable {
        // SAFETY: not necessarily: this is the probe. memalloc must abort
        // with its message or answer; a crash is the failure looked for.
        let n = unsafe { heap.usable_size(ptr) };
        let i = bases[..4].iter().position(|&b| b == ptr as usize);
        if i.is_some_and(|i| n < SIZES[i]) {
            return 2;
        }
    } else {
        // SAFETY: as above.
        unsafe { heap.free(0, ptr) };
        // A pointer memalloc accepted that was not a live block's start is
        // one of the documented undetected cases; the heap is then not
        // checked (it may hold a block twice).
        if !bases[..4].contains(&(ptr as usize)) && !ptr.is_null() {
            return 0;
        }
    }
    match heap.check() {
        Ok(()) => 0,
        Err(_) => 1,
    }
}
