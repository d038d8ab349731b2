//! The runtime options, each exercised in a child process of this binary
//! with memalloc as its global allocator: the `MEMALLOC_*` variables, the
//! `Options` API, their precedence, bad values, and when `apply` is too
//! late.
//!
//! This test has no libtest harness (`harness = false`): a scenario must
//! start before anything but Rust's own start-up has allocated or freed,
//! as a program's `main` does. Run without arguments, the binary runs every
//! case; each case starts the binary again with `MEMALLOC_SCENARIO` naming
//! what the child does, and the environment under test.

#[global_allocator]
static GLOBAL: memalloc::Memalloc = memalloc::Memalloc;

use memalloc::options::{MAX_PURGE_DELAY_MS, Settings};
use memalloc::{Options, OptionsError};
use std::process::{Command, Output};

/// The line every scenario prints on stderr as its last act in `main`.
const DONE: &str = "scenario done";
/// The first line of the `print_stats` report.
const REPORT: &str = "memalloc: process-wide heap";
const MIB: usize = 1 << 20;

// ---------------------------------------------------------------------------
// Child side
// ---------------------------------------------------------------------------

/// Threads of this process (Linux).
fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// Allocates and frees enough that the heap has something to report.
fn some_work() {
    let v: Vec<Vec<u8>> = (0..1000).map(|i| vec![i as u8; 16 + i % 500]).collect();
    assert_eq!(v.len(), 1000);
}

/// A large block (a page run), every page touched, then freed: `n` dirty
/// pages in the page heap.
fn free_touched_run(bytes: usize) {
    let v = vec![7u8; bytes];
    std::hint::black_box(&v);
}

/// Frees `runs` page runs of 256 KiB, kept apart by live 40 KiB runs so
/// they stay separate, and returns how many purges that caused.
fn purges_after_freeing_runs(runs: usize) -> u64 {
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..runs)
        // Fences larger than the runs: 7.5 MiB stays in use, so a share of
        // the bytes in use can cover the 6 MiB freed.
        .map(|_| (vec![1u8; 256 << 10], vec![2u8; 320 << 10]))
        .collect();
    let before = memalloc::stats().purges;
    let fences: Vec<Vec<u8>> = pairs
        .into_iter()
        .map(|(run, fence)| {
            drop(run);
            fence
        })
        .collect();
    let after = memalloc::stats().purges;
    drop(fences);
    after - before
}

fn scenario(name: &str) {
    match name {
        "work" => some_work(),
        "code_show_stats" => {
            Options::new().show_stats(true).apply().unwrap();
            some_work();
        }
        "map_unmap_purge" => {
            // A huge block: its own mapping, unmapped on free.
            free_touched_run(40 * MIB);
            // A page run left dirty, then purged by trim.
            free_touched_run(2 * MIB);
            memalloc::trim();
        }
        "purge_after_idle" => {
            let delay = Options::current().purge_delay_ms;
            free_touched_run(2 * MIB);
            std::thread::sleep(std::time::Duration::from_millis(250));
            // Any page-heap activity runs the purge check.
            free_touched_run(64 << 10);
            let s = memalloc::stats();
            eprintln!("delay {delay} purges {}", s.purges);
        }
        "code_delay_then_idle" => {
            Options::new().purge_delay_ms(5000).apply().unwrap();
            scenario("purge_after_idle");
        }
        "dirty_bound" => {
            let purges = purges_after_freeing_runs(24);
            let s = Options::current();
            eprintln!(
                "min {} fraction {} mapped {} purges {purges}",
                s.dirty_min_bytes,
                s.dirty_fraction,
                memalloc::stats().bytes_mapped
            );
        }
        "print_current" => eprintln!("current {:?}", Options::current()),
        "apply_early" => {
            let r = Options::new()
                .purge_delay_ms(1234)
                .dirty_min_bytes(3 * MIB)
                .dirty_fraction(5)
                .verbose(false)
                .apply();
            eprintln!("apply {r:?} current {:?}", Options::current());
        }
        "apply_late" => {
            let before = Options::current();
            some_work();
            free_touched_run(40 * MIB); // unmapped: memory went back to the OS
            let r = Options::new().purge_delay_ms(1234).show_stats(true).apply();
            assert_eq!(r, Err(OptionsError::TooLate));
            assert_eq!(Options::current(), before, "nothing changed");
        }
        "apply_invalid" => {
            let before = Options::current();
            let cases = [
                (
                    Options::new()
                        .show_stats(true)
                        .purge_delay_ms(MAX_PURGE_DELAY_MS + 1),
                    "purge_delay_ms",
                ),
                (
                    Options::new().show_stats(true).dirty_fraction(0),
                    "dirty_fraction",
                ),
                (
                    Options::new()
                        .show_stats(true)
                        .dirty_min_bytes(isize::MAX as usize + 1),
                    "dirty_min_bytes",
                ),
            ];
            for (opts, field) in cases {
                assert_eq!(opts.apply(), Err(OptionsError::Invalid(field)));
                assert_eq!(Options::current(), before, "nothing applied");
            }
            // The same options without the bad value go through.
            Options::new()
                .purge_delay_ms(MAX_PURGE_DELAY_MS)
                .apply()
                .unwrap();
            assert_eq!(Options::current().purge_delay_ms, MAX_PURGE_DELAY_MS);
        }
        "env_over_code" => {
            Options::new()
                .purge_delay_ms(5000)
                .dirty_min_bytes(3 * MIB)
                .show_stats(true)
                .apply()
                .unwrap();
            eprintln!("current {:?}", Options::current());
            some_work();
        }
        "code_background_purge" => {
            let before = threads();
            let r = Options::new().background_purge(true).apply();
            let started = memalloc::start_background_purger();
            eprintln!(
                "apply {r:?} threads {before} -> {} direct start {started}",
                threads()
            );
        }
        "threads_at_start" => eprintln!("threads {}", threads()),
        "apply_delay" => {
            let before = threads();
            let r = Options::new().purge_delay_ms(200).apply();
            eprintln!("apply {r:?} threads {before} -> {}", threads());
        }
        other => panic!("unknown scenario {other}"),
    }
    eprintln!("{DONE}");
}

