#!/usr/bin/env bash
# Prepares a wine prefix that runs Rust programs built for
# x86_64-pc-windows-gnu: builds the bcryptprimitives.dll stand-in
# (bcryptprimitives.c) with mingw and installs it into the prefix's
# system32. Debian's wine 8.0 lacks that DLL, which Rust's std imports.
#
# Usage: ci/wine/setup.sh   (WINEPREFIX defaults to ~/.wine)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export WINEPREFIX="${WINEPREFIX:-$HOME/.wine}"
export WINEDEBUG="${WINEDEBUG:--all}"
# Debian's wine64 package puts its loader in /usr/lib/wine without a
# /usr/bin wrapper unless the `wine` package is installed too.
wine="$(command -v wine64 || command -v wine || echo /usr/lib/wine/wine64)"
PATH="$PATH:/usr/lib/wine"
out="${TMPDIR:-/tmp}/memalloc-wine"
mkdir -p "$out"
x86_64-w64-mingw32-gcc -O2 -shared -o "$out/bcryptprimitives.dll" \
    "$here/bcryptprimitives.c" -ladvapi32
# Creates the prefix on first use (quietly, without the Mono/Gecko prompts).
WINEDLLOVERRIDES="mscoree,mshtml=" "$wine" wineboot --init >/dev/null 2>&1 || true
wineserver -w || true
system32="$WINEPREFIX/drive_c/windows/system32"
test -d "$system32" || { echo "no wine prefix at $WINEPREFIX" >&2; exit 1; }
cp "$out/bcryptprimitives.dll" "$system32/bcryptprimitives.dll"
echo "installed $system32/bcryptprimitives.dll"
