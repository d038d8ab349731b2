//! Runs a reduced benchmark suite and writes `BENCHMARKS.md` and
//! `benchmarks.svg` (at the workspace root unless `--out DIR`).
//!
//! ```text
//! cargo run --release -p memalloc-bench --example report            # about 9–12 min on 2 cores
//! cargo run --release -p memalloc-bench --example report -- --quick # about 2 min, checks the pipeline
//! ```
//!
//! Steps: builds the `ga_*` examples; runs the criterion groups (a)–(f) of
//! `memalloc_bench::suite` in this process (warm-up 1 s, measurement 2 s
//! per function), then its central-tier groups ((f) on 1–8 threads, (i),
//! (j); warm-up 0.5 s, measurement 1.5 s, to keep the run short); runs each
//! `ga_*` program's `throughput` (c, d, f, g, h, i, j as
//! `#[global_allocator]`, median of 3) and, one process per allocator and
//! scenario, `memory`; runs `bench-c/run.sh` (C programs under `LD_PRELOAD`
//! of each allocator installed); then writes the report. Figures are
//! throughputs, RSS and instruction counts; every ratio is against memalloc
//! in the same run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use criterion::Criterion;
use memalloc_bench::ALLOCATORS;

/// Allocator names in report order.
fn names() -> impl Iterator<Item = &'static str> {
    ALLOCATORS.iter().map(|a| a.0)
}

/// The allocators of the C benchmarks (`bench-c/run.sh`), in report order.
const C_ALLOCATORS: [&str; 5] = ["memalloc", "glibc", "jemalloc", "tcmalloc", "mimalloc"];

struct Opts {
    quick: bool,
    out: PathBuf,
    args: Vec<String>,
}

