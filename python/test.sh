#!/usr/bin/env bash
# The Python package's tests, as CI runs them: lint the bindings, build the
# docker_forensics wheel with maturin, install it into a fresh virtualenv,
# import it from there on the shipped sample, and run the pytest suite
# (tests/) against the real fixtures.
set -euo pipefail
cd "$(dirname "$0")"
repo=$(cd .. && pwd)

venv=$(mktemp -d /tmp/docker-forensics-venv.XXXXXX)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.9.4,<2" "pytest>=7"

# The main crate's target directory: its dependencies, already built by
# `cargo test`, are reused (the wheel is a dev build: it is tested, not
# shipped; `maturin build --release` makes the one to ship).
# Not --locked: python/Cargo.lock pins pyo3 and keeps every version it has,
# but a dependency the main crate gains later is added to it rather than
# failing the build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
cargo fmt -- --check
cargo clippy --all-targets -- -D warnings
rm -f "$CARGO_TARGET_DIR"/wheels/docker_forensics-*.whl
"$venv/bin/maturin" build --profile dev --strip
"$venv/bin/pip" install --quiet --disable-pip-version-check "$CARGO_TARGET_DIR"/wheels/docker_forensics-*.whl

# Outside the source tree, so that only the installed wheel can be imported.
cd "$venv"
"$venv/bin/python" -c "
import docker_forensics as d, sys
ev = d.open_evidence(sys.argv[1])
print('wheel:', d.__file__, '-', len(ev.images()), 'images in', ev.path)
" "$repo/samples/basic.disk.E01"
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$repo/python/tests"
