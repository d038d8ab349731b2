#!/usr/bin/env bash
# Builds memalloc without std for thumbv7em-none-eabihf, then compiles and
# links .ci/nostd_bin.rs, a no_std program whose #[global_allocator] is an
# AreaHeap, against it. rustc links it directly: cargo cannot build the
# package as a dependency of a no_std program while the package also
# declares the C library's staticlib (README, Caveats).
set -euo pipefail
cd "$(dirname "$0")/.."
target=thumbv7em-none-eabihf
out=target/nostd-bin
cargo rustc --lib --no-default-features --target "$target" --crate-type rlib \
    --target-dir "$out/cargo"
lib="$out/cargo/$target/debug"
rustc --edition 2024 --target "$target" -C panic=abort -C opt-level=s \
    -C link-arg=--entry=Reset -D warnings \
    --extern memalloc="$lib/libmemalloc.rlib" -L "$lib/deps" \
    .ci/nostd_bin.rs -o "$out/nostd_bin.elf"
echo "linked $out/nostd_bin.elf"
