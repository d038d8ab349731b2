#!/usr/bin/env bash
# Mutation testing for the loom models: applies each planted bug in
# loom-tests/mutants/*.patch to a scratch copy of the repository, runs every
# loom model against it, and expects at least one model to fail.
#
#   loom-tests/mutants/run.sh [PATCH...]     (default: every *.patch here)
#
# The caller's work tree is never modified: each mutant is applied to a
# fresh copy of it in a temporary directory (ci/mutants-lib.sh, shared with
# tests/area/mutants/run.sh). Builds share one CARGO_TARGET_DIR
# (MUTANTS_TARGET_DIR, default target/mutants in the repository), so only
# memalloc itself recompiles per mutant.
#
# Prints `mutant | result | model | message` and exits non-zero if the
# unmutated models fail, or any mutant survives, fails to apply or fails to
# build. A model that crashes (an allocator abort) or exceeds
# MUTANT_TIMEOUT seconds (default 300) also kills the mutant.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mutants_dir="$root/loom-tests/mutants"
target_dir="${MUTANTS_TARGET_DIR:-$root/target/mutants}"
timeout_s="${MUTANT_TIMEOUT:-300}"

# shellcheck source=../../ci/mutants-lib.sh
source "$root/ci/mutants-lib.sh"
mutants_setup "$root" memalloc-mutants "$mutants_dir" "$@"

# The loom test targets (Cargo.toml [[test]] names) whose models run.
model_tests=(loom loom_binding)

# Builds the loom test binaries in $work; prints their paths, one a line
# (nothing if the build fails).
build() {
    local args=()
    for t in "${model_tests[@]}"; do args+=(--test "$t"); done
    (cd "$work" &&
        RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="$target_dir" \
            cargo test --release "${args[@]}" --no-run --message-format=json 2>"$scratch/build.log") |
        sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' || true
}

# Runs the models of every binary in $1 (one path a line); stops at the
# first failure, like run_models.
run_all() {
    local b
    for b in $1; do
        run_models "$b" || return 1
    done
    return 0
}

# Runs every model of binary $1 one per process. Sets `model` and
# `message` for the first model that fails; returns 1 if one failed.
run_models() {
    local bin="$1" name out rc
    model=""
    message=""
    for name in $("$bin" --list 2>/dev/null | sed -n 's/: test$//p'); do
        rc=0
        out="$(cd "$work" && timeout "$timeout_s" "$bin" --exact "$name" --test-threads 1 2>&1)" || rc=$?
        if [ "$rc" -ne 0 ]; then
            model="$name"
            if [ "$rc" -eq 124 ]; then
                message="timed out after ${timeout_s}s"
            else
                # The line after the first "panicked at", else an abort message.
                message="$(printf '%s\n' "$out" | sed -n '/panicked at/{n;p;q}')"
                if [ -z "$message" ]; then
                    message="$(printf '%s\n' "$out" | grep -m1 -E 'memalloc|signal|error' |
                        sed 's/^test .* \.\.\. //' || true)"
                fi
                [ -n "$message" ] || message="exit status $rc"
            fi
            return 1
        fi
    done
    return 0
}

start=$(date +%s)
status=0
fresh_copy
bins="$(build)"
if [ "$(printf '%s\n' "$bins" | grep -c .)" -ne "${#model_tests[@]}" ]; then
    echo "error: the unmutated loom models do not build:" >&2
    tail -n 20 "$scratch/build.log" >&2
    exit 2
fi
if ! run_all "$bins"; then
    echo "error: the unmutated models fail: $model: $message" >&2
    exit 2
fi

printf '%s | %s | %s | %s\n' mutant result model message
for patch in "${patches[@]}"; do
    name="$(basename "$patch" .patch)"
    fresh_copy
    if ! (cd "$work" && patch -p1 --batch --forward --silent <"$patch" >/dev/null 2>&1); then
        printf '%s | ERROR: does not apply | - | -\n' "$name"
        status=1
        continue
    fi
    bins="$(build)"
    if [ "$(printf '%s\n' "$bins" | grep -c .)" -ne "${#model_tests[@]}" ]; then
        printf '%s | ERROR: does not build | - | %s\n' "$name" \
            "$(grep -m1 '^error' "$scratch/build.log" || echo 'see cargo output')"
        status=1
        continue
    fi
    if run_all "$bins"; then
        printf '%s | SURVIVED | - | -\n' "$name"
        status=1
    else
        printf '%s | killed | %s | %.160s\n' "$name" "$model" "$message"
    fi
done
echo "($(($(date +%s) - start)) s)"
exit "$status"
