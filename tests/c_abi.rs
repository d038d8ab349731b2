//! The C ABI, tested from C: the programs in `tests/c/` are compiled with
//! the system `cc` and linked against `libmemalloc.a` and `libmemalloc.so`
//! (plain and `override` builds), or run with the override library in
//! `LD_PRELOAD`. Each program checks its own results and prints `ok <n>`.
//!
//! glibc only: these link against the host's libraries and `libmemalloc.so`
//! (Rust builds no `cdylib` for musl), run under `LD_PRELOAD`, and check
//! glibc's own heap functions (`mallinfo2`, `malloc_trim`, ...). The same C
//! programs run as static musl executables in `tests/c_musl.rs`.
// Not built under `--cfg loom`: that run is for the loom models, and these
// tests (real threads and programs) already run in plain `cargo test`.
#![cfg(all(target_os = "linux", target_env = "gnu", not(loom)))]

#[path = "c/support.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use support::{Flavour, Link, compile, run_ok, shared_lib, static_lib, work_dir};

const LIMIT: Duration = Duration::from_secs(120);

/// The libc allocation functions `override` replaces, and glibc's functions
/// that inspect and tune the heap.
const LIBC_NAMES: &[&str] = &[
    "malloc",
    "free",
    "calloc",
    "realloc",
    "reallocarray",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "malloc_usable_size",
    "malloc_trim",
    "mallinfo",
    "mallinfo2",
    "malloc_stats",
    "mallopt",
];

const MA_NAMES: &[&str] = &[
    "ma_malloc",
    "ma_calloc",
    "ma_realloc",
    "ma_free",
    "ma_usable_size",
    "ma_aligned_alloc",
    "ma_posix_memalign",
    "ma_stats",
    "ma_print_stats",
];

/// Compiles `source` into the scratch directory as `name`.
fn build(name: &str, source: &str, link: Link, defines: &[&str]) -> PathBuf {
    let exe = work_dir("c_abi").join(name);
    compile(&[source], &exe, link, defines);
    exe
}

/// How long a program that should finish in about a second may take before
/// it counts as deadlocked (and is killed).
const HANG_LIMIT: Duration = Duration::from_secs(60);

/// Runs a test program and checks that it reported success.
fn expect_ok(cmd: &mut Command) -> String {
    expect_ok_within(cmd, LIMIT)
}

/// [`expect_ok`] with a time limit of its own.
fn expect_ok_within(cmd: &mut Command, limit: Duration) -> String {
    let out = run_ok(cmd, limit);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.lines().any(|l| l.starts_with("ok ")),
        "no ok line in:\n{stdout}"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn preloaded(exe: &PathBuf) -> Command {
    let mut cmd = Command::new(exe);
    cmd.env("LD_PRELOAD", shared_lib(Flavour::Override));
    cmd
}

/// Global symbols a file defines, from `nm`.
fn defined_symbols(args: &[&str], file: &PathBuf) -> BTreeSet<String> {
    let out = Command::new("nm")
        .args(args)
        .arg(file)
        .output()
        .expect("run nm");
    assert!(
        out.status.success(),
        "nm failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().rev();
            let name = f.next()?;
            let kind = f.next()?;
            // Defined, global: text, data, read-only data, bss, weak.
            "TDRBWV"
                .contains(kind)
                .then(|| name.split('@').next().unwrap().to_string())
        })
        .collect()
}

#[test]
fn plain_shared_library_exports_exactly_the_ma_functions() {
    let syms = defined_symbols(&["-D", "--defined-only"], &shared_lib(Flavour::Plain));
    let want: BTreeSet<String> = MA_NAMES.iter().map(|s| s.to_string()).collect();
    assert_eq!(syms, want);
}

#[test]
fn plain_static_library_defines_no_libc_allocation_function() {
    let syms = defined_symbols(&["-g", "--defined-only"], &static_lib(Flavour::Plain));
    for name in MA_NAMES {
        assert!(syms.contains(*name), "{name} missing from libmemalloc.a");
    }
    for name in LIBC_NAMES {
        assert!(!syms.contains(*name), "plain libmemalloc.a defines {name}");
    }
}