// ---------------------------------------------------------------------------
// Parent side
// ---------------------------------------------------------------------------

/// Runs `scenario` in a child with `env` set (and no other MEMALLOC_*
/// variable); asserts it succeeded and returns its stderr.
fn child(scenario: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    for (k, _) in std::env::vars() {
        if k.starts_with("MEMALLOC_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("MEMALLOC_SCENARIO", scenario)
        .envs(env.iter().copied());
    let Output { status, stderr, .. } = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    assert!(status.success(), "{scenario} {env:?}: {status}\n{stderr}");
    assert!(
        stderr.contains(DONE),
        "{scenario} did not finish:\n{stderr}"
    );
    stderr
}

/// The number after `key ` on the stderr line that has it.
fn field(stderr: &str, key: &str) -> u64 {
    let at = stderr
        .find(&format!("{key} "))
        .unwrap_or_else(|| panic!("{key} in {stderr}"));
    stderr[at + key.len() + 1..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{key} value in {stderr}"))
}

fn show_stats_env_prints_the_report_at_exit() {
    let err = child("work", &[("MEMALLOC_SHOW_STATS", "1")]);
    let done = err.find(DONE).unwrap();
    let report = err.find(REPORT).expect("a report");
    assert!(report > done, "printed after main returned:\n{err}");
    assert!(err.contains("  in use "), "{err}");
}

fn without_show_stats_no_report_is_printed() {
    let err = child("work", &[]);
    assert!(!err.contains(REPORT), "{err}");
    assert!(
        !err.contains("memalloc:"),
        "memalloc is silent by default:\n{err}"
    );
}

fn show_stats_from_code_prints_the_report_at_exit() {
    let err = child("code_show_stats", &[]);
    assert!(err.find(REPORT).expect("a report") > err.find(DONE).unwrap());
}

fn show_stats_env_zero_wins_over_code() {
    let err = child("code_show_stats", &[("MEMALLOC_SHOW_STATS", "0")]);
    assert!(!err.contains(REPORT), "{err}");
}

fn verbose_env_prints_a_line_for_each_map_unmap_and_purge() {
    let err = child("map_unmap_purge", &[("MEMALLOC_VERBOSE", "1")]);
    assert!(
        err.contains("memalloc: options: purge_delay_ms=100 "),
        "{err}"
    );
    for what in ["map", "unmap", "purge"] {
        let line = err
            .lines()
            .find(|l| l.starts_with(&format!("memalloc: {what} 0x")))
            .unwrap_or_else(|| panic!("no {what} line in:\n{err}"));
        assert!(line.ends_with(" B"), "{line}");
    }
    // The 40 MiB block's own mapping, made and released.
    let huge = err
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(3)
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| n > 40 * MIB)
        })
        .count();
    assert!(huge >= 2, "map and unmap of the huge block:\n{err}");
}

fn purge_delay_env_keeps_idle_free_runs_resident_for_longer() {
    let default = child("purge_after_idle", &[]);
    assert_eq!(field(&default, "delay"), 100);
    assert!(field(&default, "purges") >= 1, "{default}");
    let long = child("purge_after_idle", &[("MEMALLOC_PURGE_DELAY_MS", "5000")]);
    assert_eq!(field(&long, "delay"), 5000);
    assert_eq!(field(&long, "purges"), 0, "{long}");
    let short = child("purge_after_idle", &[("MEMALLOC_PURGE_DELAY_MS", "0")]);
    assert!(field(&short, "purges") >= 1, "{short}");
}

