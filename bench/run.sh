#!/usr/bin/env bash
# Benchmark of docker-forensics against the floor (openssl sha256 over the
# same bytes) and against `docker save` by a real dockerd, on the large
# fixture (fixture/large:1, ~5 GB, 5 layers, ~100k files) and, for memory,
# on the small `basic` fixture. Not a test: it prints a table and writes it
# to $BENCH_WORK_DIR/results-<date>.md. See README.md, "Benchmark".
#
# Environment:
#   BENCH_HOST_DIR    a large host made by make-large.sh (HOST_DIR/host/var/lib/docker,
#                     HOST_DIR/large.expected.json); built there when missing
#                     (default: $BENCH_WORK_DIR/large)
#   BENCH_WORK_DIR    work and scratch directory, on the disk to measure
#                     (default: /var/tmp/docker-forensics-bench; needs ~20 GB free)
#   BENCH_FIXTURES    the shared fixtures (default: ../shared/fixtures beside the repo)
#   BENCH_REPS        warm repetitions per command; the median is shown (default 3)
#   BENCH_COLD        1: also measure once with caches dropped (default: 1 as root)
#   BENCH_WAIT_QUIET  wait up to this many seconds for a quiet machine (no
#                     fuzzers/compilers, load < 0.6) before measuring (default 0)
#   BENCH_PERF        1: afterwards, perf stat + perf record of one warm extract
#                     and verify, reports in $BENCH_WORK_DIR/perf-*.txt (default 0)
#   BENCH_NO_INSTALL  1: never apt-get install missing tools
#   CARGO_TARGET_DIR  as cargo uses it
set -Eeuo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
FIX=${BENCH_FIXTURES:-$here/../../shared/fixtures}
BW=${BENCH_WORK_DIR:-/var/tmp/docker-forensics-bench}
HOST_DIR=${BENCH_HOST_DIR:-$BW/large}
REPS=${BENCH_REPS:-3}
WAIT_QUIET=${BENCH_WAIT_QUIET:-0}
PERF=${BENCH_PERF:-0}
IMAGE=fixture/large:1
is_root=0; [[ $(id -u) == 0 ]] && is_root=1
COLD=${BENCH_COLD:-$is_root}
[[ $is_root == 1 ]] || COLD=0

say() { printf '== %s\n' "$*" >&2; }
trap 'printf "bench: failed at line %s\n" "$LINENO" >&2' ERR
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

mkdir -p "$BW"
FIX=$(cd "$FIX" 2>/dev/null && pwd) || die "fixtures not found (set BENCH_FIXTURES)"
SCR=$BW/scratch            # outputs; deleted between runs
LOG=$BW/commands.log       # every measured command's output
RAW=$BW/raw.tsv            # name mode seconds maxrss_kb user sys others load1
mkdir -p "$SCR"; : >"$LOG"; : >"$RAW"

# --- tools -------------------------------------------------------------
need=()
for t in dockerd:docker.io containerd:containerd runc:runc openssl:openssl python3:python3; do
  command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