fn parse_args(root: &Path) -> Opts {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = Opts {
        quick: false,
        out: root.to_path_buf(),
        args: args.clone(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => opts.quick = true,
            "--out" => opts.out = PathBuf::from(it.next().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    opts
}

fn usage() -> ! {
    eprintln!("usage: report [--quick] [--out DIR]");
    std::process::exit(2)
}

/// One row of a throughput table: ops/s per allocator.
#[derive(Default)]
struct Row {
    label: String,
    /// Workload key and thread count, for the chart (rows that run at
    /// several thread counts).
    chart: Option<(&'static str, usize)>,
    rate: BTreeMap<String, f64>,
    /// What a cell without a figure says ("not installed", "failed").
    note: BTreeMap<String, String>,
}

/// One `mem` line, in KiB.
#[derive(Clone, Copy, Default)]
struct Mem {
    start: u64,
    peak: u64,
    end: u64,
    idle: u64,
    nudged: u64,
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench-compare has a parent")
        .to_path_buf();
    let opts = parse_args(&root);
    let exe = std::env::current_exe().expect("own path");
    let exe_dir = exe.parent().expect("examples dir").to_path_buf();
    let release = exe_dir.parent().and_then(|p| p.file_name()) == Some("release".as_ref());
    if !release {
        eprintln!("warning: not a release build; the figures will mean nothing (use --release)");
    }
    let load_start = loadavg();

    // 1. The ga_* programs (cargo run built this example only).
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(&cargo);
    build
        .args(["build", "-p", "memalloc-bench", "--examples"])
        .current_dir(&root);
    if release {
        build.arg("--release");
    }
    eprintln!("== building the ga_* examples");
    check_status(build.status(), "cargo build --examples");

    // 2. Criterion groups (a)–(f), in this process.
    let (warm, measure) = if opts.quick { (0.2, 0.4) } else { (1.0, 2.0) };
    let crit_dir = exe_dir
        .parent()
        .expect("target/<profile>")
        .join("criterion-report");
    let _ = std::fs::remove_dir_all(&crit_dir);
    eprintln!("== criterion: (a)–(f), warm-up {warm} s, measurement {measure} s");
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs_f64(warm))
        .measurement_time(Duration::from_secs_f64(measure))
        .output_directory(&crit_dir);
    memalloc_bench::suite::compare(&mut c);
    c.final_summary();
    // 48 functions that each spawn threads for every sample: shorter
    // measurements keep the whole report within minutes.
    let (warm, measure) = if opts.quick { (0.2, 0.4) } else { (0.5, 1.5) };
    eprintln!(
        "== criterion: (f) on 1–8 threads, (i), (j), warm-up {warm} s, measurement {measure} s"
    );
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs_f64(warm))
        .measurement_time(Duration::from_secs_f64(measure))
        .output_directory(&crit_dir);
    memalloc_bench::suite::central(&mut c);
    c.final_summary();
    let criterion_rows = criterion_rows(&crit_dir);

    // 3. Global-allocator throughput, one process per allocator.
    let repeat = if opts.quick { "1" } else { "3" };
    let mut ga_lines = Vec::new();
    let mut lock_lines = Vec::new();
    for (_, bin) in ALLOCATORS {
        eprintln!("== {bin} throughput");
        let mut args = vec!["throughput", "--repeat", repeat];
        if opts.quick {
            args.push("--quick");
        }
        for line in run_lines(&exe_dir.join(bin), &args, "") {
            if line.starts_with("ga ") {
                ga_lines.push(line);
            } else if line.starts_with("locks ") {
                lock_lines.push(line);
            }
        }
    }
    let ga_rows = ga_rows(&ga_lines);

    // 4. Memory, one process per allocator and scenario.
    let mut mem_lines = Vec::new();
    let mut mem: BTreeMap<(String, String), Mem> = BTreeMap::new();
    for scenario in ["fragment", "threadchurn", "threadchurn-single"] {
        for (name, bin) in ALLOCATORS {
            eprintln!("== {bin} memory {scenario}");
            let mut args = vec!["memory", scenario];
            if opts.quick {
                args.push("--quick");
            }
            for line in run_lines(&exe_dir.join(bin), &args, "mem ") {
                let f = fields(&line);
                let kib = |k: &str| f.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
                mem.insert(
                    (scenario.to_string(), name.to_string()),
                    Mem {
                        start: kib("start_rss_kib"),
                        peak: kib("peak_rss_kib"),
                        end: kib("end_rss_kib"),
                        idle: kib("idle_rss_kib"),
                        nudged: kib("nudged_rss_kib"),
                    },
                );
                mem_lines.push(line);
            }
        }
    }

    // 5. C programs under LD_PRELOAD of each allocator that is installed.
    eprintln!("== bench-c/run.sh");
    let c_out = exe_dir
        .parent()
        .and_then(|p| p.parent())
        .expect("target dir")
        .join("bench-c");
    let c_bench = c_results(&root, &c_out, opts.quick);

    let load_end = loadavg();
    let command = format!(
        "cargo run{} -p memalloc-bench --example report{}",
        if release { " --release" } else { "" },
        if opts.args.is_empty() {
            String::new()
        } else {
            format!(" -- {}", opts.args.join(" "))
        }
    );
    let md = markdown(&Context {
        root: &root,
        quick: opts.quick,
        command: &command,
        load: (load_start, load_end),
        criterion_rows: &criterion_rows,
        ga_rows: &ga_rows,
        mem: &mem,
        c_bench: &c_bench,
        lock_lines: &lock_lines,
        raw_lines: ga_lines
            .iter()
            .chain(&lock_lines)
            .chain(&mem_lines)
            .chain(&c_bench.lines)
            .cloned()
            .collect(),
    });
    std::fs::create_dir_all(&opts.out).expect("create output directory");
    let md_path = opts.out.join("BENCHMARKS.md");
    let svg_path = opts.out.join("benchmarks.svg");
    std::fs::write(&md_path, md).expect("write BENCHMARKS.md");
    std::fs::write(&svg_path, svg(&ga_rows)).expect("write benchmarks.svg");
    eprintln!("== wrote {} and {}", md_path.display(), svg_path.display());
}

fn check_status(s: std::io::Result<std::process::ExitStatus>, what: &str) {
    match s {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("{what} failed: {s}"),
        Err(e) => panic!("{what}: {e}"),
    }
}

/// Runs `bin args`, echoes its output, returns its lines starting with
/// `prefix`.
fn run_lines(bin: &Path, args: &[&str], prefix: &str) -> Vec<String> {
    let out = Command::new(bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprint!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        panic!(
            "{} {} failed: {}",
            bin.display(),
            args.join(" "),
            out.status
        );
    }
    stdout
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// `key=value` fields of a result line.
fn fields(line: &str) -> BTreeMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

/// Reads every `*/new/benchmark.json` + `estimates.json` under `dir`; one
/// row per (group, parameter), ops/s from the median time per iteration.
fn criterion_rows(dir: &Path) -> Vec<Row> {
    let mut found = Vec::new();
    walk(dir, &mut |p| {
        if p.ends_with("new/benchmark.json") {
            found.push(p.to_path_buf());
        }
    });
    // (group, parameter) -> allocator -> ns per iteration
    let mut by_row: BTreeMap<(String, String), BTreeMap<String, f64>> = BTreeMap::new();
    for bench in found {
        let read = |p: &Path| -> serde_json::Value {
            serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_default())
                .unwrap_or(serde_json::Value::Null)
        };
        let b = read(&bench);
        let e = read(&bench.with_file_name("estimates.json"));
        let (Some(group), Some(func), Some(ns)) = (
            b["group_id"].as_str(),
            b["function_id"].as_str(),
            e["median"]["point_estimate"].as_f64(),
        ) else {
            continue;
        };
        let param = b["value_str"].as_str().unwrap_or("").to_string();
        by_row
            .entry((group.to_string(), param))
            .or_default()
            .insert(func.to_string(), ns);
    }
    let mut rows: Vec<(u64, Row)> = by_row
        .into_iter()
        .map(|((group, param), ns)| {
            let num: u64 = param.parse().unwrap_or(0);
            let (label, chart) = match group.as_str() {
                "a_fastpath" => (format!("(a) alloc+free pair, {param} B"), None),
                "b_churn" => ("(b) churn ring, 1000 live, 8–512 B".into(), None),
                "c_larson" => (
                    format!("(c) larson, {param} thread(s), per replacement"),
                    Some(("larson", num as usize)),
                ),
                "d_prodcon" => (
                    format!("(d) producer/consumer, {param} pair(s), per message"),
                    Some(("prodcon", 2 * num as usize)),
                ),
                "e_realloc_growth" => ("(e) realloc growth to 1 B–1 MiB, per buffer".into(), None),
                "f_large" => ("(f) large 64 KiB–32 MiB, per buffer".into(), None),
                "f_large_threads" => (
                    format!("(f) large 64 KiB–32 MiB, {param} thread(s), per buffer"),
                    Some(("large", num as usize)),
                ),
                "i_bursts" => (
                    format!("(i) bursts of 16 B, {param} thread(s), per object"),
                    Some(("bursts", num as usize)),
                ),
                "j_thread_churn" => (
                    format!("(j) thread churn, {param} alive, per thread"),
                    Some(("threadchurn", num as usize)),
                ),
                g => (format!("{g} {param}"), None),
            };
            let row = Row {
                label,
                chart,
                rate: ns.into_iter().map(|(a, ns)| (a, 1e9 / ns)).collect(),
                ..Row::default()
            };
            (num, row)
        })
        .collect();
    rows.sort_by(|a, b| a.1.label[..3].cmp(&b.1.label[..3]).then(a.0.cmp(&b.0)));
    rows.into_iter().map(|r| r.1).collect()
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, f);
        } else {
            f(&p);
        }
    }
}

