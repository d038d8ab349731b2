# Shared by the mutation-testing scripts, loom-tests/mutants/run.sh and
# tests/area/mutants/run.sh, which source it (after `set -euo pipefail`):
# the list of planted bugs to try, and the pristine copy of the work tree
# each one is applied to.
#
# The caller's work tree is never modified: its files (tracked and
# untracked, not ignored) are copied to a temporary directory, and each
# mutant is applied to a fresh copy of those pristine sources there.

# mutants_setup ROOT NAME MUTANTS_DIR [PATCH...]
#
# Sets `patches` to the PATCH arguments (default: every *.patch in
# MUTANTS_DIR); `scratch` to a new temporary directory whose name starts
# with NAME, removed when the script exits; `pristine` to a copy there of
# ROOT's work-tree files; and `work` to where `fresh_copy` puts each
# mutant's copy.
mutants_setup() {
    local src="$1" name="$2" dir="$3"
    shift 3
    if [ "$#" -gt 0 ]; then
        patches=("$@")
    else
        patches=("$dir"/*.patch)
    fi
    scratch="$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")"
    trap 'rm -rf "$scratch"' EXIT
    pristine="$scratch/pristine"
    work="$scratch/repo"
    mkdir -p "$pristine"
    (cd "$src" && git ls-files -co --exclude-standard -z |
        tar --null -T - -cf - 2>/dev/null) | tar -xf - -C "$pristine"
}

# A fresh copy of the pristine sources in $work, with new modification
# times so cargo never takes the previous mutant's build as up to date.
fresh_copy() {
    rm -rf "$work"
    cp -R "$pristine" "$work"
    find "$work" -type f -exec touch {} +
}