fn purge_delay_from_code_keeps_idle_free_runs_resident_for_longer() {
    let err = child("code_delay_then_idle", &[]);
    assert_eq!(field(&err, "delay"), 5000);
    assert_eq!(field(&err, "purges"), 0, "{err}");
}

fn dirty_bound_env_variables_bound_the_resident_free_pages() {
    // 6 MiB of separate free runs: under the default 8 MiB floor.
    let default = child("dirty_bound", &[]);
    assert_eq!(field(&default, "purges"), 0, "{default}");
    // A 1 MiB floor and a small share of the bytes in use: past the bound.
    let low = child(
        "dirty_bound",
        &[
            ("MEMALLOC_DIRTY_MIN_BYTES", "1M"),
            ("MEMALLOC_DIRTY_FRACTION", "1/64"),
        ],
    );
    assert_eq!(field(&low, "min"), MIB as u64);
    assert_eq!(field(&low, "fraction"), 64);
    assert!(field(&low, "purges") >= 1, "{low}");
    // The same floor, but a share of all the bytes in use: under it again.
    let whole = child(
        "dirty_bound",
        &[
            ("MEMALLOC_DIRTY_MIN_BYTES", "1M"),
            ("MEMALLOC_DIRTY_FRACTION", "1/1"),
        ],
    );
    assert_eq!(field(&whole, "purges"), 0, "{whole}");
}

fn bad_env_values_warn_once_each_and_keep_the_defaults() {
    let bad = [
        ("MEMALLOC_SHOW_STATS", "please"),
        ("MEMALLOC_VERBOSE", "2"),
        ("MEMALLOC_BACKGROUND_PURGE", "x"),
        ("MEMALLOC_PURGE_DELAY_MS", "soon"),
        ("MEMALLOC_DIRTY_MIN_BYTES", "lots"),
        ("MEMALLOC_DIRTY_FRACTION", "0.5"),
    ];
    let err = child("print_current", &bad);
    assert!(
        err.contains(&format!("current {:?}", Settings::DEFAULT)),
        "{err}"
    );
    for (name, value) in bad {
        let want = format!("memalloc: ignoring {name}=\"{value}\" (expected ");
        assert_eq!(
            err.matches(&want).count(),
            1,
            "one warning for {name}:\n{err}"
        );
    }
    assert_eq!(
        err.lines().filter(|l| l.starts_with("memalloc:")).count(),
        6
    );
}

fn options_applied_before_memory_goes_back_take_effect() {
    let err = child("apply_early", &[]);
    let want = Settings {
        purge_delay_ms: 1234,
        dirty_min_bytes: 3 * MIB,
        dirty_fraction: 5,
        ..Settings::DEFAULT
    };
    assert!(
        err.contains(&format!("apply Ok(()) current {want:?}")),
        "{err}"
    );
}

fn options_applied_after_memory_went_back_are_refused_and_change_nothing() {
    child("apply_late", &[]);
}

fn out_of_range_options_are_refused_whole() {
    child("apply_invalid", &[]);
}

fn environment_wins_over_code_setting_by_setting() {
    let err = child(
        "env_over_code",
        &[
            ("MEMALLOC_PURGE_DELAY_MS", "300"),
            ("MEMALLOC_SHOW_STATS", "0"),
        ],
    );
    let want = Settings {
        purge_delay_ms: 300,      // the environment's
        dirty_min_bytes: 3 * MIB, // the code's: the environment is silent
        show_stats: false,        // the environment's
        ..Settings::DEFAULT
    };
    assert!(err.contains(&format!("current {want:?}")), "{err}");
    assert!(!err.contains(REPORT), "{err}");
}

fn background_purge_from_code_starts_one_purger_thread() {
    let err = child("code_background_purge", &[]);
    assert!(
        err.contains("apply Ok(()) threads 1 -> 2 direct start true"),
        "{err}"
    );
}

fn background_purge_env_zero_keeps_the_program_single_threaded() {
    let err = child(
        "code_background_purge",
        &[("MEMALLOC_BACKGROUND_PURGE", "0")],
    );
    assert!(
        err.contains("apply Ok(()) threads 1 -> 1 direct start false"),
        "{err}"
    );
}

fn background_purge_env_starts_the_purger_before_main() {
    assert_eq!(field(&child("threads_at_start", &[]), "threads"), 1);
    let err = child("threads_at_start", &[("MEMALLOC_BACKGROUND_PURGE", "1")]);
    assert_eq!(field(&err, "threads"), 2, "{err}");
}