/// Rows from `ga` lines: (workload, threads) -> allocator -> ops/s.
fn ga_rows(lines: &[String]) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    for line in lines {
        let f = fields(line);
        let (Some(alloc), Some(w), Some(t), Some(rate)) = (
            f.get("alloc"),
            f.get("workload"),
            f.get("threads").and_then(|t| t.parse::<usize>().ok()),
            f.get("ops_per_sec").and_then(|r| r.parse::<f64>().ok()),
        ) else {
            continue;
        };
        let (label, chart) = match *w {
            "larson" => (
                format!("(c) larson, {t} thread(s), replacements/s"),
                Some(("larson", t)),
            ),
            "prodcon" => (
                format!("(d) producer/consumer, {} pair(s), messages/s", t / 2),
                Some(("prodcon", t)),
            ),
            "large" => (
                format!("(f) large 64 KiB–32 MiB, {t} thread(s), buffers/s"),
                Some(("large", t)),
            ),
            "bursts" => (
                format!("(i) bursts of 16 B, {t} thread(s), objects/s"),
                Some(("bursts", t)),
            ),
            "threadchurn" => (
                format!("(j) thread churn, {t} alive, threads/s"),
                Some(("threadchurn", t)),
            ),
            "btreemap" => (
                "(g) BTreeMap<String, Vec<u64>>, inserts+lookups/s".into(),
                None,
            ),
            "server" => (
                format!("(h) loopback server, {t} threads, requests/s"),
                None,
            ),
            other => (format!("{other} ({t} threads)"), None),
        };
        match rows.iter_mut().find(|r| r.label == label) {
            Some(r) => {
                r.rate.insert(alloc.to_string(), rate);
            }
            None => rows.push(Row {
                label,
                chart,
                rate: BTreeMap::from([(alloc.to_string(), rate)]),
                ..Row::default()
            }),
        }
    }
    // By workload letter; within one, in the programs' order (thread counts
    // ascending).
    rows.sort_by(|a, b| a.label[..3].cmp(&b.label[..3]));
    rows
}

/// What `bench-c/run.sh` measured and reported.
#[derive(Default)]
struct CResults {
    /// Throughput rows (mixed, larson, threads).
    rows: Vec<Row>,
    /// Instructions per step inside the allocator (ring: free+malloc;
    /// resize: realloc+malloc_usable_size); lower is better.
    instr: Vec<Row>,
    /// Instructions of each counted program's loop alone, per step, as
    /// subtracted, by program.
    loop_instr: BTreeMap<String, String>,
    /// Steps of the shorter ring run; threads in all of one threads run.
    ring_steps: Option<String>,
    churn_threads: Option<String>,
    /// Allocator -> (library, version), or why it is absent.
    libs: BTreeMap<String, (String, String)>,
    /// Why the C benchmarks did not run (at all or in full).
    problem: Option<String>,
    /// The `c ...` result lines, for the raw listing.
    lines: Vec<String>,
}

