//! Runtime options: the `MEMALLOC_*` environment variables and the
//! [`Options`] API, merged into the settings every heap reads on its slow
//! paths.
//!
//! ```text
//!   environment (read once: library constructor at load, or first use)
//!        │  MEMALLOC_PURGE_DELAY_MS, MEMALLOC_DIRTY_MIN_BYTES, ...
//!        ▼
//!   ENV layer ──┐
//!               ├──▶ setting = ENV if set, else CODE if set, else default
//!   CODE layer ─┘          │
//!        ▲                 ├─▶ central/purge.rs: purge delay, dirty bound
//!        │                 ├─▶ os.rs: one stderr line per map/unmap/purge (verbose)
//!   Options::apply()       ├─▶ purger.rs: tick period
//!   (before the first      └─▶ atexit: print_stats (show_stats)
//!    return of memory
//!    to the OS)
//! ```
//!
//! Precedence: **the environment wins over code.** Code sets a program's
//! own defaults; the environment belongs to whoever runs the program, who
//! must be able to diagnose (`MEMALLOC_SHOW_STATS=1`, `MEMALLOC_VERBOSE=1`)
//! or tune a deployed binary without rebuilding it. jemalloc orders its
//! compiled-in `malloc_conf` below `MALLOC_CONF` for the same reason.
//!
//! When: [`Options::apply`] is accepted until memalloc first gives memory
//! back to the OS (a purge, an unmap, a shrink). Until then nothing the
//! settings govern has happened yet, so a program that applies its options
//! at the top of `main` gets exactly what it asked for. (A rule of "before
//! the first allocation" could never be met from `main`: Rust's runtime
//! allocates a few small blocks before `main` on glibc.) After that,
//! `apply` returns [`OptionsError::TooLate`] and changes nothing, so no
//! heap sees its policy change half-way.
//!
//! Everything here may run inside `malloc`: no allocation, no lock, no
//! thread. The environment is read with `getenv`, which takes no lock and
//! allocates nothing in glibc or musl, and warnings are written with one
//! `write(2)` each. The settings are plain atomics. The only things that
//! register an `atexit` handler or start a thread are the library's
//! load-time constructor (`at_load`) and the program's own `apply` call.

use crate::central::{DIRTY_FRACTION, DIRTY_MIN_BYTES, PURGE_DELAY_MS};
use crate::stats::StackWriter;
use crate::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use core::fmt::{self, Write};

mod parse;
pub(crate) use parse::{Parsed, from_lookup};

/// The longest purge delay accepted: one day.
pub const MAX_PURGE_DELAY_MS: u64 = 24 * 60 * 60 * 1000;

/// The settings in effect, as [`Options::current`] reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// How long a free page run stays resident before its pages go back to
    /// the OS (`MEMALLOC_PURGE_DELAY_MS`; default
    /// [`limits::PURGE_DELAY_MS`](crate::limits::PURGE_DELAY_MS)).
    pub purge_delay_ms: u64,
    /// The floor of the dirty-page bound: free but resident bytes a heap
    /// may keep however small it is (`MEMALLOC_DIRTY_MIN_BYTES`; default
    /// [`limits::DIRTY_MIN_BYTES`](crate::limits::DIRTY_MIN_BYTES)).
    pub dirty_min_bytes: usize,
    /// `n` such that the dirty-page bound is at least 1/`n` of the heap's
    /// region bytes in use (`MEMALLOC_DIRTY_FRACTION=1/n`; default
    /// [`limits::DIRTY_FRACTION`](crate::limits::DIRTY_FRACTION)).
    pub dirty_fraction: usize,
    /// Whether the opt-in background purger is wanted
    /// (`MEMALLOC_BACKGROUND_PURGE`; default off).
    pub background_purge: bool,
    /// Whether the process-wide heap's report is printed to stderr at exit
    /// (`MEMALLOC_SHOW_STATS`; default off).
    pub show_stats: bool,
    /// Whether every map, unmap and purge prints one line to stderr
    /// (`MEMALLOC_VERBOSE`; default off).
    pub verbose: bool,
}