[[ -x /usr/bin/time ]] || need+=(time)
[[ -x /bin/busybox ]] || need+=(busybox-static)
[[ $PERF == 1 ]] && ! command -v perf >/dev/null && need+=(linux-perf)
if ((${#need[@]})); then
  [[ $is_root == 1 && ${BENCH_NO_INSTALL:-0} != 1 ]] || die "missing: ${need[*]} (apt-get install them)"
  say "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The docker CLI that came with the daemon when there is one.
DOCKER=docker; [[ -x /usr/bin/docker ]] && DOCKER=/usr/bin/docker

say "building (cargo build --release)"
(cd "$repo" && cargo build --release --quiet)
BIN=${CARGO_TARGET_DIR:-$repo/target}/release/docker-forensics
[[ -x $BIN ]] || BIN=$(cd "$repo" && cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/docker-forensics

# --- evidence ------------------------------------------------------------
HOST=$HOST_DIR/host
EXPECTED=$HOST_DIR/large.expected.json
if [[ -d $HOST/var/lib/docker/image && -f $EXPECTED ]]; then
  say "reusing large host $HOST_DIR"
else
  [[ $is_root == 1 ]] || die "building the large host needs root"
  say "building the large host in $HOST_DIR (make-large.sh, several minutes)"
  rm -rf "$HOST_DIR"; bash "$FIX/make-large.sh" "$HOST_DIR" >&2
fi
BASIC=$BW/basic/host
if [[ $is_root == 1 && ! -d $BASIC/var/lib/docker ]]; then
  rm -rf "$BASIC"; mkdir -p "$BASIC"
  tar --xattrs --xattrs-include='*' --numeric-owner -xpzf "$FIX/basic.host.tar.gz" -C "$BASIC"
fi
[[ -d $BASIC/var/lib/docker ]] || BASIC=$repo/samples/basic.disk.E01

# --- dockerd -------------------------------------------------------------
DPID=
stop_our_dockerd() {
  [[ -n $DPID ]] && kill -0 "$DPID" 2>/dev/null && stop_dockerd
  DPID=
  [[ -n ${WORK:-} && $WORK == /tmp/dkfx.* ]] && rm -rf "$WORK"
  return 0
}
cleanup() { stop_our_dockerd || true; rm -rf "$SCR"; }
trap cleanup EXIT
trap 'say "interrupted by a signal"; exit 130' INT TERM HUP

if [[ $is_root == 1 ]]; then
  pgrep -f "dockerd --data-root $HOST/var/lib/docker( |$)" >/dev/null &&
    die "a dockerd already runs on $HOST/var/lib/docker"
  # shellcheck source=/dev/null
  . "$FIX/dockerhost-lib.sh"   # start_dockerd / stop_dockerd, as the fixtures are made
  trap cleanup EXIT
fi

# --- machine state -------------------------------------------------------
others() { pgrep -fc 'cargo-fuzz|libfuzzer|rustc|cargo test' || true; }
busy() { pgrep -f 'cargo-fuzz|libfuzzer|rustc|cargo test' >/dev/null ||
  awk '{exit !($1 >= 0.6)}' /proc/loadavg; }
if ((WAIT_QUIET > 0)); then
  t_end=$((SECONDS + WAIT_QUIET))
  while busy && ((SECONDS < t_end)); do
    say "waiting for a quiet machine (load $(cut -d' ' -f1-3 /proc/loadavg))"; sleep 30
  done
  busy && say "still busy after ${WAIT_QUIET}s; measuring anyway"
fi
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
BUSY_START=$(pgrep -af 'cargo-fuzz|libfuzzer|rustc|cargo test' | cut -c1-80 | paste -sd';' || true)

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# measure NAME MODE CMD...: one timed run (wall clock, max RSS, CPU)
measure() {
  local name=$1 mode=$2 t0 t1 o1 o2 load i; shift 2
  # others' fuzzers/compilers: wait a little for them, and note them
  for ((i = 0; i < 12 && WAIT_QUIET > 0; i++)); do [[ $(others) == 0 ]] && break; sleep 10; done
  [[ $mode == cold ]] && drop_caches
  o1=$(others); load=$(cut -d' ' -f1 /proc/loadavg)
  echo "### $name $mode: $*" >>"$LOG"
  t0=$(date +%s.%N)
  if ! /usr/bin/time -v -o "$BW/time.txt" "$@" >>"$LOG" 2>&1; then
    tail -20 "$LOG" >&2; die "failed: $*"
  fi
  t1=$(date +%s.%N); o2=$(others)
  awk -v n="$name" -v m="$mode" -v t0="$t0" -v t1="$t1" -v o=$((o1 + o2)) -v l="$load" -F': ' '
    /Maximum resident/ {r=$2} /User time/ {u=$2} /System time/ {s=$2}
    END {printf "%s\t%s\t%.3f\t%d\t%s\t%s\t%d\t%s\n", n, m, t1-t0, r, u, s, o, l}' "$BW/time.txt" >>"$RAW"
  say "$name $mode: $(tail -1 "$RAW" | cut -f3) s"
}

# bench NAME PREP CMD...: a warm-up run, BENCH_REPS warm runs, one cold run.
# PREP (a function) runs before each, untimed.
bench() {
  local name=$1 prep=$2 i; shift 2
  $prep; "$@" >>"$LOG" 2>&1 || die "warm-up failed: $*"
  for ((i = 0; i < REPS; i++)); do $prep; sync; measure "$name" warm "$@"; done
  if [[ $COLD == 1 ]]; then $prep; measure "$name" cold "$@"; fi
}

SAVE=$SCR/save.tar
OUT=$SCR/extract
nothing() { :; }
rm_save() { rm -f "$SAVE"; }
rm_out() { rm -rf "$OUT"; sync; }

# 1. docker save (and its tar for the floor). dockerd writes into the data
#    root when it starts: that happens here, before anything is measured.
DOCKERD_HWM=
if [[ $is_root == 1 ]]; then
  say "starting dockerd on $HOST/var/lib/docker"
  start_dockerd "$HOST" /var/lib/docker
  trap cleanup EXIT   # start_dockerd set its own
  DPID=$(cat "$WORK/pid")
  $DOCKER image inspect "$IMAGE" >/dev/null
  echo 5 >"/proc/$DPID/clear_refs" 2>/dev/null || true   # resets VmHWM
  bench "docker save" rm_save $DOCKER save -o "$SAVE" "$IMAGE"
  # the same, including writing its 5 GB back to disk (extract's output is written with O_DIRECT)
  rm_save; sync
  measure "docker save + sync" warm sh -c "$DOCKER save -o '$SAVE' '$IMAGE' && sync"
  DOCKERD_HWM=$(awk '/VmHWM/ {print $2}' "/proc/$DPID/status")
  stop_our_dockerd
fi

# the disk's own sequential bandwidth, for scale
disk_rate() { dd "$@" bs=4M count=1024 2>&1 | awk -F', ' 'END {print $NF}'; }
DISK_W=$(disk_rate if=/dev/zero of="$SCR/dd" oflag=direct)
DISK_R=$(disk_rate if="$SCR/dd" of=/dev/null iflag=direct)
rm -f "$SCR/dd"
say "disk: write $DISK_W, read $DISK_R (4 GiB, O_DIRECT)"

# 2. docker-forensics extract, checked once, then measured
say "extract: checking correctness"
rm_out
"$BIN" extract "$IMAGE" "$HOST" "$OUT" >>"$LOG" 2>&1 || die "extract failed (see $LOG)"
IMG_DIR=$(echo "$OUT"/image_*)
python3 - "$IMG_DIR/report.json" "$EXPECTED" "$IMAGE" <<'PY' || die "extract's layers differ from docker save's"
import json, sys
rep = json.load(open(sys.argv[1])); exp = json.load(open(sys.argv[2]))
want = next(i for i in exp["images"] if sys.argv[3] in i["tags"])["saved_layer_sha256"]
got = [l["sha256"] for l in rep["layers"]]
assert got == want, (got, want)
assert rep["verified"], "report says not verified"
print(f"layers OK: {len(got)} layers equal saved_layer_sha256", file=sys.stderr)
PY
(cd "$IMG_DIR" && sha256sum --quiet -c SHA256SUMS) || die "sha256sum -c SHA256SUMS failed"
say "SHA256SUMS OK"
[[ -f $SAVE ]] || cp "$IMG_DIR/image.tar" "$SAVE"   # no dockerd: floor over our own archive
BYTES=$(stat -c %s "$SAVE")
OUT_BYTES=$(du -sb "$IMG_DIR" | cut -f1)

# 3. the floor: sha256 of the same bytes
bench "floor (openssl sha256)" nothing openssl dgst -sha256 "$SAVE"
rm_save

bench "extract" rm_out "$BIN" extract "$IMAGE" "$HOST" "$OUT"
rm_out

# 4. verify
"$BIN" verify "$HOST" >>"$LOG" 2>&1 || die "verify failed (see $LOG)"
bench "verify" nothing "$BIN" verify "$HOST"

# 5. memory on the small fixture
for i in 1 2; do
  rm_out; measure "extract --all (basic)" warm "$BIN" extract --all "$BASIC" "$OUT"
  measure "verify (basic)" warm "$BIN" verify "$BASIC"
done
rm_out
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# --- optional profile ----------------------------------------------------
if [[ $PERF == 1 ]]; then
  say "perf: extract and verify"
  perf stat -d -o "$BW/perf-stat-extract.txt" "$BIN" extract -q "$IMAGE" "$HOST" "$OUT" >>"$LOG" 2>&1
  rm_out
  perf record -q -g -o "$BW/perf-extract.data" "$BIN" extract -q "$IMAGE" "$HOST" "$OUT" >>"$LOG" 2>&1
  rm_out
  perf report -i "$BW/perf-extract.data" --no-children --sort dso,sym --stdio 2>/dev/null |
    awk '/^ +[0-9]/ && n++ < 40' >"$BW/perf-extract.txt"
  perf stat -d -o "$BW/perf-stat-verify.txt" "$BIN" verify -q "$HOST" >>"$LOG" 2>&1
  perf record -q -g -o "$BW/perf-verify.data" "$BIN" verify -q "$HOST" >>"$LOG" 2>&1
  perf report -i "$BW/perf-verify.data" --no-children --sort dso,sym --stdio 2>/dev/null |
    awk '/^ +[0-9]/ && n++ < 40' >"$BW/perf-verify.txt"
fi

# --- the table -------------------------------------------------------------
disk_dev=$(df --output=source "$BW" | tail -1)
RESULT=$BW/results-$(date +%Y%m%d-%H%M%S).md
python3 - "$RAW" "$BYTES" "$OUT_BYTES" "${DOCKERD_HWM:-}" >"$RESULT" <<PY
import statistics, sys
raw, nbytes, outbytes, hwm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = {}
for line in open(raw):
    n, m, s, r, u, sy, o, l = line.rstrip("\n").split("\t")
    rows.setdefault((n, m), []).append((float(s), int(r), float(u) + float(sy), int(o), l))
print("- date: $(date -u +%Y-%m-%dT%H:%MZ); commit $(cd "$repo" && git rev-parse --short HEAD)$(cd "$repo" && git diff --quiet HEAD -- src || echo ' (+ local changes)')")
print("- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, kernel $(uname -r)")
print("- disk: $disk_dev ($(df -h --output=fstype,size "$BW" | tail -1 | xargs)), holding both the evidence and the outputs; dd 4 GiB O_DIRECT: write $DISK_W, read $DISK_R")
print("- 'others busy': a fuzzer/compiler/test of someone else ran at the start or end of a run (pgrep); load1 includes this benchmark's own previous run")
print("- load average at start: $LOAD_START; at end: $LOAD_END; busy at start: ${BUSY_START:-none}")
print(f"- image: $IMAGE, {nbytes/1e6:.0f} MB as docker save writes it; extract writes {outbytes/1e6:.0f} MB (layer tars + image.tar)")
print("- warm: page cache holds the data root (and the save tar); median of $REPS runs after a warm-up run. cold: after sync; echo 3 > /proc/sys/vm/drop_caches, one run")
print("- MB/s = image bytes above / seconds, for every row (1 MB = 10^6 bytes)")
print()
print("| command | cache | seconds | MB/s | max RSS (MiB) | CPU s (user+sys) | runs (s) | load1 before each | others busy |")
print("|---|---|---:|---:|---:|---:|---|---|---|")
med = {}
for (n, m), v in rows.items():
    s = statistics.median(x[0] for x in v); med[(n, m)] = s
    rss = max(x[1] for x in v) / 1024; cpu = statistics.median(x[2] for x in v)
    mbs = f"{nbytes/1e6/s:.0f}" if "basic" not in n else "-"
    print(f"| {n} | {m} | {s:.2f} | {mbs} | {rss:.1f} | {cpu:.2f} | {' '.join(f'{x[0]:.2f}' for x in v)} | {' '.join(x[4] for x in v)} | {'yes' if any(x[3] for x in v) else 'no'} |")
if hwm:
    print(f"\n(docker save's RSS is the CLI's; dockerd's own peak RSS over the save runs: {int(hwm)/1024:.0f} MiB)")
print()
print("| ratio | warm | cold |")
print("|---|---:|---:|")
def r(a, b, m):
    return f"{med[(a, m)]/med[(b, m)]:.2f}" if (a, m) in med and (b, m) in med else "-"
F = "floor (openssl sha256)"
for a, b in [("extract", F), ("verify", F), ("extract", "docker save"), ("extract", "docker save + sync")]:
    print(f"| {a} / {b} | {r(a, b, 'warm')} | {r(a, b, 'cold')} |")
ours = [max(x[1] for x in v) for (n, m), v in rows.items() if n.startswith(("extract", "verify"))]
print(f"\nmax RSS of docker-forensics over the whole run: {max(ours)/1024:.1f} MiB")
PY
cat "$RESULT"
say "written to $RESULT (commands' output: $LOG)"