#[test]
fn override_shared_library_exports_the_malloc_family() {
    let syms = defined_symbols(&["-D", "--defined-only"], &shared_lib(Flavour::Override));
    let want: BTreeSet<String> = LIBC_NAMES
        .iter()
        .chain(MA_NAMES)
        .map(|s| s.to_string())
        .collect();
    assert_eq!(syms, want);
}

#[test]
fn ma_functions_follow_the_documented_semantics_when_linked_statically() {
    let exe = build(
        "api_static",
        "tests/c/api.c",
        Link::Static(Flavour::Plain),
        &[],
    );
    let stderr = expect_ok(&mut Command::new(exe));
    assert!(
        stderr.contains("memalloc: process-wide heap"),
        "no stats report in:\n{stderr}"
    );
}

#[test]
fn ma_functions_follow_the_documented_semantics_when_linked_shared() {
    let exe = build(
        "api_shared",
        "tests/c/api.c",
        Link::Shared(Flavour::Plain),
        &[],
    );
    let stderr = expect_ok(&mut Command::new(exe));
    assert!(
        stderr.contains("memalloc: process-wide heap"),
        "no stats report in:\n{stderr}"
    );
}

#[test]
fn libc_names_follow_glibc_semantics_under_ld_preload() {
    let exe = build(
        "api_preload",
        "tests/c/api.c",
        Link::None,
        &["USE_LIBC", "NO_MA_LINK"],
    );
    expect_ok(&mut preloaded(&exe));
}

#[test]
fn libc_names_follow_glibc_semantics_with_the_override_library_linked_shared() {
    let exe = build(
        "api_override_shared",
        "tests/c/api.c",
        Link::Shared(Flavour::Override),
        &["USE_LIBC"],
    );
    expect_ok(&mut Command::new(exe));
}

#[test]
fn libc_names_follow_glibc_semantics_with_the_override_library_linked_statically() {
    let exe = build(
        "api_override_static",
        "tests/c/api.c",
        Link::Static(Flavour::Override),
        &["USE_LIBC"],
    );
    expect_ok(&mut Command::new(exe));
}

#[test]
fn glibc_heap_inspection_functions_report_and_trim_memallocs_heap_under_ld_preload() {
    let exe = build("mallinfo_preload", "tests/c/mallinfo.c", Link::None, &[]);
    // M_TRIM_THRESHOLD sets the dirty-page floor, which verbose mode
    // reports; an environment setting of it wins over mallopt.
    let stderr = expect_ok(
        preloaded(&exe)
            .env("EXPECT_TRIM_OPTION", "1")
            .env("MEMALLOC_VERBOSE", "1"),
    );
    assert!(
        stderr.contains("options applied") && stderr.contains("dirty_min_bytes=8388608"),
        "mallopt(M_TRIM_THRESHOLD) did not reach the dirty-page floor:\n{stderr}"
    );
    expect_ok(
        preloaded(&exe)
            .env("EXPECT_TRIM_OPTION", "0")
            .env("MEMALLOC_DIRTY_MIN_BYTES", "1048576"),
    );
    let stderr = expect_ok(preloaded(&exe).env("EXPECT_TRIM_OPTION", "1"));
    assert!(
        stderr.contains("memalloc: process-wide heap") && stderr.contains("  in use "),
        "malloc_stats did not print memalloc's report:\n{stderr}"
    );
    // glibc's own report starts with this line.
    assert!(
        !stderr.contains("Arena 0:"),
        "malloc_stats printed glibc's report:\n{stderr}"
    );
}

#[test]
fn threads_free_each_others_blocks_with_the_static_library() {
    let exe = build(
        "threads_static",
        "tests/c/threads.c",
        Link::Static(Flavour::Plain),
        &[],
    );
    expect_ok(&mut Command::new(exe));
}

#[test]
fn threads_free_each_others_blocks_with_the_shared_library() {
    let exe = build(
        "threads_shared",
        "tests/c/threads.c",
        Link::Shared(Flavour::Plain),
        &[],
    );
    expect_ok(&mut Command::new(exe));
}

#[test]
fn threads_free_each_others_blocks_under_ld_preload() {
    let exe = build(
        "threads_preload",
        "tests/c/threads.c",
        Link::None,
        &["USE_LIBC", "NO_MA_LINK"],
    );
    expect_ok(&mut preloaded(&exe));
}