impl Settings {
    /// The compiled-in defaults.
    pub const DEFAULT: Settings = Settings {
        purge_delay_ms: PURGE_DELAY_MS,
        dirty_min_bytes: DIRTY_MIN_BYTES,
        dirty_fraction: DIRTY_FRACTION,
        background_purge: false,
        show_stats: false,
        verbose: false,
    };
}

impl Default for Settings {
    fn default() -> Self {
        Settings::DEFAULT
    }
}

impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on = |b: bool| if b { "on" } else { "off" };
        write!(
            f,
            "purge_delay_ms={} dirty_min_bytes={} dirty_fraction=1/{} background_purge={} show_stats={} verbose={}",
            self.purge_delay_ms,
            self.dirty_min_bytes,
            self.dirty_fraction,
            on(self.background_purge),
            on(self.show_stats),
            on(self.verbose)
        )
    }
}

/// Why [`Options::apply`] did not apply the options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionsError {
    /// memalloc has already given memory back to the OS under the settings
    /// in force; they stay as they are. Apply options at the start of
    /// `main`, before the program frees memory in earnest.
    TooLate,
    /// A value is out of range (the name of the setting): a purge delay
    /// over [`MAX_PURGE_DELAY_MS`], a dirty fraction of 1/0, or a dirty
    /// floor over `isize::MAX`. Nothing was applied.
    Invalid(&'static str),
    /// Everything was applied, but the background purger was asked for and
    /// could not be started (thread creation failed, or the platform has
    /// none).
    PurgerNotStarted,
}

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionsError::TooLate => write!(
                f,
                "memalloc options applied after memory went back to the OS; nothing changed"
            ),
            OptionsError::Invalid(what) => write!(f, "memalloc option {what} is out of range"),
            OptionsError::PurgerNotStarted => {
                write!(f, "the memalloc background purger could not be started")
            }
        }
    }
}

impl std::error::Error for OptionsError {}

/// Settings for every heap of the process, from code. Unset fields keep
/// their value (the environment's, or the default):
///
/// ```
/// let r = memalloc::Options::new()
///     .purge_delay_ms(250)
///     .dirty_min_bytes(16 << 20)
///     .show_stats(true)
///     .apply();
/// // In a doctest the test harness may already have released memory.
/// assert!(r.is_ok() || r == Err(memalloc::OptionsError::TooLate));
/// ```
///
/// An environment variable that is set wins over the same setting here
/// (see the [module docs](crate::options)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    purge_delay_ms: Option<u64>,
    dirty_min_bytes: Option<usize>,
    dirty_fraction: Option<usize>,
    background_purge: Option<bool>,
    show_stats: Option<bool>,
    verbose: Option<bool>,
}

impl Options {
    /// No setting changed.
    pub const fn new() -> Self {
        Options {
            purge_delay_ms: None,
            dirty_min_bytes: None,
            dirty_fraction: None,
            background_purge: None,
            show_stats: None,
            verbose: None,
        }
    }

    /// How long a free page run stays resident before it is purged (at
    /// most [`MAX_PURGE_DELAY_MS`]). Shorter returns idle memory sooner;
    /// longer keeps pages that the program reuses from being faulted in
    /// again.
    pub const fn purge_delay_ms(mut self, ms: u64) -> Self {
        self.purge_delay_ms = Some(ms);
        self
    }

    /// The floor of the dirty-page bound, in bytes.
    pub const fn dirty_min_bytes(mut self, bytes: usize) -> Self {
        self.dirty_min_bytes = Some(bytes);
        self
    }

    /// The dirty-page bound's share of the region bytes in use, as the
    /// denominator `n` of 1/`n` (at least 1).
    pub const fn dirty_fraction(mut self, n: usize) -> Self {
        self.dirty_fraction = Some(n);
        self
    }

    /// Starts the background purger when applied (`true`; a purger already
    /// running is never stopped).
    pub const fn background_purge(mut self, on: bool) -> Self {
        self.background_purge = Some(on);
        self
    }