/// Runs `bench-c/run.sh` (building its programs and memalloc's override
/// library under `out`) and reads its result lines. An allocator or tool
/// that is not installed becomes a note in the tables, not a failure.
fn c_results(root: &Path, out: &Path, quick: bool) -> CResults {
    let mut cmd = Command::new("bash");
    cmd.arg(root.join("bench-c").join("run.sh"))
        .arg("--out")
        .arg(out)
        .current_dir(root)
        .stderr(Stdio::inherit());
    if quick {
        cmd.arg("--quick");
    }
    let mut r = CResults::default();
    let stdout = match cmd.output() {
        Ok(o) => {
            if !o.status.success() {
                r.problem = Some(format!("`bench-c/run.sh` failed ({})", o.status));
            }
            String::from_utf8_lossy(&o.stdout).into_owned()
        }
        Err(e) => {
            r.problem = Some(format!("could not run `bash bench-c/run.sh`: {e}"));
            String::new()
        }
    };
    eprint!("{stdout}");
    r.lines = stdout
        .lines()
        .filter(|l| l.starts_with("c "))
        .map(str::to_string)
        .collect();

    // The rows, in a fixed order, so an allocator that is missing still
    // has its cells.
    let mut rows: Vec<(&str, usize, Row)> = vec![(
        "mixed",
        1,
        "mixed sizes 8 B–16 KiB, 1 thread, free+malloc pairs/s".to_string(),
    )]
    .into_iter()
    .chain([1, 2, 4, 8].map(|t| {
        (
            "larson",
            t,
            format!("larson, {t} thread(s), replacements/s"),
        )
    }))
    .chain([(
        "threads",
        8,
        "short-lived threads, 8 alive, threads/s".to_string(),
    )])
    .map(|(p, t, label)| {
        (
            p,
            t,
            Row {
                label,
                ..Row::default()
            },
        )
    })
    .collect();
    // The programs counted under callgrind, in table order.
    let mut instr: Vec<(&str, Row)> = [
        ("ring", "ring of 1000 live, 16–256 B: free+malloc"),
        (
            "resize",
            "resize of 1000 live, 16–256 B: realloc+malloc_usable_size",
        ),
    ]
    .into_iter()
    .map(|(p, label)| {
        (
            p,
            Row {
                label: label.into(),
                ..Row::default()
            },
        )
    })
    .collect();
    // Allocators with no figures at all, and what their cells say.
    let mut absent: Vec<(String, String)> = Vec::new();
    for line in &r.lines {
        let f = fields(line);
        let (Some(&alloc), status) = (f.get("alloc"), f.get("status").copied()) else {
            continue;
        };
        let what = f.get("what").copied().unwrap_or("?");
        let package = f
            .get("package")
            .map(|p| format!(" (`apt-get install {p}`)"));
        match (f.get("prog").copied(), status) {
            (None, Some("ok")) => {
                let lib = f.get("lib").copied().unwrap_or("?");
                let lib = if lib == "none" {
                    "none preloaded: glibc's malloc".to_string()
                } else {
                    format!("`{lib}`")
                };
                let version = f.get("version").copied().unwrap_or("?").to_string();
                r.libs.insert(alloc.to_string(), (lib, version));
            }
            (None, Some("missing")) if alloc == "all" => {
                r.problem = Some(format!(
                    "`{what}` is not installed{}",
                    package.unwrap_or_default()
                ));
            }
            (None, Some("missing")) => {
                r.libs.insert(
                    alloc.to_string(),
                    (
                        format!("not installed: `{what}`{}", package.unwrap_or_default()),
                        "–".into(),
                    ),
                );
                absent.push((alloc.to_string(), "not installed".into()));
            }
            (None, Some("failed")) if alloc != "all" => {
                r.libs.insert(
                    alloc.to_string(),
                    (
                        format!("failed: `{what}` (see the report's output)"),
                        "–".into(),
                    ),
                );
                absent.push((alloc.to_string(), "failed".into()));
            }
            (Some(prog), status) if instr.iter().any(|(p, _)| *p == prog) => {
                let Some((_, row)) = instr.iter_mut().find(|(p, _)| *p == prog) else {
                    continue;
                };
                match status {
                    Some("missing") => {
                        row.note.insert(alloc.to_string(), format!("no {what}"));
                    }
                    Some(_) => {
                        row.note.insert(alloc.to_string(), "failed".into());
                    }
                    None => {
                        if let Some(x) = f.get("instr_per_pair").and_then(|x| x.parse::<f64>().ok())
                        {
                            row.rate.insert(alloc.to_string(), x);
                        }
                        if let Some(l) = f.get("loop_instr_per_step") {
                            r.loop_instr.insert(prog.to_string(), l.to_string());
                        }
                        r.ring_steps = f.get("steps").map(|x| x.to_string());
                    }
                }
            }
            (Some(prog), status) => {
                let threads = f.get("threads").and_then(|t| t.parse::<usize>().ok());
                let Some((_, _, row)) = rows
                    .iter_mut()
                    .find(|(p, t, _)| *p == prog && Some(*t) == threads)
                else {
                    continue;
                };
                match (
                    status,
                    f.get("ops_per_sec").and_then(|x| x.parse::<f64>().ok()),
                ) {
                    (None, Some(x)) => {
                        row.rate.insert(alloc.to_string(), x);
                        if prog == "threads" {
                            r.churn_threads = f.get("ops").map(|x| x.to_string());
                        }
                    }
                    _ => {
                        row.note.insert(alloc.to_string(), "failed".into());
                    }
                }
            }
            _ => {}
        }
    }
    for (alloc, note) in absent {
        for (_, _, row) in rows.iter_mut() {
            row.note.insert(alloc.clone(), note.clone());
        }
        for (_, row) in instr.iter_mut() {
            row.note.insert(alloc.clone(), note.clone());
        }
    }
    if r.lines.is_empty() && r.problem.is_none() {
        r.problem = Some("`bench-c/run.sh` printed no results".into());
    }
    r.rows = rows.into_iter().map(|(_, _, row)| row).collect();
    r.instr = instr.into_iter().map(|(_, row)| row).collect();
    r
}

struct Context<'a> {
    root: &'a Path,
    quick: bool,
    command: &'a str,
    load: (String, String),
    criterion_rows: &'a [Row],
    ga_rows: &'a [Row],
    mem: &'a BTreeMap<(String, String), Mem>,
    c_bench: &'a CResults,
    /// memalloc's `locks ...` lines: lock use per `#[global_allocator]` workload.
    lock_lines: &'a [String],
    raw_lines: Vec<String>,
}

/// 12.3 M, 456 k, 789.
fn si(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.2} G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// A throughput table of the `ALLOCATORS`: each cell "figure (ratio to
/// memalloc)", best in bold.
fn rate_table(out: &mut String, rows: &[Row], unit: &str) {
    let names: Vec<&str> = names().collect();
    figure_table(out, rows, &format!("workload ({unit})"), &names, true);
}

/// A table with a column per allocator in `names`: each cell "figure
/// (ratio to memalloc)", the best (highest, or lowest if not
/// `higher_is_better`) in bold; a cell without a figure shows the row's
/// note for it, or "–".
fn figure_table(
    out: &mut String,
    rows: &[Row],
    head: &str,
    names: &[&str],
    higher_is_better: bool,
) {
    let _ = writeln!(out, "| {head} | {} |", names.join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(names.len()));
    for r in rows {
        let base = r.rate.get("memalloc").copied();
        let best = if higher_is_better {
            r.rate.values().copied().fold(f64::MIN, f64::max)
        } else {
            r.rate.values().copied().fold(f64::MAX, f64::min)
        };
        let cells: Vec<String> = names
            .iter()
            .map(|&a| match (r.rate.get(a), base) {
                (Some(&x), Some(b)) => {
                    let cell = format!("{} ({:.2}×)", si(x), x / b);
                    if x == best {
                        format!("**{cell}**")
                    } else {
                        cell
                    }
                }
                (Some(&x), None) => si(x),
                _ => r.note.get(a).cloned().unwrap_or_else(|| "–".into()),
            })
            .collect();
        let _ = writeln!(out, "| {} | {} |", r.label, cells.join(" | "));
    }
}

