#!/usr/bin/env bash
# The other platforms, checked on this Linux machine without toolchains from outside the
# package registries: Debian sid's rustc, cargo and rust-src with the mingw-w64 linker and
# wine, in the sid chroot ../shared/fixtures/sidroot-lib.sh makes (SIDROOT, cached between
# runs on one machine; the host's own packages are never touched).
#  1. cross-builds docker-forensics.exe for x86_64-pc-windows-gnu (std built from rust-src:
#     -Zbuild-std under RUSTC_BOOTSTRAP, as sid ships no prebuilt Windows std);
#  2. runs it under wine on samples/basic.disk.E01 (images, images --json, verify --json,
#     containers, diff, timeline, extract --all) and compares every output with the Linux
#     build's, byte for byte (reports may differ only in the evidence path, command line,
#     host name and times);
#  3. `cargo check`s the aarch64-apple-darwin target the same way.
# usage: .ci/cross-check.sh LINUX_BINARY     (needs root; exit 3 when the chroot cannot be made)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
linux_bin=$(realpath "${1:?usage: $0 LINUX_BINARY}")
lib=$here/../shared/fixtures/sidroot-lib.sh
[ -r "$lib" ] || { echo "cross-check: $lib not found" >&2; exit 3; }
CROSS_PKGS="rustc cargo rust-src gcc-mingw-w64-x86-64-win32 wine wine64 ca-certificates pkg-config libsqlite3-dev libzstd-dev"
# shellcheck source=/dev/null
. "$lib"
[ -x "$SIDROOT/usr/bin/apt-get" ] || { echo "cross-check: no sid chroot at $SIDROOT (tests/sid-dockerd.sh prepare makes it)" >&2; exit 3; }
work=$(mktemp -d /var/tmp/xcheck.XXXXXX)
cleanup() { sid_cleanup; rm -rf "$work"; }
trap cleanup EXIT
sid_enter
if [ ! -x "$SIDROOT/usr/bin/x86_64-w64-mingw32-gcc-win32" ] || [ ! -x "$SIDROOT/usr/bin/wine" ] \
   || [ ! -d "$SIDROOT/usr/lib/rustlib/src" ] || [ ! -x "$SIDROOT/usr/bin/pkg-config" ] \
   || [ ! -f "$SIDROOT/usr/include/zstd.h" ]; then
  cp /etc/resolv.conf "$SIDROOT/etc/resolv.conf"
  sid apt-get update -qq
  sid env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $CROSS_PKGS >/dev/null
fi
# cargo inside reaches crates.io with the host's CA bundle
cp /etc/ssl/certs/ca-certificates.crt "$SIDROOT/etc/ssl/certs/host-ca.crt"
cp /etc/resolv.conf "$SIDROOT/etc/resolv.conf"
sid_bind "$here" /src
sid_bind "$work" /xcheck
cargo_env=(env RUSTC_BOOTSTRAP=1 CARGO_HOME=/var/tmp/xcargo CARGO_TARGET_DIR=/var/tmp/xtarget
  CARGO_HTTP_CAINFO=/etc/ssl/certs/host-ca.crt CARGO_TERM_COLOR=never
  CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc-win32
  CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc-win32 AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar)
sid rustc --version
start=$(date +%s)
sid "${cargo_env[@]}" cargo build --manifest-path /src/Cargo.toml --locked --quiet \
  --target x86_64-pc-windows-gnu -Zbuild-std=std,panic_abort --bin docker-forensics
echo "windows build: $(($(date +%s) - start)) s"
exe=$SIDROOT/var/tmp/xtarget/x86_64-pc-windows-gnu/debug/docker-forensics.exe
[ -f "$exe" ] || { echo "cross-check: no $exe" >&2; exit 1; }
cp "$exe" "$work/docker-forensics.exe"
cp "$here/samples/basic.disk.E01" "$work/basic.disk.E01"

# The same commands, Linux build on the host and .exe under wine; outputs side by side.
commands=(
  "images basic.disk.E01"
  "images --json basic.disk.E01"
  "verify --json basic.disk.E01"
  "containers basic.disk.E01"
  "diff evil-web basic.disk.E01"
  "timeline --format csv basic.disk.E01"
  "extract --all -q basic.disk.E01 OUT"
)
mkdir -p "$work/linux" "$work/windows"
n=0
for c in "${commands[@]}"; do
  n=$((n + 1))
  (cd "$work" && $linux_bin ${c//OUT/linux\/out} >"linux/$n.out" 2>/dev/null) || echo "linux: $c: status $?" >>"$work/linux/status"
  sid env -C /xcheck WINEDEBUG=-all WINEPREFIX=/var/tmp/xwine wine ./docker-forensics.exe ${c//OUT/windows\/out} \
    >"$work/windows/$n.raw" 2>/dev/null || echo "windows: $c: status $?" >>"$work/windows/status"
  # the directories extract prints are paths of the examiner's OS: out\image_… there,
  # and `\` is printed escaped (`\\`) as every backslash is
  if [[ $c == extract* ]]; then sed 's#\\\\#/#g; s#^windows/#linux/#' "$work/windows/$n.raw" >"$work/windows/$n.out"
  else cp "$work/windows/$n.raw" "$work/windows/$n.out"; fi
done
fail=0
for i in $(seq "$n"); do
  if ! cmp -s "$work/linux/$i.out" "$work/windows/$i.out"; then
    echo "DIFFERENT: ${commands[$((i - 1))]}"; diff "$work/linux/$i.out" "$work/windows/$i.out" | head -20 || true; fail=1
  fi
done
# every file extract wrote: equal, but for what names the run (report.json, its line in SHA256SUMS)
(cd "$work/linux/out" && find . -type f ! -name report.json ! -name SHA256SUMS | sort) >"$work/l.files"
(cd "$work/windows/out" && find . -type f ! -name report.json ! -name SHA256SUMS | sort) >"$work/w.files"
cmp -s "$work/l.files" "$work/w.files" || { echo "DIFFERENT file lists"; diff "$work/l.files" "$work/w.files" | head || true; fail=1; }
files=0
while read -r f; do
  files=$((files + 1))
  cmp -s "$work/linux/out/$f" "$work/windows/out/$f" || { echo "DIFFERENT: $f"; fail=1; }
done <"$work/l.files"
for s in linux windows; do [ -f "$work/$s/status" ] && cat "$work/$s/status"; done
echo "windows: ${#commands[@]} commands and $files extracted files compared"

start=$(date +%s)
# No C compiler for macOS here: the bundled SQLite and libzstd are not compiled; the check
# takes the chroot's through pkg-config (nothing is linked by a check).
if sid "${cargo_env[@]}" LIBSQLITE3_SYS_USE_PKG_CONFIG=1 ZSTD_SYS_USE_PKG_CONFIG=1 PKG_CONFIG_ALLOW_CROSS=1 cargo check --manifest-path /src/Cargo.toml --locked --quiet \
  --target aarch64-apple-darwin -Zbuild-std=std,panic_abort --bin docker-forensics; then
  echo "macos check: $(($(date +%s) - start)) s"
else
  echo "macos check FAILED"; fail=1
fi
exit "$fail"