    /// Prints the process-wide heap's report (`print_stats`) to stderr
    /// when the process exits through `exit` or by returning from `main`.
    pub const fn show_stats(mut self, on: bool) -> Self {
        self.show_stats = Some(on);
        self
    }

    /// Prints one line to stderr for every mapping made or released and
    /// every purge (from then on).
    pub const fn verbose(mut self, on: bool) -> Self {
        self.verbose = Some(on);
        self
    }

    /// Applies the options to every heap of the process (the process-wide
    /// heap and every `Heap` instance, existing or future), under the
    /// environment's precedence. May be called more than once; each call
    /// sets the fields it names. Registers the exit report if `show_stats`
    /// is then on, and starts the purger if `background_purge` is (from
    /// here, the program's own call: never from inside `malloc`).
    ///
    /// Errors: [`OptionsError::TooLate`] once memalloc has given memory
    /// back to the OS, and [`OptionsError::Invalid`] for an out-of-range
    /// value: in both cases nothing changes.
    /// [`OptionsError::PurgerNotStarted`] if everything was applied but the
    /// requested purger thread could not be started.
    pub fn apply(self) -> Result<(), OptionsError> {
        if matches!(self.purge_delay_ms, Some(ms) if ms > MAX_PURGE_DELAY_MS) {
            return Err(OptionsError::Invalid("purge_delay_ms"));
        }
        if self.dirty_fraction == Some(0) {
            return Err(OptionsError::Invalid("dirty_fraction"));
        }
        if matches!(self.dirty_min_bytes, Some(b) if b > isize::MAX as usize) {
            return Err(OptionsError::Invalid("dirty_min_bytes"));
        }
        ensure_env();
        if RELEASED.load(Ordering::Acquire) {
            return Err(OptionsError::TooLate);
        }
        CODE.store(&Parsed {
            purge_delay_ms: self.purge_delay_ms,
            dirty_min_bytes: self.dirty_min_bytes,
            dirty_fraction: self.dirty_fraction,
            background_purge: self.background_purge,
            show_stats: self.show_stats,
            verbose: self.verbose,
        });
        let now = current();
        if now.verbose {
            log_settings("options applied");
        }
        if now.show_stats {
            register_stats_at_exit();
        }
        // Wanted by the code or the environment: where no load-time
        // constructor started it (macOS), this call is the place.
        if now.background_purge && !start_purger() {
            return Err(OptionsError::PurgerNotStarted);
        }
        Ok(())
    }

    /// The settings in effect now.
    pub fn current() -> Settings {
        current()
    }
}

// ---------------------------------------------------------------------------
// The layers
// ---------------------------------------------------------------------------

const PURGE: u8 = 1;
const DIRTY_MIN: u8 = 2;
const FRACTION: u8 = 4;
const BACKGROUND: u8 = 8;
const SHOW: u8 = 16;
const VERBOSE: u8 = 32;

/// One source of settings. Invariant: a field's value is meaningful iff its
/// bit is in `set`; a value is stored before its bit is published.
struct Layer {
    set: AtomicU8,
    purge_delay_ms: AtomicU64,
    dirty_min_bytes: AtomicUsize,
    dirty_fraction: AtomicUsize,
    /// The boolean settings, one bit each (same bits as `set`).
    flags: AtomicU8,
}

impl Layer {
    const fn new() -> Self {
        Layer {
            set: AtomicU8::new(0),
            purge_delay_ms: AtomicU64::new(0),
            dirty_min_bytes: AtomicUsize::new(0),
            dirty_fraction: AtomicUsize::new(0),
            flags: AtomicU8::new(0),
        }
    }

    fn store(&self, p: &Parsed) {
        let mut set = 0;
        if let Some(v) = p.purge_delay_ms {
            self.purge_delay_ms.store(v, Ordering::Relaxed);
            set |= PURGE;
        }
        if let Some(v) = p.dirty_min_bytes {
            self.dirty_min_bytes.store(v, Ordering::Relaxed);
            set |= DIRTY_MIN;
        }
        if let Some(v) = p.dirty_fraction {
            self.dirty_fraction.store(v, Ordering::Relaxed);
            set |= FRACTION;
        }
        for (bit, v) in [
            (BACKGROUND, p.background_purge),
            (SHOW, p.show_stats),
            (VERBOSE, p.verbose),
        ] {
            if let Some(on) = v {
                if on {
                    self.flags.fetch_or(bit, Ordering::Relaxed);
                } else {
                    self.flags.fetch_and(!bit, Ordering::Relaxed);
                }
                set |= bit;
            }
        }
        self.set.fetch_or(set, Ordering::Release);
    }
}