/// Where memalloc is not first, and the issue's targets it misses.
fn shortfalls(cx: &Context) -> Vec<String> {
    let mut v = Vec::new();
    for (section, rows) in [
        ("GlobalAlloc", cx.criterion_rows),
        ("global allocator", cx.ga_rows),
    ] {
        for r in rows {
            let Some(&m) = r.rate.get("memalloc") else {
                continue;
            };
            let (best_name, best) = r
                .rate
                .iter()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(a, &x)| (a.clone(), x))
                .unwrap_or_default();
            if best > m {
                v.push(format!(
                    "{section}: {} — {best_name} is {:.2}× memalloc",
                    r.label,
                    best / m
                ));
            }
            // The 2× target is set for the contended workloads only.
            let multithreaded = r
                .chart
                .is_some_and(|(k, t)| (k == "larson" || k == "prodcon") && t >= 2)
                || r.label.starts_with("(h)");
            if let Some(&s) = r.rate.get("system")
                && multithreaded
                && m < 2.0 * s
            {
                v.push(format!(
                    "{section}: {} — memalloc is {:.2}× system (target: 2×)",
                    r.label,
                    m / s
                ));
            }
        }
    }
    for r in &cx.c_bench.rows {
        let Some(&m) = r.rate.get("memalloc") else {
            continue;
        };
        if let Some((best_name, &best)) = r.rate.iter().max_by(|a, b| a.1.total_cmp(b.1))
            && best > m
        {
            v.push(format!(
                "C (LD_PRELOAD): {} — {best_name} is {:.2}× memalloc",
                r.label,
                best / m
            ));
        }
    }
    for r in &cx.c_bench.instr {
        let Some(&m) = r.rate.get("memalloc") else {
            continue;
        };
        if let Some((best_name, &best)) = r.rate.iter().min_by(|a, b| a.1.total_cmp(b.1))
            && best < m
        {
            v.push(format!(
                "C (LD_PRELOAD): {} — memalloc executes {:.0}, {best_name} {:.0} ({:.2}× memalloc's count)",
                r.label,
                m,
                best,
                best / m
            ));
        }
    }
    let get = |s: &str, a: &str| cx.mem.get(&(s.to_string(), a.to_string())).copied();
    if let (Some(m), Some(s)) = (get("fragment", "memalloc"), get("fragment", "system"))
        && m.peak > s.peak
    {
        v.push(format!(
            "memory: fragment peak RSS {} is above system's {} (target: no higher)",
            mib(m.peak),
            mib(s.peak)
        ));
    }
    for scenario in ["fragment", "threadchurn", "threadchurn-single"] {
        if let Some(m) = get(scenario, "memalloc") {
            let allowed = (m.start / 10).max(8 * 1024);
            if m.end.saturating_sub(m.start) > allowed {
                v.push(format!(
                    "memory: {scenario} end RSS {} vs start {} (target: within {}); after 1 s idle {}, after one more free {}",
                    mib(m.end),
                    mib(m.start),
                    mib(allowed),
                    mib(m.idle),
                    mib(m.nudged)
                ));
            }
        }
    }
    if let (Some(t), Some(s)) = (
        get("threadchurn", "memalloc"),
        get("threadchurn-single", "memalloc"),
    ) && t.peak > 2 * s.peak
    {
        v.push(format!(
            "memory: threadchurn peak RSS {} is more than 2× the single-thread run's {}",
            mib(t.peak),
            mib(s.peak)
        ));
    }
    v
}

