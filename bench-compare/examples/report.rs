//! Runs a reduced benchmark suite and writes `BENCHMARKS.md` and
//! `benchmarks.svg` (at the workspace root unless `--out DIR`).
//!
//! ```text
//! cargo run --release -p memalloc-bench --example report            # about 5–8 min on 2 cores
//! cargo run --release -p memalloc-bench --example report -- --quick # about 2 min, checks the pipeline
//! ```
//!
//! Steps: builds the `ga_*` examples; runs the criterion groups (a)–(f) of
//! `memalloc_bench::suite` in this process (warm-up 1 s, measurement 2 s
//! per function); runs each `ga_*` program's `throughput` (c, d, g, h as
//! `#[global_allocator]`, median of 3) and, one process per allocator and
//! scenario, `memory`; then writes the report. Figures are throughputs and
//! RSS; every ratio is against memalloc in the same run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use criterion::Criterion;
use memalloc_bench::ALLOCATORS;

/// Allocator names in report order.
fn names() -> impl Iterator<Item = &'static str> {
    ALLOCATORS.iter().map(|a| a.0)
}

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
    /// Thread count for the chart (larson and prodcon rows).
    chart: Option<(&'static str, usize)>,
    rate: BTreeMap<String, f64>,
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
    let criterion_rows = criterion_rows(&crit_dir);

    // 3. Global-allocator throughput, one process per allocator.
    let repeat = if opts.quick { "1" } else { "3" };
    let mut ga_lines = Vec::new();
    for (_, bin) in ALLOCATORS {
        eprintln!("== {bin} throughput");
        let mut args = vec!["throughput", "--repeat", repeat];
        if opts.quick {
            args.push("--quick");
        }
        ga_lines.extend(run_lines(&exe_dir.join(bin), &args, "ga "));
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
        raw_lines: ga_lines.iter().chain(&mem_lines).cloned().collect(),
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
                g => (format!("{g} {param}"), None),
            };
            let row = Row {
                label,
                chart,
                rate: ns.into_iter().map(|(a, ns)| (a, 1e9 / ns)).collect(),
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
            }),
        }
    }
    rows
}

struct Context<'a> {
    root: &'a Path,
    quick: bool,
    command: &'a str,
    load: (String, String),
    criterion_rows: &'a [Row],
    ga_rows: &'a [Row],
    mem: &'a BTreeMap<(String, String), Mem>,
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

/// A throughput table: each cell "figure (ratio to memalloc)", best in bold.
fn rate_table(out: &mut String, rows: &[Row], unit: &str) {
    let _ = writeln!(
        out,
        "| workload ({unit}) | {} |",
        names().collect::<Vec<_>>().join(" | ")
    );
    let _ = writeln!(out, "|---|{}", "---:|".repeat(ALLOCATORS.len()));
    for r in rows {
        let base = r.rate.get("memalloc").copied();
        let best = r.rate.values().copied().fold(0.0, f64::max);
        let cells: Vec<String> = names()
            .map(|a| match (r.rate.get(a), base) {
                (Some(&x), Some(b)) => {
                    let cell = format!("{} ({:.2}×)", si(x), x / b);
                    if x == best {
                        format!("**{cell}**")
                    } else {
                        cell
                    }
                }
                (Some(&x), None) => si(x),
                _ => "–".into(),
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
            let multithreaded = r.chart.is_some_and(|(_, t)| t >= 2) || r.label.starts_with("(h)");
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
        "Workloads (a)–(f) of `bench-compare/src/suite.rs`: one process, the same generic code monomorphised for each allocator, which is called directly through its `GlobalAlloc` impl; only those calls are timed (bookkeeping arrays and queues are set up outside the timed part and never allocate while it runs). Figure: operations per second from criterion's median time per iteration. In (d) the queue between threads is a fixed ring, so the messages are the only allocations.\n"
    );
    rate_table(&mut o, cx.criterion_rows, "ops/s");

    let _ = writeln!(o, "\n## As the process's `#[global_allocator]`\n");
    let _ = writeln!(
        o,
        "Workloads (c), (d), (g), (h) written as ordinary Rust (`Box`, `Vec`, `String`, `BTreeMap`, `HashMap`, `mpsc::sync_channel`, `TcpStream`), one `ga_*` process per allocator, so every allocation of the workload, its collections and its channels goes to the allocator under test. Figure: the median of {} timed runs. The server is a pool of 4 threads answering 4 client threads over 127.0.0.1, bodies of 100 B–64 KiB. The chart shows (c) and (d) from this table.\n",
        if cx.quick { 1 } else { 3 }
    );
    rate_table(&mut o, cx.ga_rows, "ops/s");

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

/// The chart: (c) and (d) throughput by thread count, one line per
/// allocator, from the global-allocator rows.
fn svg(rows: &[Row]) -> String {
    const COLORS: [&str; 4] = ["#d62728", "#7f7f7f", "#1f77b4", "#2ca02c"];
    let (pw, ph, left, top) = (380.0, 250.0, 70.0, 60.0);
    let width = 2.0 * (pw + left) + 40.0;
    let height = top + ph + 70.0;
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
    let panels = [
        ("larson", "(c) larson: replacements/s by threads"),
        ("prodcon", "(d) producer/consumer: messages/s by threads"),
    ];
    for (p, (key, title)) in panels.iter().enumerate() {
        let x0 = left + p as f64 * (pw + left + 40.0);
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
            r#"<text x="{}" y="{}" text-anchor="middle">threads</text>"#,
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