static ENV: Layer = Layer::new();
static CODE: Layer = Layer::new();

/// The environment layer's lifecycle.
const UNREAD: u8 = 0;
const READING: u8 = 1;
const READ: u8 = 2;
static ENV_STATE: AtomicU8 = AtomicU8::new(UNREAD);

/// Set once memalloc has given memory back to the OS; `apply` is refused
/// from then on.
static RELEASED: AtomicBool = AtomicBool::new(false);

/// The setting `bit`: the environment's if it set one, else the code's,
/// else `default`.
#[inline]
fn pick<T>(bit: u8, get: impl Fn(&Layer) -> T, default: T) -> T {
    ensure_env();
    if ENV.set.load(Ordering::Acquire) & bit != 0 {
        get(&ENV)
    } else if CODE.set.load(Ordering::Acquire) & bit != 0 {
        get(&CODE)
    } else {
        default
    }
}

fn flag(bit: u8) -> bool {
    pick(bit, |l| l.flags.load(Ordering::Relaxed) & bit != 0, false)
}

/// The purge delay in effect (milliseconds).
#[inline]
pub(crate) fn purge_delay_ms() -> u64 {
    pick(
        PURGE,
        |l| l.purge_delay_ms.load(Ordering::Relaxed),
        PURGE_DELAY_MS,
    )
}

/// The dirty-page bound's floor in effect (bytes).
#[inline]
pub(crate) fn dirty_min_bytes() -> usize {
    pick(
        DIRTY_MIN,
        |l| l.dirty_min_bytes.load(Ordering::Relaxed),
        DIRTY_MIN_BYTES,
    )
}

/// The dirty-page bound's share of mapped bytes in effect (1/n; n ≥ 1).
#[inline]
pub(crate) fn dirty_fraction() -> usize {
    pick(
        FRACTION,
        |l| l.dirty_fraction.load(Ordering::Relaxed),
        DIRTY_FRACTION,
    )
}

/// Whether the verbose lines are on.
#[inline]
pub(crate) fn verbose() -> bool {
    flag(VERBOSE)
}

/// Whether the environment says `MEMALLOC_BACKGROUND_PURGE=0`: an
/// operator's "no purger thread", which a program's own
/// `start_background_purger()` call respects too.
#[cfg(unix)]
pub(crate) fn background_purge_forbidden() -> bool {
    ensure_env();
    ENV.set.load(Ordering::Acquire) & BACKGROUND != 0
        && ENV.flags.load(Ordering::Relaxed) & BACKGROUND == 0
}

fn current() -> Settings {
    Settings {
        purge_delay_ms: purge_delay_ms(),
        dirty_min_bytes: dirty_min_bytes(),
        dirty_fraction: dirty_fraction(),
        background_purge: flag(BACKGROUND),
        show_stats: flag(SHOW),
        verbose: flag(VERBOSE),
    }
}

/// Reads the environment if nobody has yet. A caller that finds another
/// thread reading it at that moment goes on with the code's settings and
/// the defaults for this one call rather than wait (it may be inside
/// `malloc`, or a signal handler interrupting the reader).
#[inline]
fn ensure_env() {
    if ENV_STATE.load(Ordering::Acquire) != READ {
        read_env();
    }
}

