#!/usr/bin/env bash
# Builds the C benchmarks and runs each under LD_PRELOAD of every allocator
# that is installed: memalloc's override library, glibc's malloc (nothing
# preloaded), and Debian's jemalloc, tcmalloc (minimal) and mimalloc.
#
#     bench-c/run.sh [--quick] [--out DIR]
#
# Needs gcc; valgrind for the instruction counts; the peers from
#     apt-get install libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0
# A peer that is not installed, or a tool that is missing, gives a
# `status=missing` line instead of figures; the run goes on.
#
# Results go to stdout, one line each, for the report example to parse:
#
#     c alloc=jemalloc status=ok lib=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 version=5.3.0-1
#     c alloc=jemalloc prog=larson threads=4 ops=5000000 secs=0.1234 ops_per_sec=40518638
#     c alloc=jemalloc prog=ring threads=1 steps=100000 instr_per_pair=58.6 loop_instr_per_step=32.0
#     c alloc=jemalloc prog=resize threads=1 steps=100000 instr_per_pair=540.1 loop_instr_per_step=21.0
#     c alloc=tcmalloc status=missing what=libtcmalloc_minimal.so.4 package=libtcmalloc-minimal4
#     c alloc=mimalloc prog=threads threads=8 status=failed exit=134
#
# Progress and the programs' stderr go to stderr. Binaries and memalloc's
# override build go to DIR (default: target/bench-c at the repository
# root); the override library is built there with its own target directory,
# so no other build of memalloc can overwrite it between build and use.
# MEMALLOC_SO=/path/libmemalloc.so uses that library instead.

set -u

root=$(cd "$(dirname "$0")/.." && pwd)
quick=0
out="$root/target/bench-c"
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --out)
        out=${2:?--out needs a directory}
        shift
        ;;
    *)
        echo "usage: $0 [--quick] [--out DIR]" >&2
        exit 2
        ;;
    esac
    shift
done

# Sizes of one run: (full, quick). Repeats take the median run.
if [ $quick = 1 ]; then
    repeat=1
    mixed_ops=1000000
    larson_ops=500000
    churn_threads=200
    ring_steps=10000
else
    repeat=3
    mixed_ops=50000000
    larson_ops=20000000
    churn_threads=4000
    ring_steps=100000
fi
churn_alive=8
churn_ops=2000
programs="mixed larson threads ring resize"
# Counted under callgrind: free+malloc (ring), realloc+malloc_usable_size
# (resize); `instr_per_pair` is one step's instructions inside the allocator.
counted="ring resize"

say() { echo "== $*" >&2; }

# --- build -----------------------------------------------------------------

mkdir -p "$out/bin"
if ! command -v gcc >/dev/null; then
    echo "c alloc=all status=missing what=gcc package=gcc"
    exit 0
fi
for p in $programs; do
    say "gcc -O2 $p.c"
    if ! gcc -O2 -Wall -Wextra -pthread -o "$out/bin/$p" "$root/bench-c/$p.c" -lm; then
        echo "c alloc=all prog=$p status=failed what=gcc"
        exit 1
    fi
done

memalloc_so=${MEMALLOC_SO:-}
memalloc_built=1
if [ -z "$memalloc_so" ]; then
    say "cargo c-lib --release --features override (target dir $out/cargo)"
    if (cd "$root" && "${CARGO:-cargo}" rustc --release --lib --crate-type cdylib \
        --features override --target-dir "$out/cargo" >&2); then
        memalloc_so="$out/cargo/release/libmemalloc.so"
    else
        memalloc_built=0
    fi
fi

# --- the allocators --------------------------------------------------------

# Path of an installed shared library: from the Debian package's file list,
# else from the dynamic linker's cache.
find_lib() { # package soname
    local p
    p=$(dpkg -L "$1" 2>/dev/null | grep -m1 "/$2\$")
    [ -z "$p" ] && p=$(ldconfig -p 2>/dev/null | awk -v s="$2" '$1 == s { print $NF; exit }')
    [ -n "$p" ] && [ -e "$p" ] && echo "$p"
}

# name, LD_PRELOAD value ("" = glibc) for each allocator that is present.
names=()
preloads=()
add() { # name preload
    names+=("$1")
    preloads+=("$2")
}
if [ -n "$memalloc_so" ] && [ -e "$memalloc_so" ]; then
    add memalloc "$memalloc_so"
    echo "c alloc=memalloc status=ok lib=$memalloc_so version=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo '?')"