#[test]
fn fork_of_a_multithreaded_process_leaves_a_usable_heap_with_the_static_library() {
    let exe = build(
        "fork_static",
        "tests/c/fork.c",
        Link::Static(Flavour::Plain),
        &[],
    );
    expect_ok(&mut Command::new(exe));
}

#[test]
fn fork_of_a_multithreaded_process_leaves_a_usable_heap_with_the_shared_library() {
    let exe = build(
        "fork_shared",
        "tests/c/fork.c",
        Link::Shared(Flavour::Plain),
        &[],
    );
    expect_ok(&mut Command::new(exe));
}

#[test]
fn fork_of_a_multithreaded_process_leaves_a_usable_heap_under_ld_preload() {
    let exe = build(
        "fork_preload",
        "tests/c/fork.c",
        Link::None,
        &["USE_LIBC", "NO_MA_LINK"],
    );
    expect_ok(&mut preloaded(&exe));
}

#[test]
fn cxx_program_with_threads_and_exceptions_runs_under_ld_preload() {
    let exe = build("cxx_preload", "tests/c/cxx.cc", Link::None, &[]);
    expect_ok(&mut preloaded(&exe));
}

#[test]
fn threads_outliving_dlclose_of_the_library_exit_cleanly() {
    let exe = build("dlopen_plain", "tests/c/dlopen.c", Link::None, &[]);
    expect_ok(Command::new(exe).arg(shared_lib(Flavour::Plain)));
}

/// Whether a shared library's dynamic section sets `STATIC_TLS` (it uses
/// the initial-exec TLS model).
fn uses_static_tls(lib: &PathBuf) -> bool {
    let out = Command::new("readelf")
        .args(["-d"])
        .arg(lib)
        .output()
        .expect("run readelf");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).contains("STATIC_TLS")
}

#[test]
fn only_the_override_library_uses_initial_exec_tls_and_a_dlopen_of_it_fails_only_at_load() {
    // The plain library keeps the general-dynamic model, so dlopen of it
    // never depends on glibc's static TLS reserve (the dlopen tests above
    // use it). The override library, meant for LD_PRELOAD, reads its
    // thread word with initial-exec: its whole TLS segment (about 2 KiB,
    // the thread cache) then lives in static TLS, which a late dlopen gets
    // only from glibc's reserve. With a reserve that has room, it loads
    // and works; with the default one, dlopen may refuse it, cleanly.
    assert!(!uses_static_tls(&shared_lib(Flavour::Plain)));
    assert!(uses_static_tls(&shared_lib(Flavour::Override)));
    let exe = build("dlopen_override", "tests/c/dlopen.c", Link::None, &[]);
    expect_ok(
        Command::new(&exe)
            .arg(shared_lib(Flavour::Override))
            .env("GLIBC_TUNABLES", "glibc.rtld.optional_static_tls=16384"),
    );
    let out = Command::new(&exe)
        .arg(shared_lib(Flavour::Override))
        .output()
        .expect("run dlopen_override");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        (out.status.success() && stdout.lines().any(|l| l.starts_with("ok ")))
            || (out.status.code() == Some(1) && stderr.contains("static TLS")),
        "dlopen of the override library neither worked nor failed at load:\n{stdout}\n{stderr}"
    );
}

#[test]
fn dlopen_and_dlclose_work_under_ld_preload() {
    let exe = build("dlopen_preload", "tests/c/dlopen.c", Link::None, &[]);
    expect_ok(preloaded(&exe).arg("-"));
}

#[test]
fn hello_example_runs_against_both_libraries() {
    for (name, link) in [
        ("hello_static", Link::Static(Flavour::Plain)),
        ("hello_shared", Link::Shared(Flavour::Plain)),
    ] {
        let exe = build(name, "examples/c/hello.c", link, &[]);
        let out = run_ok(&mut Command::new(exe), LIMIT);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("hello from memalloc"),
            "{name}: unexpected output:\n{stdout}"
        );
    }
}