#[cold]
#[inline(never)]
fn read_env() {
    if ENV_STATE
        .compare_exchange(UNREAD, READING, Ordering::Acquire, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    let parsed = from_lookup(getenv, &mut |line: &[u8]| crate::os::write_stderr(line));
    ENV.store(&parsed);
    ENV_STATE.store(READ, Ordering::Release);
    if parsed.verbose == Some(true) {
        log_settings("options");
    }
}

/// The value of the environment variable `name` (NUL-terminated), if set.
#[cfg(unix)]
fn getenv(name: &core::ffi::CStr) -> Option<&'static [u8]> {
    // SAFETY: a NUL-terminated name; getenv neither allocates nor takes a
    // lock in glibc or musl.
    let v = unsafe { libc::getenv(name.as_ptr()) };
    if v.is_null() {
        return None;
    }
    // SAFETY: a non-null getenv result is a NUL-terminated string in the
    // environment block. It is read at once, before the program could
    // change the variable (the read happens at load, or at first use).
    Some(unsafe { core::ffi::CStr::from_ptr(v) }.to_bytes())
}

/// Elsewhere the environment is not read (reading it on Windows takes the
/// process environment lock); [`Options`] still works.
#[cfg(not(unix))]
fn getenv(_name: &core::ffi::CStr) -> Option<&'static [u8]> {
    None
}

/// One line on stderr with the settings in effect.
fn log_settings(what: &str) {
    let mut w = StackWriter::<256>::new();
    let _ = writeln!(w, "memalloc: {what}: {}", current());
    crate::os::write_stderr(w.as_bytes());
}

// ---------------------------------------------------------------------------
// Hooks for the OS layer, the library constructor and apply
// ---------------------------------------------------------------------------

/// What the OS layer did, for [`os_event`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum OsEvent {
    Map,
    Unmap,
    Purge,
    Remap,
    Shrink,
}

/// Called by `os` after each mapping change: records the first return of
/// memory to the OS (after which `apply` is refused) and, when verbose,
/// prints one line. Never allocates.
pub(crate) fn os_event(ev: OsEvent, addr: usize, len: usize) {
    if matches!(ev, OsEvent::Unmap | OsEvent::Purge | OsEvent::Shrink)
        && !RELEASED.load(Ordering::Relaxed)
    {
        RELEASED.store(true, Ordering::Release);
    }
    if !verbose() {
        return;
    }
    let what = match ev {
        OsEvent::Map => "map",
        OsEvent::Unmap => "unmap",
        OsEvent::Purge => "purge",
        OsEvent::Remap => "remap to",
        OsEvent::Shrink => "shrink to",
    };
    let mut w = StackWriter::<128>::new();
    let _ = writeln!(w, "memalloc: {what} {addr:#x} {len} B");
    crate::os::write_stderr(w.as_bytes());
}

static STATS_AT_EXIT: AtomicBool = AtomicBool::new(false);

/// Registers the exit report once. Only from the load-time constructor or
/// a program's `apply` call, never from inside `malloc` (`atexit` takes
/// libc's exit-handler lock and may allocate).
fn register_stats_at_exit() {
    #[cfg(unix)]
    if !STATS_AT_EXIT.swap(true, Ordering::AcqRel) {
        // SAFETY: an `extern "C"` function with no arguments that lives as
        // long as the process (the shared library is never unloaded once
        // loaded: see `ffi::pin_shared_library`).
        unsafe { libc::atexit(print_stats_at_exit) };
    }
    #[cfg(not(unix))]
    let _ = &STATS_AT_EXIT;
}

/// The exit report: printed if `show_stats` is on when the process exits.
#[cfg(unix)]
extern "C" fn print_stats_at_exit() {
    if flag(SHOW) {
        crate::global::print_stats();
    }
}

fn start_purger() -> bool {
    #[cfg(unix)]
    return crate::purger::start();
    #[cfg(not(unix))]
    false
}

/// Run by the library's load-time constructor, before `main` and outside
/// any `malloc`: reads the environment, registers the exit report if
/// `MEMALLOC_SHOW_STATS` asks for it, and starts the background purger if
/// `MEMALLOC_BACKGROUND_PURGE` does (DESIGN.md promise 8: a thread only on
/// the program's request, never from inside `malloc`/`free`).
#[cfg(all(unix, not(target_vendor = "apple")))]
pub(crate) fn at_load() {
    ensure_env();
    if flag(SHOW) {
        register_stats_at_exit();
    }
    if flag(BACKGROUND) {
        start_purger();
    }
}