fn markdown(cx: &Context) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# memalloc benchmarks\n");
    let _ = writeln!(
        o,
        "Generated by `{}`; do not edit by hand. Every ratio compares an allocator with memalloc **in the same run**: absolute figures depend on the machine and on whatever else it was doing, ratios much less.\n",
        cx.command
    );
    if cx.quick {
        let _ = writeln!(
            o,
            "> **Quick mode**: reduced sizes and very short measurements, for checking the command only. These figures are not comparable.\n"
        );
    }
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(o, "| date | {} |", utc_now());
    let _ = writeln!(o, "| commit | {} |", git_commit(cx.root));
    let _ = writeln!(o, "| machine | {} |", machine());
    let _ = writeln!(o, "| rustc | {} |", command_line("rustc", &["--version"]));
    let _ = writeln!(
        o,
        "| load average (1/5/15 min) | at start {}, at end {} |",
        cx.load.0, cx.load.1
    );
    let _ = writeln!(o, "| command | `{}` |\n", cx.command);

    let _ = writeln!(
        o,
        "Cells are throughput, higher is better, with the ratio to memalloc's figure in the same row in parentheses (above 1.00×: faster than memalloc); the best of each row is in bold.\n"
    );
    let _ = writeln!(o, "![throughput by thread count](benchmarks.svg)\n");

    let _ = writeln!(
        o,
        "## Allocators called through `GlobalAlloc` (criterion)\n"
    );
    let _ = writeln!(
        o,
        "Workloads (a)–(f), (i), (j) of `bench-compare/src/suite.rs`: one process, the same generic code monomorphised for each allocator, which is called directly through its `GlobalAlloc` impl; only those calls are timed (bookkeeping arrays and queues are set up outside the timed part and never allocate while it runs), except in (j), whose time includes spawning and joining the threads. Figure: operations per second from criterion's median time per iteration. In (d) the queue between threads is a fixed ring, so the messages are the only allocations.\n"
    );
    let _ = writeln!(
        o,
        "Workloads that lean on the central tier from 1, 2, 4 and 8 threads{}:\n\n\
         - **(f) on several threads**: each thread allocates buffers of 64 KiB–32 MiB in turn, writes one byte per page and frees each at once.\n\
         - **(i) bursts**: each thread keeps 1024 long-lived 16 B objects (one in 32 of a first burst, so they sit on the spans later bursts use) and builds and frees binary trees of 32 768 nodes of 16 B, whole tree at a time: every burst overflows the thread cache into the central tier and comes back. Figure: objects allocated and freed per second.\n\
         - **(j) thread churn**: short-lived threads, 1, 2, 4 or 8 alive at a time, each doing 2000 alloc/free of 16–256 B (up to 64 live) and exiting: a thread's first allocation and its exit flush. Figure: threads per second.\n",
        if cx.quick {
            ""
        } else {
            " (warm-up 0.5 s and measurement 1.5 s per function instead of 1 s and 2 s, to keep the run short)"
        },
    );
    rate_table(&mut o, cx.criterion_rows, "ops/s");

    let _ = writeln!(o, "\n## As the process's `#[global_allocator]`\n");
    let _ = writeln!(
        o,
        "Workloads (c), (d), (f), (g), (h), (i), (j) written as ordinary Rust (`Box`, `Vec`, `String`, `BTreeMap`, `HashMap`, `mpsc::sync_channel`, `TcpStream`, `std::thread`), one `ga_*` process per allocator, so every allocation of the workload, its collections, its channels and its threads goes to the allocator under test. Figure: the median of {} timed runs; (f), (i) and (j) get one untimed run first. The server is a pool of 4 threads answering 4 client threads over 127.0.0.1, bodies of 100 B–64 KiB. In (i) the trees are `Box<Node>` trees; (j) runs {} threads per figure. The chart shows (c), (d), (f), (i) and (j) from this table.\n",
        if cx.quick { 1 } else { 3 },
        if cx.quick { 200 } else { 2000 }
    );
    rate_table(&mut o, cx.ga_rows, "ops/s");

    lock_section(&mut o, cx.lock_lines);

    c_section(&mut o, cx.c_bench, cx.quick);

    let _ = writeln!(o, "\n## Memory\n");
    let _ = writeln!(
        o,
        "One process per allocator and scenario. **fragment**: fill {} with objects of 16 B–64 KiB (log-uniform), free every other one, allocate half as much again in objects twice as large, free everything. **threadchurn**: {} threads, at most 8 alive, each doing 10 000 alloc/free of 16–256 B and leaving nothing; **threadchurn-single** does the same tasks one after another on one thread. RSS from `/proc/self/status`: peak is `VmHWM`; end is `VmRSS` right after everything is freed, without calling any trim function.\n",
        if cx.quick { "64 MiB" } else { "512 MiB" },
        if cx.quick { 200 } else { 2000 }
    );
    let _ = writeln!(
        o,
        "Peak RSS, lower is better, with the ratio to memalloc's in parentheses (above 1.00×: more memory than memalloc):\n"
    );
    let _ = writeln!(
        o,
        "| scenario | {} |",
        names().collect::<Vec<_>>().join(" | ")
    );
    let _ = writeln!(o, "|---|{}", "---:|".repeat(ALLOCATORS.len()));
    let scenarios = ["fragment", "threadchurn", "threadchurn-single"];
    for s in scenarios {
        let base = cx
            .mem
            .get(&(s.to_string(), "memalloc".into()))
            .map(|m| m.peak);
        let cells: Vec<String> = names()
            .map(
                |a| match (cx.mem.get(&(s.to_string(), a.to_string())), base) {
                    (Some(m), Some(b)) if b > 0 => {
                        format!("{} ({:.2}×)", mib(m.peak), m.peak as f64 / b as f64)
                    }
                    (Some(m), _) => mib(m.peak),
                    _ => "–".into(),
                },
            )
            .collect();
        let _ = writeln!(o, "| {s} | {} |", cells.join(" | "));
    }
    let cells: Vec<String> = names()
        .map(|a| {
            match (
                cx.mem.get(&("threadchurn".into(), a.to_string())),
                cx.mem.get(&("threadchurn-single".into(), a.to_string())),
            ) {
                (Some(t), Some(s)) if s.peak > 0 => {
                    format!("{:.2}×", t.peak as f64 / s.peak as f64)
                }
                _ => "–".into(),
            }
        })
        .collect();
    let _ = writeln!(
        o,
        "| threadchurn peak ÷ single-thread peak | {} |",
        cells.join(" | ")
    );

    let _ = writeln!(
        o,
        "\nRSS at start → right after freeing everything → after 1 s idle (memalloc starts no purger thread; its dirty-page bound already applied when freeing) → after one more 1 MiB allocation and free:\n"
    );
    let _ = writeln!(
        o,
        "| scenario | {} |",
        names().collect::<Vec<_>>().join(" | ")
    );
    let _ = writeln!(o, "|---|{}", "---:|".repeat(ALLOCATORS.len()));
    for s in scenarios {
        let cells: Vec<String> = names()
            .map(|a| match cx.mem.get(&(s.to_string(), a.to_string())) {
                Some(m) => format!(
                    "{:.1} → {:.1} → {:.1} → {:.1}",
                    m.start as f64 / 1024.0,
                    m.end as f64 / 1024.0,
                    m.idle as f64 / 1024.0,
                    m.nudged as f64 / 1024.0
                ),
                None => "–".into(),
            })
            .collect();
        let _ = writeln!(o, "| {s} (MiB) | {} |", cells.join(" | "));
    }

    let _ = writeln!(o, "\n## Where memalloc is not yet first\n");
    let short = shortfalls(cx);
    if short.is_empty() {
        let _ = writeln!(o, "Nowhere in this run.");
    }
    for s in short {
        let _ = writeln!(o, "- {s}");
    }

    let _ = writeln!(
        o,
        "\n<details><summary>Raw result lines</summary>\n\n```text"
    );
    for l in &cx.raw_lines {
        let _ = writeln!(o, "{l}");
    }
    let _ = writeln!(o, "```\n\n</details>");
    o
}