fn applying_other_options_neither_starts_nor_duplicates_the_purger() {
    let err = child("apply_delay", &[]);
    assert!(err.contains("apply Ok(()) threads 1 -> 1"), "{err}");
    let err = child("apply_delay", &[("MEMALLOC_BACKGROUND_PURGE", "1")]);
    assert!(err.contains("apply Ok(()) threads 2 -> 2"), "{err}");
}

/// Cases about what only unix builds have: the environment read without
/// allocating (`getenv`; other builds ignore `MEMALLOC_*` variables and
/// take options from `Options::apply` only), the exit report (`atexit`),
/// and the background purger thread (counted from /proc).
const UNIX_ONLY: &[&str] = &[
    "show_stats_env_prints_the_report_at_exit",
    "show_stats_from_code_prints_the_report_at_exit",
    "verbose_env_prints_a_line_for_each_map_unmap_and_purge",
    "purge_delay_env_keeps_idle_free_runs_resident_for_longer",
    "dirty_bound_env_variables_bound_the_resident_free_pages",
    "bad_env_values_warn_once_each_and_keep_the_defaults",
    "environment_wins_over_code_setting_by_setting",
    "background_purge_from_code_starts_one_purger_thread",
    "background_purge_env_zero_keeps_the_program_single_threaded",
    "background_purge_env_starts_the_purger_before_main",
    "applying_other_options_neither_starts_nor_duplicates_the_purger",
];

fn main() {
    if let Ok(name) = std::env::var("MEMALLOC_SCENARIO") {
        scenario(&name);
        return;
    }
    // Like libtest: names are filters, `--skip NAME` leaves cases out (so
    // one `cargo test ... -- --skip NAME` line serves every test binary).
    let (mut filter, mut skip) = (Vec::<String>::new(), Vec::<String>::new());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--skip" {
            skip.extend(args.next());
        } else if !a.starts_with('-') {
            filter.push(a);
        }
    }
    let cases: &[(&str, fn())] = &[
        (
            "show_stats_env_prints_the_report_at_exit",
            show_stats_env_prints_the_report_at_exit,
        ),
        (
            "without_show_stats_no_report_is_printed",
            without_show_stats_no_report_is_printed,
        ),
        (
            "show_stats_from_code_prints_the_report_at_exit",
            show_stats_from_code_prints_the_report_at_exit,
        ),
        (
            "show_stats_env_zero_wins_over_code",
            show_stats_env_zero_wins_over_code,
        ),
        (
            "verbose_env_prints_a_line_for_each_map_unmap_and_purge",
            verbose_env_prints_a_line_for_each_map_unmap_and_purge,
        ),
        (
            "purge_delay_env_keeps_idle_free_runs_resident_for_longer",
            purge_delay_env_keeps_idle_free_runs_resident_for_longer,
        ),
        (
            "purge_delay_from_code_keeps_idle_free_runs_resident_for_longer",
            purge_delay_from_code_keeps_idle_free_runs_resident_for_longer,
        ),
        (
            "dirty_bound_env_variables_bound_the_resident_free_pages",
            dirty_bound_env_variables_bound_the_resident_free_pages,
        ),
        (
            "bad_env_values_warn_once_each_and_keep_the_defaults",
            bad_env_values_warn_once_each_and_keep_the_defaults,
        ),
        (
            "options_applied_before_memory_goes_back_take_effect",
            options_applied_before_memory_goes_back_take_effect,
        ),
        (
            "options_applied_after_memory_went_back_are_refused_and_change_nothing",
            options_applied_after_memory_went_back_are_refused_and_change_nothing,
        ),
        (
            "out_of_range_options_are_refused_whole",
            out_of_range_options_are_refused_whole,
        ),
        (
            "environment_wins_over_code_setting_by_setting",
            environment_wins_over_code_setting_by_setting,
        ),
        (
            "background_purge_from_code_starts_one_purger_thread",
            background_purge_from_code_starts_one_purger_thread,
        ),
        (
            "background_purge_env_zero_keeps_the_program_single_threaded",
            background_purge_env_zero_keeps_the_program_single_threaded,
        ),
        (
            "background_purge_env_starts_the_purger_before_main",
            background_purge_env_starts_the_purger_before_main,
        ),
        (
            "applying_other_options_neither_starts_nor_duplicates_the_purger",
            applying_other_options_neither_starts_nor_duplicates_the_purger,
        ),
    ];
    let (mut passed, mut failed) = (0, 0);
    for &(name, case) in cases {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        if skip.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        if cfg!(not(unix)) && UNIX_ONLY.contains(&name) {
            println!("test {name} ... skipped: needs a unix build");
            continue;
        }
        match std::panic::catch_unwind(case) {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
