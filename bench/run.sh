#!/usr/bin/env bash
# Benchmark of docker-forensics on every path an examiner takes, each beside
# its floor (the least any tool must do on the same bytes) and its anchors
# (the engines' and the field's own tools on the same data, same run). Not a
# test: it builds the evidence it lacks, prints one table and writes it, with
# a plot, to $BENCH_WORK_DIR/results-<date>.{md,tsv,png}. See README.md,
# "Benchmark", and bench/RESULTS.md for a recorded run.
#
# Cases (bench/case-NAME.sh; BENCH_CASES picks, in this order by default):
#   dir      the large host as a directory (fixture/large:1, ~5 GB), warm and cold
#   e01      the same host on a GPT+ext4 disk as EnCase 6 E01 (-c fast and
#            -c best), on XFS and on LVM; ewfverify, ewfexport and qemu-img anchors
#   qcow2    the same disk as a qcow2 only (of case e01's files, the quick one)
#   vm       the small basic fixture from compressed qcow2s and a stream-optimized
#            VMDK against its raw disk
#   stores   the same image in a containerd root (ctr import) and a Podman
#            root (podman load); skopeo copy and ctr export anchors
#   many     200 images on 3 bases and 2,000 containers
#   small    one layer of 1,000,000 files of 0-4 KiB
#   hostile  the hostile inputs of the reliability tests: peak memory
#
# Environment:
#   BENCH_CASES       cases to run (default: dir e01 vm stores many small hostile)
#   BENCH_WORK_DIR    evidence, scratch and results, on the disk to measure
#                     (default /var/tmp/docker-forensics-bench; ~35 GB free)
#   BENCH_HOST_DIR    a large host made by make-large.sh (default $BENCH_WORK_DIR/large)
#   BENCH_FIXTURES    the shared fixtures (default ../shared/fixtures beside the repo)
#   BENCH_REPS        warm repetitions per command, median shown (default 3)
#   BENCH_COLD        1: also one run with caches dropped (default 1 as root)
#   BENCH_WAIT_QUIET  wait up to this many seconds for a quiet machine (default 0)
#   BENCH_PERF        1: perf stat + perf record of our main commands (default 0)
#   BENCH_KEEP        1: keep built evidence of the cases (default 1; 0 deletes
#                     each case's big files after it, for small disks)
#   BENCH_BIN         a docker-forensics binary to measure (default: cargo build --release)
#   BENCH_NO_INSTALL  1: never apt-get install missing tools
set -Eeuo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
FIX=${BENCH_FIXTURES:-$here/../../shared/fixtures}
BW=${BENCH_WORK_DIR:-/var/tmp/docker-forensics-bench}
HOST_DIR=${BENCH_HOST_DIR:-$BW/large}
CASES=${BENCH_CASES:-dir e01 vm stores many small hostile}
REPS=${BENCH_REPS:-3}
WAIT_QUIET=${BENCH_WAIT_QUIET:-0}
PERF=${BENCH_PERF:-0}
KEEP=${BENCH_KEEP:-1}
is_root=0; [[ $(id -u) == 0 ]] && is_root=1
COLD=${BENCH_COLD:-$is_root}
[[ $is_root == 1 ]] || COLD=0
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

mkdir -p "$BW"
FIX=$(cd "$FIX" 2>/dev/null && pwd) || die "fixtures not found (set BENCH_FIXTURES)"
STAMP=$(date +%Y%m%d-%H%M%S)
SCR=$BW/scratch.$$              # outputs; emptied after each case, removed at the end
LOG=$BW/commands-$STAMP.log     # every measured command's output
RAW=$BW/results-$STAMP.tsv      # one row per measured run (lib.sh)
NOTES=$BW/notes-$STAMP.tsv      # case <tab> note, shown under the table
rm -rf "$SCR"; mkdir -p "$SCR"; : >"$LOG"; : >"$RAW"; : >"$NOTES"
trap 'rm -rf "$SCR" "$BW/time.$$.txt"' EXIT
note() { printf '%s\t%s\n' "$1" "$2" >>"$NOTES"; }

# --- tools -------------------------------------------------------------
need=()
for t in dockerd:docker.io containerd:containerd runc:runc openssl:openssl python3:python3 \
  ewfacquire:ewf-tools qemu-img:qemu-utils skopeo:skopeo podman:podman mkfs.xfs:xfsprogs \
  pvcreate:lvm2 sgdisk:gdisk sfdisk:fdisk mke2fs:e2fsprogs; do
  command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