/// memalloc's lock use per `#[global_allocator]` workload, and the thread
/// count at which each lock would saturate.
fn lock_section(o: &mut String, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n### Lock use in memalloc's central tier\n");
    let _ = writeln!(
        o,
        "Counted by memalloc itself (`Stats`), exactly under each lock, over all timed runs of the row above. *Class* sums the size-class locks (one per class) (hold time: the mean of one acquisition in 64, timed); *page* is the page-heap lock (every hold timed). **Saturation** projects the thread count at which a lock would be busy all the time, on a machine with that many cores: each thread asks for `a` acquisitions per operation at the 1-thread row's rate `r1` (operations per second), each held `h` on average, so one thread keeps the lock busy a fraction `a·r1·h` of the time and N = 1 / (a·r1·h) threads saturate it. The class figure assumes all traffic is on one class (true of (i), 16 B only; pessimistic elsewhere). Contention measured here, on 2 cores, says little about 32; the projection is the stand-in.\n"
    );
    let _ = writeln!(
        o,
        "| workload | threads | class acq / M ops | class contended | class hold | page acq / M ops | page contended | page hold | saturation: class / page (threads) |"
    );
    let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    struct L {
        workload: String,
        threads: usize,
        ops: f64,
        secs: f64,
        v: [f64; 6],
    }
    let parsed: Vec<L> = lines
        .iter()
        .filter_map(|l| {
            let f = fields(l);
            let num = |k: &str| f.get(k).and_then(|v| v.parse::<f64>().ok());
            Some(L {
                workload: f.get("workload")?.to_string(),
                threads: num("threads")? as usize,
                ops: num("ops")?,
                secs: num("secs")?,
                v: [
                    num("class_acq")?,
                    num("class_cont")?,
                    num("class_hold_ns")?,
                    num("page_acq")?,
                    num("page_cont")?,
                    num("page_hold_ns")?,
                ],
            })
        })
        .collect();
    let pct = |c: f64, a: f64| {
        if a > 0.0 {
            format!("{:.1} %", 100.0 * c / a)
        } else {
            "–".into()
        }
    };
    let hold = |ns: f64, a: f64| {
        if a > 0.0 {
            format!("{:.0} ns", ns / a)
        } else {
            "–".into()
        }
    };
    for l in &parsed {
        // The 1-thread rate of this workload (per thread, uncontended).
        let r1 = parsed
            .iter()
            .find(|x| x.workload == l.workload && x.threads == 1)
            .map(|x| x.ops / x.secs);
        let sat = |acq: f64, ns: f64| match r1 {
            Some(r1) if acq > 0.0 && ns > 0.0 => {
                let busy = (acq / l.ops) * r1 * (ns / acq) * 1e-9;
                format!("{:.0}", 1.0 / busy)
            }
            _ => "–".into(),
        };
        let per_m = |a: f64| format!("{:.0}", a / l.ops * 1e6);
        let [ca, cc, ch, pa, pc, ph] = l.v;
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} / {} |",
            l.workload,
            l.threads,
            per_m(ca),
            pct(cc, ca),
            hold(ch, ca),
            per_m(pa),
            pct(pc, pa),
            hold(ph, pa),
            sat(ca, ch),
            sat(pa, ph)
        );
    }
}

/// The C benchmarks: which libraries, then throughput and instruction
/// counts, each against memalloc's.
fn c_section(o: &mut String, c: &CResults, quick: bool) {
    let _ = writeln!(o, "\n## C programs under `LD_PRELOAD`\n");
    let _ = writeln!(
        o,
        "Small C programs of our own (`bench-c/*.c`, gcc -O2, pthreads) that call `malloc` and `free`, run by `bench-c/run.sh` once with each allocator preloaded: memalloc's override library (`cargo c-lib --release --features override`), nothing (glibc's malloc), and Debian's jemalloc, tcmalloc (minimal) and mimalloc. So the C ABI is measured, `free` without a size included, and thread start and exit go through glibc's `pthread_create`. Figure: the median of {} runs in one process.\n",
        if quick { 1 } else { 3 }
    );
    let _ = writeln!(
        o,
        "- **mixed**: one thread; 64 slots, each step frees the oldest block and allocates one of 8 B–16 KiB (log-uniform).\n\
         - **larson**: threads replace random slots of one shared array (2000 slots per thread, 16–1024 B) by atomic exchange, so with T threads a freed block came from another thread with probability about (T−1)/T.\n\
         - **short-lived threads**: {} threads in all, 8 alive at a time, each doing 2000 malloc/free of 16–256 B (up to 64 live) and exiting; the time includes `pthread_create` and `pthread_join`.\n\
         - **ring** (instruction counts): 1000 live blocks of 16–256 B, each step frees the oldest and allocates a new one, run under `valgrind --tool=callgrind` for {} and twice as many steps; the difference divided by the step count is one step's cost with start-up and exit cancelled, and the loop's own {} instructions per step (the same program with malloc and free replaced by stand-ins) are subtracted. Callgrind counts exactly, so this figure is free of the machine's noise.\n\
         - **resize** (instruction counts, the same way; loop {}): 1000 live blocks, each step reallocs the oldest to a new size of 16–256 B (most steps change its size class, so the block moves and its bytes are copied) and asks `malloc_usable_size`, as a growing string does.\n",
        c.churn_threads.as_deref().unwrap_or("thousands of"),
        c.ring_steps.as_deref().unwrap_or("N"),
        c.loop_instr
            .get("ring")
            .map_or("(not measured in this run)", String::as_str),
        c.loop_instr
            .get("resize")
            .map_or("not measured in this run", String::as_str)
    );
    if let Some(p) = &c.problem {
        let _ = writeln!(o, "> **Not measured in full**: {p}.\n");
    }
    if !c.libs.is_empty() {
        let _ = writeln!(
            o,
            "| allocator | preloaded library | version |\n|---|---|---|"
        );
        for a in C_ALLOCATORS {
            if let Some((lib, version)) = c.libs.get(a) {
                let _ = writeln!(o, "| {a} | {lib} | {version} |");
            }
        }
        let _ = writeln!(o);
    }
    figure_table(o, &c.rows, "program (ops/s)", &C_ALLOCATORS, true);
    let _ = writeln!(
        o,
        "\nInstructions per step inside the allocator, lower is better, with the ratio to memalloc's count in parentheses (below 1.00×: fewer instructions than memalloc):\n"
    );
    figure_table(o, &c.instr, "program (instructions)", &C_ALLOCATORS, false);
}