#[test]
fn bad_frees_abort_with_a_message_under_ld_preload() {
    let exe = build("bad_free", "tests/c/bad_free.c", Link::None, &[]);
    for (mode, message) in [
        ("interior", "not the start of a block"),
        ("interior16", "not the start of a block"),
        ("stack", "not allocated by memalloc"),
        ("foreign", "not allocated by memalloc"),
        ("double-large", "double free of a large block"),
    ] {
        let mut cmd = preloaded(&exe);
        let out = cmd.arg(mode).output().expect("run bad_free");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && !stdout.contains("accepted"),
            "{mode}: the bad free was accepted (status {:?})",
            out.status
        );
        assert!(
            stderr.contains("memalloc") && stderr.contains(message),
            "{mode}: expected a message containing {message:?}, got:\n{stderr}"
        );
    }
}

#[test]
fn threads_joined_in_waves_do_not_deadlock_under_ld_preload() {
    let exe = build("join_waves", "tests/c/join_waves.c", Link::None, &[]);
    expect_ok_within(&mut preloaded(&exe), HANG_LIMIT);
}

#[test]
fn single_threaded_program_stays_single_threaded_and_can_unshare_under_ld_preload() {
    let exe = build("single_thread", "tests/c/single_thread.c", Link::None, &[]);
    // Whether this kernel / sandbox lets a process unshare at all.
    let plain = run_ok(Command::new(&exe).env_remove("LD_PRELOAD"), LIMIT);
    let plain = String::from_utf8_lossy(&plain.stdout).into_owned();
    assert!(
        plain.contains("threads 1"),
        "not single-threaded even without memalloc:\n{plain}"
    );
    let mut cmd = preloaded(&exe);
    if plain.contains("unshare ok") {
        cmd.arg("require-unshare");
    } else {
        let why = plain.lines().find(|l| l.contains("unshare")).unwrap_or("");
        eprintln!(
            "unshare is not allowed here even without memalloc ({why}); checking the thread count only"
        );
    }
    let out = run_ok(&mut cmd, HANG_LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("threads 1") && stdout.lines().any(|l| l.starts_with("ok ")),
        "unexpected output:\n{stdout}"
    );
}

/// The threads program under `LD_PRELOAD` with `env` set; returns stderr.
fn threads_preloaded_with(env: &[(&str, &str)]) -> String {
    // Built once: the tests that share it run in parallel.
    static EXE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let exe = EXE.get_or_init(|| {
        build(
            "threads_preload_options",
            "tests/c/threads.c",
            Link::None,
            &["USE_LIBC", "NO_MA_LINK"],
        )
    });
    expect_ok(preloaded(exe).envs(env.iter().copied()))
}

#[test]
fn show_stats_env_prints_memallocs_report_at_exit_under_ld_preload() {
    let stderr = threads_preloaded_with(&[("MEMALLOC_SHOW_STATS", "1")]);
    assert!(
        stderr.contains("memalloc: process-wide heap") && stderr.contains("  maps "),
        "no report at exit:\n{stderr}"
    );
    let quiet = threads_preloaded_with(&[]);
    assert!(!quiet.contains("memalloc:"), "silent by default:\n{quiet}");
}

#[test]
fn show_stats_env_prints_the_report_at_exit_with_the_static_library() {
    let exe = build(
        "threads_static_options",
        "tests/c/threads.c",
        Link::Static(Flavour::Plain),
        &[],
    );
    let stderr = expect_ok(Command::new(exe).env("MEMALLOC_SHOW_STATS", "1"));
    assert!(
        stderr.contains("memalloc: process-wide heap"),
        "no report at exit:\n{stderr}"
    );
}

#[test]
fn verbose_env_logs_each_mapping_under_ld_preload() {
    let stderr = threads_preloaded_with(&[("MEMALLOC_VERBOSE", "1")]);
    assert!(
        stderr.contains("memalloc: options: ") && stderr.contains("memalloc: map 0x"),
        "no verbose lines:\n{stderr}"
    );
}

#[test]
fn bad_option_values_warn_once_and_the_program_runs_under_ld_preload() {
    let stderr = threads_preloaded_with(&[
        ("MEMALLOC_PURGE_DELAY_MS", "later"),
        ("MEMALLOC_DIRTY_FRACTION", "8"),
    ]);
    for name in ["MEMALLOC_PURGE_DELAY_MS", "MEMALLOC_DIRTY_FRACTION"] {
        assert_eq!(
            stderr
                .matches(&format!("memalloc: ignoring {name}="))
                .count(),
            1,
            "one warning for {name}:\n{stderr}"
        );
    }
}