[[ -x /usr/bin/time ]] || need+=(time)
[[ -x /bin/busybox ]] || need+=(busybox-static)
/usr/bin/python3 -c "import matplotlib" 2>/dev/null || need+=(python3-matplotlib)
[[ $PERF == 1 ]] && ! command -v perf >/dev/null && need+=(linux-perf)
if ((${#need[@]})); then
  [[ $is_root == 1 && ${BENCH_NO_INSTALL:-0} != 1 ]] || die "missing: ${need[*]} (apt-get install them)"
  say "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
DOCKER=docker; [[ -x /usr/bin/docker ]] && DOCKER=/usr/bin/docker

if [[ -n ${BENCH_BIN:-} ]]; then
  BIN=$(realpath "$BENCH_BIN")
else
  say "building (cargo build --release)"
  (cd "$repo" && cargo build --release --quiet)
  BIN=$(cd "$repo" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/docker-forensics
fi
[[ -x $BIN ]] || die "no binary at $BIN"

# dockerd, as the fixtures are made (start_dockerd / stop_dockerd)
# shellcheck source=/dev/null
. "$FIX/dockerhost-lib.sh"
set -E; trap 'printf "bench: failed at %s line %s\n" "${BASH_SOURCE[0]}" "$LINENO" >&2' ERR

# the large host every big case starts from
large_host() {
  HOST=$HOST_DIR/host
  EXPECTED=$HOST_DIR/large.expected.json
  IMAGE=fixture/large:1
  if [[ -d $HOST/var/lib/docker/image && -f $EXPECTED ]]; then return 0; fi
  [[ $is_root == 1 ]] || die "building the large host needs root"
  say "building the large host in $HOST_DIR (make-large.sh, several minutes)"
  rm -rf "$HOST_DIR"; bash "$FIX/make-large.sh" "$HOST_DIR" >&2
}
rm_scr() { rm -rf "${SCR:?}"/*; sync; }

# --- machine state -------------------------------------------------------
busy() { [[ $(others) != 0 ]] || awk '{exit !($1 >= 0.6)}' /proc/loadavg; }
if ((WAIT_QUIET > 0)); then
  t_end=$((SECONDS + WAIT_QUIET))
  while busy && ((SECONDS < t_end)); do
    say "waiting for a quiet machine (load $(cut -d' ' -f1-3 /proc/loadavg))"; sleep 30
  done
  busy && say "still busy after ${WAIT_QUIET}s; measuring anyway"
fi
META=$BW/meta-$STAMP.txt
disk_rate() { dd "$@" bs=4M count=1024 2>&1 | awk -F', ' 'END {print $NF}'; }
DISK_W=$(disk_rate if=/dev/zero of="$SCR/dd" oflag=direct)
DISK_R=$(disk_rate if="$SCR/dd" of=/dev/null iflag=direct)
rm -f "$SCR/dd"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ); commit $(cd "$repo" && git rev-parse --short HEAD)$(cd "$repo" && git diff --quiet HEAD -- src || echo ' (+ local changes)')"
  echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, kernel $(uname -r)"
  echo "disk: $(df --output=source "$BW" | tail -1) ($(df -h --output=fstype,size "$BW" | tail -1 | xargs)) holds evidence and outputs; dd 4 GiB O_DIRECT: write $DISK_W, read $DISK_R"
  echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg); others busy at start: $(pgrep -af 'cargo-fuzz|libfuzzer|rustc|cargo test' | cut -c1-60 | paste -sd';' || true)"
  echo "warm: median of $REPS runs after a warm-up run; cold: after sync; echo 3 > /proc/sys/vm/drop_caches, one run"
} >"$META"

# --- the cases -------------------------------------------------------------
failed=()
for c in $CASES; do
  [[ -f $here/case-$c.sh ]] || die "no case $c (bench/case-$c.sh)"
  say "case $c"
  # shellcheck source=/dev/null
  if ! ( . "$here/case-$c.sh"; "case_$c" ); then
    failed+=("$c"); note "$c" "the case failed (see $LOG); its rows are partial"
  fi
  rm_scr
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$META"

RESULT=$BW/results-$STAMP.md
/usr/bin/python3 "$here/table.py" "$RAW" "$META" "$NOTES" >"$RESULT"
# (cases whose rows carry no byte count, as vm, have no throughput to plot)
/usr/bin/python3 "$here/plot.py" "$RAW" "$BW/results-$STAMP.png" || say "no plot (matplotlib missing, or no row with a byte count)"
cat "$RESULT"
plot=""; [[ -f $BW/results-$STAMP.png ]] && plot=", $BW/results-$STAMP.png"
say "written: $RESULT, $RAW$plot (commands' output: $LOG)"
((${#failed[@]} == 0)) || die "failed cases: ${failed[*]}"