elif [ $memalloc_built = 0 ]; then
    echo "c alloc=memalloc status=failed what=cargo-build"
else
    echo "c alloc=memalloc status=missing what=$memalloc_so"
fi
add glibc ""
echo "c alloc=glibc status=ok lib=none version=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{ print $2 }')"
for spec in jemalloc:libjemalloc2:libjemalloc.so.2 \
    tcmalloc:libtcmalloc-minimal4:libtcmalloc_minimal.so.4 \
    mimalloc:libmimalloc2.0:libmimalloc.so.2; do
    IFS=: read -r name pkg soname <<<"$spec"
    lib=$(find_lib "$pkg" "$soname")
    if [ -n "$lib" ]; then
        add "$name" "$lib"
        echo "c alloc=$name status=ok lib=$lib version=$(dpkg-query -W -f '${Version}' "$pkg" 2>/dev/null || echo '?')"
    else
        echo "c alloc=$name status=missing what=$soname package=$pkg"
    fi
done

# --- runs ------------------------------------------------------------------

err="$out/stderr"

# Runs one timed program and prints its result line with the allocator,
# program and thread count in front.
timed() { # name preload prog threads args...
    local name=$1 preload=$2 prog=$3 threads=$4 res rc
    shift 4
    res=$(LD_PRELOAD="$preload" "$out/bin/$prog" "$@" 2>"$err")
    rc=$?
    cat "$err" >&2
    if [ $rc != 0 ] || grep -q "cannot be preloaded" "$err"; then
        echo "c alloc=$name prog=$prog threads=$threads status=failed exit=$rc"
    else
        echo "c alloc=$name prog=$prog threads=$threads $res"
    fi
}

# Instructions callgrind counts for `PROG STEPS [null]` under a preload.
instructions() { # preload prog args...
    local preload=$1 prog=$2
    shift 2
    LD_PRELOAD="$preload" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$out/bin/$prog" "$@" >"$err" 2>&1
    grep -q "cannot be preloaded" "$err" || awk '/Collected :/ { print $NF }' "$err"
}

have_valgrind=1
command -v valgrind >/dev/null || have_valgrind=0
# Each counted program's loop alone, per step (its `null` run), by name.
declare -A loop
if [ $have_valgrind = 1 ]; then
    for prog in $counted; do
        say "$prog, the loop alone, under callgrind"
        a=$(instructions "" "$prog" "$ring_steps" null)
        b=$(instructions "" "$prog" $((2 * ring_steps)) null)
        [ -n "$a" ] && [ -n "$b" ] && loop[$prog]=$(awk -v a="$a" -v b="$b" -v n="$ring_steps" \
            'BEGIN { printf "%.1f", (b - a) / n }')
    done
fi

for i in "${!names[@]}"; do
    name=${names[$i]}
    preload=${preloads[$i]}
    say "$name: mixed"
    timed "$name" "$preload" mixed 1 "$mixed_ops" "$repeat"
    for t in 1 2 4 8; do
        say "$name: larson, $t thread(s)"
        timed "$name" "$preload" larson "$t" "$t" "$larson_ops" "$repeat"
    done
    say "$name: threads, $churn_threads in all, $churn_alive alive"
    timed "$name" "$preload" threads "$churn_alive" \
        "$churn_threads" "$churn_alive" "$churn_ops" "$repeat"
    for prog in $counted; do
        if [ $have_valgrind = 0 ]; then
            echo "c alloc=$name prog=$prog threads=1 status=missing what=valgrind package=valgrind"
            continue
        fi
        say "$name: $prog under callgrind, $ring_steps and $((2 * ring_steps)) steps"
        a=$(instructions "$preload" "$prog" "$ring_steps")
        b=$(instructions "$preload" "$prog" $((2 * ring_steps)))
        if [ -z "$a" ] || [ -z "$b" ] || [ -z "${loop[$prog]:-}" ]; then
            echo "c alloc=$name prog=$prog threads=1 status=failed what=callgrind"
            continue
        fi
        awk -v name="$name" -v prog="$prog" -v a="$a" -v b="$b" -v n="$ring_steps" \
            -v loop="${loop[$prog]}" 'BEGIN {
            printf "c alloc=%s prog=%s threads=1 steps=%d instr_per_pair=%.1f loop_instr_per_step=%s\n",
                name, prog, n, (b - a) / n - loop, loop
        }'
    done
done