/// The chart: throughput by thread count of (c), (d), (f), (i) and (j), one
/// panel each in a grid of two columns, one line per allocator, from the
/// global-allocator rows.
fn svg(rows: &[Row]) -> String {
    const COLORS: [&str; 4] = ["#d62728", "#7f7f7f", "#1f77b4", "#2ca02c"];
    let panels = [
        ("larson", "(c) larson: replacements/s", "threads"),
        ("prodcon", "(d) producer/consumer: messages/s", "threads"),
        ("large", "(f) large 64 KiB–32 MiB: buffers/s", "threads"),
        ("bursts", "(i) bursts of 16 B: objects/s", "threads"),
        (
            "threadchurn",
            "(j) thread churn: threads/s",
            "threads alive at a time",
        ),
    ];
    let (pw, ph, left, top, gap) = (380.0, 250.0, 70.0, 60.0, 90.0);
    let grid_rows = panels.len().div_ceil(2) as f64;
    let width = 2.0 * (pw + left) + 40.0;
    let height = top + grid_rows * (ph + gap) - gap + 70.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    // Legend.
    for (i, name) in names().enumerate() {
        let x = left + i as f64 * 120.0;
        let _ = writeln!(
            s,
            r#"<line x1="{x}" y1="18" x2="{}" y2="18" stroke="{}" stroke-width="3"/><text x="{}" y="22">{name}</text>"#,
            x + 24.0,
            COLORS[i],
            x + 30.0
        );
    }
    for (p, (key, title, xlabel)) in panels.iter().enumerate() {
        let x0 = left + (p % 2) as f64 * (pw + left + 40.0);
        let top = top + (p / 2) as f64 * (ph + gap);
        let pts: Vec<&Row> = rows
            .iter()
            .filter(|r| r.chart.is_some_and(|c| c.0 == *key))
            .collect();
        let mut threads: Vec<usize> = pts.iter().filter_map(|r| r.chart.map(|c| c.1)).collect();
        threads.sort_unstable();
        threads.dedup();
        let max = pts
            .iter()
            .flat_map(|r| r.rate.values().copied())
            .fold(0.0, f64::max)
            .max(1.0);
        let ymax = nice_ceiling(max);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle" font-size="13" font-weight="bold">{title}</text>"#,
            x0 + pw / 2.0,
            top - 12.0
        );
        let _ = writeln!(
            s,
            r##"<rect x="{x0}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>"##
        );
        for k in 0..=5 {
            let v = ymax * k as f64 / 5.0;
            let y = top + ph - ph * k as f64 / 5.0;
            let _ = writeln!(
                s,
                r##"<line x1="{x0}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
                x0 + pw,
                x0 - 6.0,
                y + 4.0,
                tick(v)
            );
        }
        let xpos = |i: usize| x0 + pw * (i as f64 + 0.5) / threads.len().max(1) as f64;
        for (i, t) in threads.iter().enumerate() {
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle">{t}</text>"#,
                xpos(i),
                top + ph + 16.0
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{xlabel}</text>"#,
            x0 + pw / 2.0,
            top + ph + 34.0
        );
        for (a, name) in names().enumerate() {
            let mut line = Vec::new();
            for (i, t) in threads.iter().enumerate() {
                if let Some(v) = pts
                    .iter()
                    .find(|r| r.chart.map(|c| c.1) == Some(*t))
                    .and_then(|r| r.rate.get(name))
                {
                    line.push((xpos(i), top + ph - ph * v / ymax));
                }
            }
            let path: Vec<String> = line.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
                path.join(" "),
                COLORS[a]
            );
            for (x, y) in line {
                let _ = writeln!(
                    s,
                    r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{}"/>"#,
                    COLORS[a]
                );
            }
        }
    }
    let _ = writeln!(
        s,
        r##"<text x="{left}" y="{}" fill="#555">Each allocator as #[global_allocator]; ops/s, higher is better. See BENCHMARKS.md for the machine and run.</text>"##,
        height - 10.0
    );
    s.push_str("</svg>\n");
    s
}

/// An axis label: 0, 500 k, 2.5 M, 100 M.
fn tick(v: f64) -> String {
    let (x, unit) = if v >= 1e9 {
        (v / 1e9, " G")
    } else if v >= 1e6 {
        (v / 1e6, " M")
    } else if v >= 1e3 {
        (v / 1e3, " k")
    } else {
        (v, "")
    };
    let digits = format!("{x:.2}");
    let digits = digits.trim_end_matches('0').trim_end_matches('.');
    format!("{digits}{unit}")
}

/// The smallest of 1, 2, 2.5, 5 × 10^k that is at least `x`.
fn nice_ceiling(x: f64) -> f64 {
    let p = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&v| v >= x)
        .unwrap_or(10.0 * p)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn command_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into())
}

fn git_commit(root: &Path) -> String {
    let root = root.to_string_lossy();
    let head = command_line("git", &["-C", &root, "rev-parse", "--short=12", "HEAD"]);
    let dirty = command_line(
        "git",
        &["-C", &root, "status", "--porcelain", "--untracked-files=no"],
    );
    if dirty.is_empty() {
        head
    } else {
        format!("{head} (with uncommitted changes)")
    }
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "nproc {nproc}, {model}, {:.0} GiB RAM, Linux {}",
        mem_kib as f64 / (1024.0 * 1024.0),
        kernel.trim()
    )
}

/// `YYYY-MM-DD HH:MM UTC` from the system clock.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}
