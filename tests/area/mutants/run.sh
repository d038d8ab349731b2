#!/usr/bin/env bash
# Mutation testing for the area heap's tests and checker: applies each
# planted bug in tests/area/mutants/*.patch to a scratch copy of the
# repository, runs the area heap's tests against it (tests/area_heap.rs,
# tests/area_model.rs), and expects them to fail.
#
#   tests/area/mutants/run.sh [PATCH...]   (default: every *.patch here)
#
# The caller's work tree is never modified: each mutant is applied to a
# fresh copy of it in a temporary directory (ci/mutants-lib.sh, shared with
# loom-tests/mutants/run.sh). Builds share one CARGO_TARGET_DIR
# (AREA_MUTANTS_TARGET_DIR, default target/area-mutants), so only memalloc
# recompiles per mutant. A run that hangs past MUTANT_TIMEOUT seconds
# (default 120) or crashes also kills the mutant.
#
# Prints `mutant | result | first failure` and exits non-zero if the
# unmutated tests fail, or any mutant survives, fails to apply or fails to
# build.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
mutants_dir="$root/tests/area/mutants"
target_dir="${AREA_MUTANTS_TARGET_DIR:-$root/target/area-mutants}"
timeout_s="${MUTANT_TIMEOUT:-120}"

# shellcheck source=../../../ci/mutants-lib.sh
source "$root/ci/mutants-lib.sh"
mutants_setup "$root" memalloc-area-mutants "$mutants_dir" "$@"

# Builds the area tests in $work; non-zero if the build fails.
build() {
    (cd "$work" && CARGO_TARGET_DIR="$target_dir" \
        cargo test --test area_heap --test area_model --no-run \
        >"$scratch/build.log" 2>&1)
}

# Runs them; non-zero if any test fails, crashes or times out. The output
# is in $scratch/run.log.
run() {
    (cd "$work" && CARGO_TARGET_DIR="$target_dir" RUST_BACKTRACE=0 \
        timeout "$timeout_s" cargo test --test area_heap --test area_model \
        >"$scratch/run.log" 2>&1)
}

# The first failing test, or the first panic message.
first_failure() {
    { grep -m1 -E '^test .* FAILED$' "$scratch/run.log" ||
        grep -m1 -E 'panicked|timed out|error' "$scratch/run.log" ||
        echo "(no message)"; } | cut -c1-120
}

fresh_copy
build || { echo "the unmutated sources do not build:"; tail -20 "$scratch/build.log"; exit 1; }
run || { echo "the unmutated area tests fail:"; tail -30 "$scratch/run.log"; exit 1; }

status=0
echo "mutant | result | first failure"
for p in "${patches[@]}"; do
    name="$(basename "$p" .patch)"
    fresh_copy
    if ! (cd "$work" && patch -p1 --quiet <"$p"); then
        echo "$name | DID NOT APPLY |"
        status=1
        continue
    fi
    if ! build; then
        echo "$name | DID NOT BUILD | $(grep -m1 '^error' "$scratch/build.log")"
        status=1
        continue
    fi
    if run; then
        echo "$name | SURVIVED |"
        status=1
    else
        echo "$name | killed | $(first_failure)"
    fi
done
exit "$status"
