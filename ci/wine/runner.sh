#!/usr/bin/env bash
# Cargo runner for x86_64-pc-windows-gnu: runs the .exe under wine, quietly.
# Used as CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER by .ci/run (after
# ci/wine/setup.sh has prepared the prefix).
export WINEDEBUG="${WINEDEBUG:--all}"
wine="$(command -v wine64 || command -v wine || echo /usr/lib/wine/wine64)"
exec "$wine" "$@"
