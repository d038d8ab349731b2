//! The C ABI on musl: the C programs of `tests/c/` built as static musl
//! executables with `musl-gcc` (Debian's `musl-tools`) against the
//! `libmemalloc.a` of the `x86_64-unknown-linux-musl` target, plain and
//! `override` (which replaces musl's own `malloc` in the executable).
//!
//! Runs under `cargo test --target x86_64-unknown-linux-musl`. The glibc
//! builds of the same programs, the shared library and `LD_PRELOAD` are
//! `tests/c_abi.rs`: Rust builds no `cdylib` for musl, and a static
//! executable has no dynamic loader to preload into.
#![cfg(all(target_os = "linux", target_env = "musl"))]

#[path = "c/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::{C_FLAGS, Flavour, MUSL_TARGET, lib_dir_for, manifest_dir, run_ok, work_dir};

const LIMIT: Duration = Duration::from_secs(120);

/// The unwinder Rust's musl target ships (`self-contained/libunwind.a`):
/// the staticlib needs `_Unwind_*`, and the host gcc's `libgcc_eh` is
/// built for glibc.
fn rust_musl_unwinder() -> PathBuf {
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .expect("run rustc --print sysroot");
    let sysroot = String::from_utf8(out.stdout).unwrap();
    let lib = Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(MUSL_TARGET)
        .join("lib/self-contained/libunwind.a");
    assert!(lib.is_file(), "{} is missing", lib.display());
    lib
}

/// Compiles `source` with `musl-gcc -static` against the musl
/// `libmemalloc.a` of `flavour`.
fn build(name: &str, source: &str, flavour: Flavour, defines: &[&str]) -> PathBuf {
    let root = manifest_dir();
    let exe = work_dir("c_musl").join(name);
    let lib = lib_dir_for(flavour, Some(MUSL_TARGET)).join("libmemalloc.a");
    let libgcc = Command::new("musl-gcc")
        .arg("-print-libgcc-file-name")
        .output()
        .expect("musl-gcc is not installed (apt-get install musl-tools)");
    let libgcc = String::from_utf8(libgcc.stdout).unwrap();
    let mut cmd = Command::new("musl-gcc");
    cmd.arg("-std=c11")
        .args(C_FLAGS)
        .arg("-static")
        .arg("-I")
        .arg(root.join("include"));
    for d in defines {
        cmd.arg(format!("-D{d}"));
    }
    // No default libraries: they would bring the host's glibc-built
    // libgcc_eh; libc is musl's, the unwinder Rust's, libgcc the compiler's.
    cmd.arg(root.join(source))
        .arg(&lib)
        .arg(rust_musl_unwinder())
        .args(["-nodefaultlibs", "-lc", libgcc.trim()])
        .arg("-o")
        .arg(&exe);
    let out = cmd.output().expect("run musl-gcc");
    assert!(
        out.status.success(),
        "musl-gcc failed for {source}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// Runs `exe` and checks it printed its `ok` line; returns stderr.
fn expect_ok(cmd: &mut Command) -> String {
    let out = run_ok(cmd, LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l.starts_with("ok ")),
        "no ok line in:\n{stdout}"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `maps N` figure of a `print_stats` report.
fn maps_in_report(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("maps "))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no report in:\n{stderr}"))
}

#[test]
fn executables_are_static() {
    let exe = build("hello_static", "examples/c/hello.c", Flavour::Plain, &[]);
    let bytes = std::fs::read(&exe).unwrap();
    // An ELF with a PT_INTERP header names its dynamic loader; a static
    // one has none.
    assert!(
        !bytes.windows(b"ld-musl".len()).any(|w| w == b"ld-musl")
            && !bytes.windows(b"ld-linux".len()).any(|w| w == b"ld-linux"),
        "{} names a dynamic loader",
        exe.display()
    );
}

#[test]
fn hello_example_runs_as_a_static_musl_program() {
    let exe = build("hello", "examples/c/hello.c", Flavour::Plain, &[]);
    let out = run_ok(&mut Command::new(exe), LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("hello from memalloc"), "{stdout}");
}

#[test]
fn ma_functions_follow_the_documented_semantics_in_a_static_musl_program() {
    let exe = build("api", "tests/c/api.c", Flavour::Plain, &[]);
    let stderr = expect_ok(&mut Command::new(exe));
    assert!(stderr.contains("memalloc: process-wide heap"), "{stderr}");
}

#[test]
fn threads_free_each_others_blocks_in_a_static_musl_program() {
    let exe = build("threads", "tests/c/threads.c", Flavour::Plain, &[]);
    expect_ok(&mut Command::new(exe));
}

#[test]
fn fork_of_a_multithreaded_static_musl_program_leaves_a_usable_heap() {
    let exe = build("fork", "tests/c/fork.c", Flavour::Plain, &[]);
    expect_ok(&mut Command::new(exe));
}

#[test]
fn override_replaces_musls_malloc_in_a_static_program() {
    let exe = build(
        "threads_override",
        "tests/c/threads.c",
        Flavour::Override,
        &["USE_LIBC"],
    );
    let stderr = expect_ok(Command::new(exe).env("MEMALLOC_SHOW_STATS", "1"));
    // malloc and free went to memalloc: its heap mapped memory.
    assert!(maps_in_report(&stderr) > 0, "{stderr}");
}

#[test]
fn show_stats_env_prints_the_report_at_exit_in_a_static_musl_program() {
    let exe = build("threads_stats", "tests/c/threads.c", Flavour::Plain, &[]);
    let stderr = expect_ok(Command::new(&exe).env("MEMALLOC_SHOW_STATS", "1"));
    assert!(maps_in_report(&stderr) > 0, "{stderr}");
    let quiet = expect_ok(&mut Command::new(&exe));
    assert!(!quiet.contains("memalloc:"), "{quiet}");
}
