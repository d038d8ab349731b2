//! Shared by `tests/c_abi.rs` and `tests/preload.rs`: builds the C libraries
//! in their own target directories, compiles C programs with the system
//! `cc`, and runs programs with a time limit.
//!
//! The libraries are built by a nested `cargo rustc --release --lib
//! --crate-type cdylib,staticlib` (what the `cargo c-lib` alias runs) into
//! `target/c-abi/<flavour>`: a directory of its own, so the nested cargo
//! never waits for the lock that the outer `cargo test` holds on `target/`,
//! and the plain and `override` builds do not overwrite each other.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Which build of the library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// `ma_*` only.
    Plain,
    /// `--features override`: also `malloc`, `free` & co.
    Override,
}

impl Flavour {
    fn name(self) -> &'static str {
        match self {
            Flavour::Plain => "plain",
            Flavour::Override => "override",
        }
    }
}

/// The native libraries a Rust staticlib needs (`--print native-static-libs`).
pub const STATIC_DEPS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Scratch space for compiled programs and generated inputs.
pub fn work_dir(name: &str) -> PathBuf {
    let d = manifest_dir()
        .join("target")
        .join("c-abi")
        .join("work")
        .join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Builds the library once per test process and returns the directory
/// holding `libmemalloc.so` and `libmemalloc.a`.
pub fn lib_dir(flavour: Flavour) -> PathBuf {
    lib_dir_for(flavour, None)
}

/// The Rust target of the static musl libraries.
pub const MUSL_TARGET: &str = "x86_64-unknown-linux-musl";

/// [`lib_dir`] for a Rust target other than the host's (`--target`); for
/// musl only `libmemalloc.a` is built (Rust builds no `cdylib` there).
pub fn lib_dir_for(flavour: Flavour, rust_target: Option<&str>) -> PathBuf {
    /// The builds made so far: flavour and Rust target (None = host).
    type Built = Vec<(Flavour, Option<String>)>;
    static BUILT: OnceLock<Mutex<Built>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    let key = (flavour, rust_target.map(str::to_owned));
    let mut target = manifest_dir().join("target").join("c-abi");
    target = match rust_target {
        Some(t) => target.join(format!("{t}-{}", flavour.name())),
        None => target.join(flavour.name()),
    };
    if !built.contains(&key) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        // Rust builds no cdylib for musl: only the staticlib there.
        let crate_types = if rust_target.is_some_and(|t| t.contains("musl")) {
            "staticlib"
        } else {
            "cdylib,staticlib"
        };
        cmd.arg("rustc")
            .arg("--release")
            .arg("--lib")
            .arg("--crate-type")
            .arg(crate_types)
            .arg("--manifest-path")
            .arg(manifest_dir().join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            // A RUSTFLAGS meant for the outer build (e.g. `--cfg loom`) is
            // not what a C program links against.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR");
        if flavour == Flavour::Override {
            cmd.arg("--features").arg("override");
        }
        if let Some(t) = rust_target {
            cmd.arg("--target").arg(t);
        }
        let out = cmd.output().expect("run cargo rustc");
        assert!(
            out.status.success(),
            "cargo rustc of the {} library failed:\n{}",
            flavour.name(),
            String::from_utf8_lossy(&out.stderr)
        );
        built.push(key);
    }
    match rust_target {
        Some(t) => target.join(t).join("release"),
        None => target.join("release"),
    }
}

pub fn shared_lib(flavour: Flavour) -> PathBuf {
    lib_dir(flavour).join("libmemalloc.so")
}

pub fn static_lib(flavour: Flavour) -> PathBuf {
    lib_dir(flavour).join("libmemalloc.a")
}

/// How a C program gets the allocator.
#[derive(Clone, Copy, Debug)]
pub enum Link {
    /// `libmemalloc.a`, linked into the executable.
    Static(Flavour),
    /// `-lmemalloc` with an rpath to the shared library.
    Shared(Flavour),
    /// Not linked at all (the program is run under `LD_PRELOAD`, or opens
    /// the library with `dlopen`).
    None,
}

/// The flags every C test program is built with, glibc or musl (the
/// language standard comes first, from the caller).
pub const C_FLAGS: [&str; 9] = [
    "-D_GNU_SOURCE",
    "-O1",
    "-g",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-pthread",
    // The overflow tests pass sizes above PTRDIFF_MAX on purpose.
    "-Wno-alloc-size-larger-than",
    // Keep the compiler from folding calls like malloc(SIZE_MAX) or
    // malloc/free pairs: the tests are about what the library does.
    "-fno-builtin",
];

/// Compiles `sources` (paths relative to the crate root; C, or C++ if one
/// ends in `.cc`) into `out` with warnings as errors, the project header on
/// the include path, and `defines`.
pub fn compile(sources: &[&str], out: &Path, link: Link, defines: &[&str]) {
    let root = manifest_dir();
    let cxx = sources.iter().any(|s| s.ends_with(".cc"));
    let (compiler, std) = if cxx {
        (
            std::env::var("CXX").unwrap_or_else(|_| "c++".into()),
            "-std=c++17",
        )
    } else {
        (
            std::env::var("CC").unwrap_or_else(|_| "cc".into()),
            "-std=c11",
        )
    };
    let mut cmd = Command::new(compiler);
    cmd.arg(std)
        .args(C_FLAGS)
        .arg("-I")
        .arg(root.join("include"));
    for d in defines {
        cmd.arg(format!("-D{d}"));
    }
    for s in sources {
        cmd.arg(root.join(s));
    }
    cmd.arg("-o").arg(out);
    match link {
        Link::Static(f) => {
            cmd.arg(static_lib(f)).args(STATIC_DEPS);
        }
        Link::Shared(f) => {
            let dir = lib_dir(f);
            // DT_RPATH (not RUNPATH) so that an LD_LIBRARY_PATH pointing at
            // another libmemalloc.so (cargo test sets one) cannot win.
            cmd.arg("-L")
                .arg(&dir)
                .arg("-Wl,--disable-new-dtags")
                .arg(format!("-Wl,-rpath,{}", dir.display()))
                .arg("-lmemalloc");
        }
        Link::None => {}
    }
    cmd.arg("-ldl");
    let res = cmd.output().expect("run cc");
    assert!(
        res.status.success(),
        "cc failed for {sources:?}:\n{}",
        String::from_utf8_lossy(&res.stderr)
    );
}

/// Runs `cmd` to completion, killing it after `limit` (a deadlock then
/// fails the test instead of hanging it). Stdin is empty.
pub fn run_with_limit(cmd: &mut Command, limit: Duration) -> Output {
    // cargo test points LD_LIBRARY_PATH at target/debug, which holds a
    // debug libmemalloc.so of its own.
    cmd.env_remove("LD_LIBRARY_PATH");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    // Drain the pipes on threads so a chatty child cannot block on them.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut so, &mut v).ok();
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut se, &mut v).ok();
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            child.kill().ok();
            let s = child.wait().unwrap();
            let err = t_err.join().unwrap();
            panic!(
                "{cmd:?} did not finish within {limit:?} ({s}); stderr:\n{}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

/// Runs `cmd` and asserts it exits 0, showing its output otherwise.
pub fn run_ok(cmd: &mut Command, limit: Duration) -> Output {
    let out = run_with_limit(cmd, limit);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
