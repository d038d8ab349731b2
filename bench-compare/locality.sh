#!/usr/bin/env bash
# Cache locality of the allocators on the loopback server (workload (h)):
# the CPU each spends per request (perf stat), and the L1 data-cache misses
# of the allocator's own code (cachegrind's simulated D1, summed over the
# functions that belong to the allocator).
#
#   bench-compare/locality.sh [REQUESTS_PERF] [REQUESTS_CACHEGRIND]
#
# Defaults: 100000 requests under perf stat, 5000 under cachegrind. Needs
# perf (Debian linux-perf) and valgrind, and builds the ga_* examples.
# Prints one `locality` line per allocator and measure.
set -euo pipefail
cd "$(dirname "$0")/.."
perf_requests="${1:-100000}"
cg_requests="${2:-5000}"
cargo build --release -q -p memalloc-bench --examples
out="$(mktemp -d "${TMPDIR:-/tmp}/locality.XXXXXX")"
trap 'rm -rf "$out"' EXIT

# What counts as the allocator's own code: Rust's allocator shims (memalloc
# inlines its fast paths into them), memalloc's functions, and the peers' C
# sources.
declare -A code=(
    [memalloc]=':memalloc::'
    [mimalloc]='libmimalloc-sys'
    [jemalloc]='jemalloc-sys'
    [system]='/malloc/(malloc|arena)\.c:'
)

for a in memalloc mimalloc jemalloc system; do
    exe="target/release/examples/ga_$a"
    perf stat -x, -e task-clock,user_time,system_time -o "$out/perf.$a" \
        "$exe" time server "$perf_requests" >/dev/null
    valgrind --tool=cachegrind --cache-sim=yes --cachegrind-out-file="$out/cg.$a" \
        "$exe" time server "$cg_requests" >/dev/null 2>&1
    cg_annotate --threshold=0 --show=Ir,D1mr,D1mw "$out/cg.$a" >"$out/ann.$a"
    python3 - "$a" "$perf_requests" "$cg_requests" "${code[$a]}" "$out" <<'EOF'
import re, sys
alloc, preq, creq, pattern, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
perf = {}
for line in open(f"{out}/perf.{alloc}"):
    f = line.strip().split(",")
    if len(f) > 2 and f[0].replace(".", "").isdigit():
        perf[f[2]] = float(f[0])
task_us = perf["task-clock"] * 1000 / preq          # task-clock is in ms
user_us = perf["user_time"] / 1000 / preq           # user_time is in ns
ir = rd = wr = 0
row = re.compile(r"\s*([\d,]+)\s+\([^)]*\)\s+([\d,]+)\s*(?:\([^)]*\))?\s+([\d,]+)\s*(?:\([^)]*\))?\s+(\S.*)$")
for line in open(f"{out}/ann.{alloc}"):
    if line.startswith("-- Auto-annotated"):
        break                                      # the summary ends here
    m = row.match(line)
    if not m:
        continue
    where = m.group(4)
    function = where.split(":", 1)[-1]
    if re.search(r"__rust_(alloc|dealloc|realloc|alloc_zeroed)$", function) or re.search(pattern, where):
        ir += int(m.group(1).replace(",", ""))
        rd += int(m.group(2).replace(",", ""))
        wr += int(m.group(3).replace(",", ""))
print(f"locality alloc={alloc} cpu_us_per_request={task_us:.2f} user_us_per_request={user_us:.2f} "
      f"alloc_instr_per_request={ir / creq:.0f} alloc_d1_read_misses_per_request={rd / creq:.1f} "
      f"alloc_d1_write_misses_per_request={wr / creq:.1f}")
EOF
done
