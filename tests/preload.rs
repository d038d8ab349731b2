//! Real programs with the override library in `LD_PRELOAD`: python3, perl,
//! `sort` and git each run once without it and once with it, on the same
//! generated input; the outputs must be identical and both exit statuses
//! zero. Each program also shows that it really ran on memalloc (the
//! library is in its `/proc/<pid>/maps`). The wall-clock ratio
//! (with / without) of each pair is printed; see it with `--nocapture`.
//! Timing is reported, never asserted.
//!
//! glibc only: the programs are the system's (glibc) python3, perl, sort
//! and git, and the override library is a `cdylib`, which Rust does not
//! build for musl (a static musl program replaces `malloc` by linking
//! `libmemalloc.a`: `tests/c_musl.rs`).
// Not built under `--cfg loom`: that run is for the loom models, and these
// tests (real threads and programs) already run in plain `cargo test`.
#![cfg(all(target_os = "linux", target_env = "gnu", not(loom)))]

mod common;
#[path = "c/support.rs"]
mod support;

use common::Rng;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::{Flavour, run_ok, shared_lib, work_dir};

const LIMIT: Duration = Duration::from_secs(120);

/// The programs run one at a time, so that the two runs of a pair see the
/// same machine and the printed ratios mean something.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Finds `program` on PATH, failing with a hint if it is missing.
fn require(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{program}` is not installed (see .ci/run for the Debian packages)")
        })
}

/// Runs the command built by `make` (given a fresh scratch directory)
/// without and with the override library; asserts success and identical
/// stdout; returns the stderr of the preloaded run.
fn compare(name: &str, make: impl Fn(&Path) -> Command) -> String {
    compare_timed(name, 1, make)
}

/// [`compare`], with `rounds` alternating pairs of runs; the printed times
/// are the fastest of each kind (the first run also warms the page cache).
fn compare_timed(name: &str, rounds: usize, make: impl Fn(&Path) -> Command) -> String {
    let lib = shared_lib(Flavour::Override);
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut outputs = Vec::new();
    let mut times = [Duration::MAX; 2];
    for (round, run, preload) in
        (0..rounds).flat_map(|r| [(r, "system", false), (r, "memalloc", true)])
    {
        let dir = work_dir("preload").join(name).join(run);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = make(&dir);
        cmd.current_dir(&dir);
        if preload {
            cmd.env("LD_PRELOAD", &lib);
        } else {
            cmd.env_remove("LD_PRELOAD");
        }
        let start = Instant::now();
        let out = run_ok(&mut cmd, LIMIT);
        let t = &mut times[preload as usize];
        *t = (*t).min(start.elapsed());
        if round == 0 {
            outputs.push(out);
        } else {
            assert_eq!(
                out.stdout, outputs[preload as usize].stdout,
                "{name}: {run} output changed between rounds"
            );
        }
    }
    let (a, b) = (&outputs[0].stdout, &outputs[1].stdout);
    assert!(!a.is_empty(), "{name}: no output to compare");
    if a != b {
        let first = a
            .iter()
            .zip(b.iter())
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        panic!(
            "{name}: output differs under LD_PRELOAD at byte {first} (lengths {} and {})\nsystem: {:?}\nmemalloc: {:?}",
            a.len(),
            b.len(),
            String::from_utf8_lossy(&a[first.saturating_sub(80)..(first + 80).min(a.len())]),
            String::from_utf8_lossy(&b[first.saturating_sub(80)..(first + 80).min(b.len())]),
        );
    }
    println!(
        "{name}: system malloc {:.2} s, memalloc {:.2} s, ratio memalloc/system {:.2}",
        times[0].as_secs_f64(),
        times[1].as_secs_f64(),
        times[1].as_secs_f64() / times[0].as_secs_f64()
    );
    String::from_utf8_lossy(&outputs[1].stderr).into_owned()
}

/// Appends a made-up word of 1–4 syllables to `out` (short ones more
/// frequent, as in real text).
fn word(rng: &mut Rng, out: &mut String) {
    const SYL: [&str; 16] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "qu", "ba", "do", "fe", "gi", "ho",
        "ju",
    ];
    let n = 1 + (rng.next() % 4).min(rng.next() % 4);
    for _ in 0..n {
        out.push_str(SYL[(rng.next() % 16) as usize]);
    }
}

/// Writes `lines` lines of words and numbers to `path` (once; reused).
fn text_input(path: &Path, lines: usize, seed: u64) {
    if path.exists() {
        return;
    }
    let mut rng = Rng::new(seed);
    let mut s = String::with_capacity(lines * 40);
    for _ in 0..lines {
        let words = 2 + rng.next() % 6;
        for w in 0..words {
            if w > 0 {
                s.push(' ');
            }
            if rng.next().is_multiple_of(5) {
                let _ = write!(s, "{}", rng.next() % 100_000);
            } else {
                word(&mut rng, &mut s);
            }
        }
        s.push('\n');
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, s).unwrap();
    std::fs::rename(tmp, path).unwrap();
}

fn assert_memalloc_mapped(name: &str, evidence: &str) {
    assert!(
        evidence.contains("libmemalloc"),
        "{name}: libmemalloc.so is not in the preloaded process's maps:\n{evidence}"
    );
}

const PYTHON_SCRIPT: &str = r#"
import hashlib, sys, threading

def lcg(x):
    return (x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF

def build(seed, results, idx):
    d = {}
    x = seed
    for i in range(150000):
        x = lcg(x)
        d.setdefault("k%x" % (x >> 44), []).append(i)
    items = sorted(d.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    h = hashlib.sha256()
    for k, v in items:
        h.update(k.encode())
        h.update(str(sum(v)).encode())
    results[idx] = (len(d), h.hexdigest())

results = [None] * 4
threads = [threading.Thread(target=build, args=(s + 1, results, s)) for s in range(4)]
for t in threads:
    t.start()

# Meanwhile the main thread builds and discards large containers.
big = {i: str(i) * (i % 7 + 1) for i in range(300000)}
lists = [[j for j in range(i % 100)] for i in range(30000)]
for i in range(0, 300000, 2):
    del big[i]
text = "".join(big[i] for i in sorted(big) if i % 3 == 0)
grown = []
for i in range(200000):
    grown.append(bytearray(i % 300))
for t in threads:
    t.join()
print(len(big), sum(len(l) for l in lists), len(text), sum(len(b) for b in grown))
for r in results:
    print(*r)
print(hashlib.sha256(text.encode()).hexdigest())

with open("/proc/self/maps") as f:
    sys.stderr.write("".join(l for l in f if "memalloc" in l))
"#;

#[test]
fn python3_builds_the_same_dicts_and_lists_with_memalloc() {
    let python = require("python3");
    // Resolve a version-manager shim to the real interpreter, so the timing
    // is of Python, not of the shim.
    let out = Command::new(&python)
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("run python3");
    let exe = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let python = if out.status.success() && !exe.is_empty() {
        PathBuf::from(exe)
    } else {
        python
    };
    let stderr = compare_timed("python3", 2, |_| {
        let mut c = Command::new(&python);
        // Every object through malloc, not only those pymalloc passes on.
        c.env("PYTHONMALLOC", "malloc")
            .env("PYTHONHASHSEED", "0")
            .args(["-c", PYTHON_SCRIPT]);
        c
    });
    assert_memalloc_mapped("python3", &stderr);
}

const PYTHON_THREADS_SCRIPT: &str = r#"
import os, sys

buf = bytearray(64 << 20)
buf[::4096] = b"\x01" * len(range(0, len(buf), 4096))
assert sum(buf[::4096]) == len(range(0, len(buf), 4096))
del buf
with open("/proc/self/status") as f:
    print(next(l for l in f if l.startswith("Threads:")).split()[1])

with open("/proc/self/maps") as f:
    sys.stderr.write("".join(l for l in f if "memalloc" in l))
"#;

#[test]
fn python3_stays_single_threaded_after_freeing_a_large_buffer_with_memalloc() {
    let python = require("python3");
    let threads = |preload: bool| {
        let mut cmd = Command::new(&python);
        cmd.args(["-c", PYTHON_THREADS_SCRIPT]);
        if preload {
            cmd.env("LD_PRELOAD", shared_lib(Flavour::Override));
        } else {
            cmd.env_remove("LD_PRELOAD");
        }
        let out = run_ok(&mut cmd, LIMIT);
        let count = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (count, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (system, _) = threads(false);
    assert_eq!(
        system, "1",
        "python3 has other threads even without memalloc"
    );
    let (count, stderr) = threads(true);
    assert_memalloc_mapped("python3", &stderr);
    assert_eq!(count, "1", "memalloc started a thread in python3");
}

const PYTHON_PURGER_SCRIPT: &str = r#"
import os, sys, time

start = int(open("/proc/self/statm").read().split()[1]) * 4096
bufs = [bytearray(1 << 20) for _ in range(6)]
for b in bufs:
    b[::4096] = b"\x01" * len(range(0, len(b), 4096))
del bufs, b
time.sleep(0.5)
end = int(open("/proc/self/statm").read().split()[1]) * 4096
names = sorted(open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task"))
print(" ".join(names))
print(end - start)
with open("/proc/self/maps") as f:
    sys.stderr.write("".join(l for l in f if "memalloc" in l))
"#;

#[test]
fn memalloc_background_purge_env_starts_one_purger_thread_at_load() {
    let python = require("python3");
    let mut cmd = Command::new(&python);
    cmd.args(["-c", PYTHON_PURGER_SCRIPT])
        .env("LD_PRELOAD", shared_lib(Flavour::Override))
        .env("MEMALLOC_BACKGROUND_PURGE", "1");
    let out = run_ok(&mut cmd, LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_memalloc_mapped("python3", &String::from_utf8_lossy(&out.stderr));
    let mut lines = stdout.lines();
    let names = lines.next().unwrap_or("");
    assert_eq!(
        names.split(' ').filter(|n| *n == "memalloc-purge").count(),
        1,
        "one purger thread, named: {names}"
    );
    assert_eq!(
        names.split(' ').count(),
        2,
        "python3 and the purger: {names}"
    );
    // Below the dirty-page bound, freed pages only go back on a timer:
    // the purger's, as nothing else runs while python sleeps.
    let grown: i64 = lines
        .next()
        .unwrap_or("")
        .trim()
        .parse()
        .unwrap_or(i64::MAX);
    assert!(
        grown < 2 << 20,
        "6 MiB freed and idle stayed resident: {grown} bytes"
    );
}

const PERL_SCRIPT: &str = r#"
use strict;
use warnings;
my (%count, %by_len, @kept);
my $lines = 0;
while (my $line = <>) {
    chomp $line;
    $lines++;
    for my $w (split / /, $line) {
        $count{$w}++;
        push @{ $by_len{ length $w } }, $w if $count{$w} == 1;
    }
    (my $t = $line) =~ s/(\d+)/<$1>/g;
    $t =~ s/\b(\w)(\w*)/\U$1\E$2/g;
    push @kept, scalar reverse $t if $lines % 7 == 0;
}
my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 49];
print "lines $lines distinct ", scalar(keys %count), "\n";
print "$_ $count{$_}\n" for @top;
print "len $_: ", scalar @{ $by_len{$_} }, "\n" for sort { $a <=> $b } keys %by_len;
my $all = join "\n", sort @kept;
print "kept ", scalar @kept, " bytes ", length $all, " sum ", unpack("%32C*", $all), "\n";
open my $maps, '<', '/proc/self/maps' or die;
print STDERR grep { /memalloc/ } <$maps>;
"#;

#[test]
fn perl_processes_the_same_text_with_memalloc() {
    let perl = require("perl");
    let input = work_dir("preload").join("perl-input.txt");
    text_input(&input, 400_000, 11);
    let stderr = compare("perl", |_| {
        let mut c = Command::new(&perl);
        c.args(["-e", PERL_SCRIPT]).arg(&input);
        c
    });
    assert_memalloc_mapped("perl", &stderr);
}

#[test]
fn sort_orders_a_large_file_the_same_with_memalloc() {
    let sort = require("sort");
    let input = work_dir("preload").join("sort-input.txt");
    text_input(&input, 1_000_000, 7);
    compare_timed("sort", 3, |_| {
        let mut c = Command::new(&sort);
        // Several threads and a large buffer: sort's own parallel merge.
        c.env("LC_ALL", "C")
            .args(["--parallel=2", "-S", "256M", "-k2,2", "-k1,1n"])
            .arg(&input);
        c
    });
    let out = run_ok(
        Command::new(&sort)
            .arg("/proc/self/maps")
            .env("LD_PRELOAD", shared_lib(Flavour::Override)),
        LIMIT,
    );
    assert_memalloc_mapped("sort", &String::from_utf8_lossy(&out.stdout));
}

const GIT_SCRIPT: &str = r#"
set -e
git init -q -b main repo
cd repo
i=0
while [ $i -lt 300 ]; do
    d=dir$((i % 12))/sub$((i % 5))
    mkdir -p $d
    j=0
    : > $d/file$i.txt
    while [ $j -lt 30 ]; do
        echo "line $j of file $i: $((i * j * 7919 % 10007)) lorem ipsum dolor sit amet" >> $d/file$i.txt
        j=$((j + 1))
    done
    i=$((i + 1))
done
git add .
git commit -q -m "Add 300 files"
for f in $(git ls-files | head -80); do echo "changed $f" >> $f; done
git mv dir0 moved0
git commit -q -am "Change 80 files and move a directory"
git log --stat --format='%H %s'
git gc -q --aggressive
git count-objects -v | grep -E '^(count|in-pack|packs):'
git fsck --full --no-progress
git rev-list --all --objects | wc -l
git -c alias.maps='!cat /proc/$PPID/maps' maps | grep memalloc >&2 || true
"#;

#[test]
fn git_commits_logs_and_gcs_the_same_with_memalloc() {
    require("git");
    let stderr = compare("git", |dir| {
        let mut c = Command::new("sh");
        c.args(["-c", GIT_SCRIPT])
            .env("HOME", dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "memalloc test")
            .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
            .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
            .env("GIT_COMMITTER_NAME", "memalloc test")
            .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
            .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
            .env("LC_ALL", "C");
        c
    });
    assert_memalloc_mapped("git", &stderr);
}
