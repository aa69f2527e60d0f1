#!/usr/bin/env bash
# Builds libewf's current ewftools (ewfacquire, ewfexport, ewfinfo, ewfverify), whose
# `ewfacquire -f encase7-v2` writes EnCase 7 EWF2 (.Ex01) images: Debian 12's ewf-tools
# (libewf 20140608) cannot. The source is PyPI's `libewf-python` sdist, which carries the
# whole libewf tree with ewftools and a configure script. Only the libraries the tools
# link and the tools themselves are built (static, `make -j2`); the result is cached.
#
#   tests/tools/libewf-exp.sh [DIR]   # default $LIBEWF_EXP_DIR or /var/tmp/libewf-exp
#
# Prints the bin directory on stdout (DIR/bin). Needs a C toolchain, zlib1g-dev,
# libbz2-dev and python3 (pip, or python3-venv for a throwaway pip).
set -euo pipefail

version=20260924
sha256=72f67b7bcb80987662b506d9a72825afe7ad07e87c0d7dfbdb0d187a32add671
dir=${1:-${LIBEWF_EXP_DIR:-/var/tmp/libewf-exp}}
tools=(ewfacquire ewfexport ewfinfo ewfverify)

done_mark="$dir/bin/.libewf-$version"
if [ -e "$done_mark" ]; then
  echo "$dir/bin"
  exit 0
fi

start=$(date +%s)
mkdir -p "$dir"
work=$(mktemp -d "$dir/build.XXXXXX")
trap 'rm -rf "$work"' EXIT

sdist="$work/libewf_python-$version.tar.gz"
if [ -n "${LIBEWF_EXP_SDIST:-}" ] && [ -f "$LIBEWF_EXP_SDIST" ]; then
  cp "$LIBEWF_EXP_SDIST" "$sdist"
else
  pip_cmd=()
  if python3 -m pip --version >/dev/null 2>&1; then
    pip_cmd=(python3 -m pip)
  else
    python3 -m venv "$work/venv" >&2
    pip_cmd=("$work/venv/bin/pip")
  fi
  "${pip_cmd[@]}" download --quiet --no-binary :all: --no-deps \
    --index-url https://pypi.org/simple -d "$work" "libewf-python==$version" >&2
fi
echo "$sha256  $sdist" | sha256sum -c --quiet - >&2

tar -xzf "$sdist" -C "$work"
src="$work/libewf_python-$version"
cd "$src"
# Every libyal library from the tree itself (no system copies), no FUSE, no Python, no NLS.
./configure --quiet --disable-shared --enable-static --disable-nls --disable-python \
  --without-libfuse --without-openssl --with-zlib --with-bzip2 \
  --with-libcerror=no --with-libcthreads=no --with-libcdata=no --with-libcdatetime=no \
  --with-libclocale=no --with-libcnotify=no --with-libcsplit=no --with-libuna=no \
  --with-libcfile=no --with-libcpath=no --with-libbfio=no --with-libfcache=no \
  --with-libfdata=no --with-libfdatetime=no --with-libfguid=no --with-libfvalue=no \
  --with-libhmac=no --with-libcaes=no --with-libodraw=no --with-libsmdev=no \
  --with-libsmraw=no >&2
for sub in include common libcerror libcthreads libcdata libcdatetime libclocale libcnotify \
    libcsplit libuna libcfile libcpath libbfio libfcache libfdata libfdatetime libfguid \
    libfvalue libhmac libcaes libewf libodraw libsmdev libsmraw; do
  make --quiet -j2 -C "$sub" >/dev/null 2>"$work/make-$sub.log" || { cat "$work/make-$sub.log" >&2; exit 1; }
done
make --quiet -j2 -C ewftools "${tools[@]}" >/dev/null 2>"$work/make-ewftools.log" \
  || { cat "$work/make-ewftools.log" >&2; exit 1; }

mkdir -p "$dir/bin"
for t in "${tools[@]}"; do
  install -m 0755 "ewftools/$t" "$dir/bin/$t"
done
"$dir/bin/ewfacquire" -V >/dev/null 2>&1 || true
touch "$done_mark"
echo "libewf $version ewftools built in $(($(date +%s) - start)) s" >&2
echo "$dir/bin"
