# Shared by bench/run.sh and the bench/case-*.sh it sources: how a command
# is timed and recorded. Not run on its own.
#
# Every measured run appends one row to $RAW (tab-separated):
#   case  command  role  cache  seconds  max_rss_kib  user_s  sys_s  others  load1  bytes
# role: ours (docker-forensics), floor (the least any tool must do on these
# bytes), anchor (another tool doing the same job), info (shown, no ratio).
# bytes: the bytes the row's MB/s is computed over (0: no MB/s).

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# others' fuzzers/compilers/tests running now (not ours)
others() { pgrep -fc 'cargo-fuzz|libfuzzer|rustc|cargo test' || true; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# measure CASE COMMAND ROLE CACHE BYTES ARGV...: one timed run.
measure() {
  local case=$1 name=$2 role=$3 mode=$4 bytes=$5 t0 t1 o1 o2 load i; shift 5
  for ((i = 0; i < 12 && ${WAIT_QUIET:-0} > 0; i++)); do [[ $(others) == 0 ]] && break; sleep 10; done
  [[ $mode == cold ]] && drop_caches
  o1=$(others); load=$(cut -d' ' -f1 /proc/loadavg)
  echo "### [$case] $name $mode: $*" >>"$LOG"
  t0=$(date +%s.%N)
  if ! /usr/bin/time -v -o "$BW/time.$$.txt" "$@" >>"$LOG" 2>&1; then
    tail -20 "$LOG" >&2; die "[$case] failed: $*"
  fi
  t1=$(date +%s.%N); o2=$(others)
  awk -v c="$case" -v n="$name" -v r="$role" -v m="$mode" -v b="$bytes" -v t0="$t0" -v t1="$t1" \
      -v o=$((o1 + o2)) -v l="$load" -F': ' '
    /Maximum resident/ {rss=$2} /User time/ {u=$2} /System time/ {s=$2}
    END {printf "%s\t%s\t%s\t%s\t%.3f\t%d\t%s\t%s\t%d\t%s\t%s\n", c, n, r, m, t1-t0, rss, u, s, o, l, b}' \
    "$BW/time.$$.txt" >>"$RAW"
  say "[$case] $name $mode: $(tail -1 "$RAW" | cut -f5) s, $(( $(tail -1 "$RAW" | cut -f6) / 1024 )) MiB"
}

# measure_any CASE COMMAND ROLE CACHE BYTES ARGV...: as measure, but any exit
# status is a result, not a failure (hostile inputs exit 1 or 3 by design).
# The row is measure's, its command "COMMAND → exit N"; N is also left in
# $MEASURED_STATUS (128+S for a command killed by signal S).
MEASURED_STATUS=0
measure_any() {
  local case=$1 name=$2 role=$3 mode=$4 bytes=$5 t0 t1 o1 o2 load i sig tf=$BW/time.$$.txt; shift 5
  for ((i = 0; i < 12 && ${WAIT_QUIET:-0} > 0; i++)); do [[ $(others) == 0 ]] && break; sleep 10; done
  [[ $mode == cold ]] && drop_caches
  o1=$(others); load=$(cut -d' ' -f1 /proc/loadavg)
  echo "### [$case] $name $mode: $*" >>"$LOG"
  t0=$(date +%s.%N)
  MEASURED_STATUS=0
  /usr/bin/time -v -o "$tf" "$@" >>"$LOG" 2>&1 || MEASURED_STATUS=$?
  t1=$(date +%s.%N); o2=$(others)
  sig=$(sed -n 's/^Command terminated by signal \([0-9]*\).*/\1/p' "$tf")
  [[ -n $sig ]] && MEASURED_STATUS=$((128 + sig))
  echo "### exit $MEASURED_STATUS" >>"$LOG"
  awk -v c="$case" -v n="$name → exit $MEASURED_STATUS" -v r="$role" -v m="$mode" -v b="$bytes" \
      -v t0="$t0" -v t1="$t1" -v o=$((o1 + o2)) -v l="$load" -F': ' '
    /Maximum resident/ {rss=$2} /User time/ {u=$2} /System time/ {s=$2}
    END {printf "%s\t%s\t%s\t%s\t%.3f\t%d\t%s\t%s\t%d\t%s\t%s\n", c, n, r, m, t1-t0, rss, u, s, o, l, b}' \
    "$tf" >>"$RAW"
  say "[$case] $name → exit $MEASURED_STATUS $mode: $(tail -1 "$RAW" | cut -f5) s, $(( $(tail -1 "$RAW" | cut -f6) / 1024 )) MiB"
}

# bench CASE COMMAND ROLE BYTES PREP ARGV...: a warm-up run, $REPS warm runs,
# and (as root, BENCH_COLD=1) one cold run. PREP (a function or `:`) runs
# untimed before each, e.g. to delete the previous output.
bench() {
  local case=$1 name=$2 role=$3 bytes=$4 prep=$5 i; shift 5
  $prep; "$@" >>"$LOG" 2>&1 || { tail -20 "$LOG" >&2; die "[$case] warm-up failed: $*"; }
  for ((i = 0; i < REPS; i++)); do $prep; sync; measure "$case" "$name" "$role" warm "$bytes" "$@"; done
  if [[ $COLD == 1 ]]; then $prep; measure "$case" "$name" "$role" cold "$bytes" "$@"; fi
}

# bench_once: as bench, but one warm run and (if COLD) one cold run; for
# commands of a minute or more.
bench_once() {
  local case=$1 name=$2 role=$3 bytes=$4 prep=$5; shift 5
  $prep; sync; measure "$case" "$name" "$role" warm "$bytes" "$@"
  if [[ $COLD == 1 ]]; then $prep; measure "$case" "$name" "$role" cold "$bytes" "$@"; fi
}

# check_archive IMAGE_TAR EXPECTED_JSON TAG: the layer members that
# image.tar's manifest.json names hash to the engine's saved layers.
check_archive() {
  python3 - "$@" <<'PY'
import hashlib, json, sys, tarfile
exp = json.load(open(sys.argv[2]))
want = next(i for i in exp["images"] if sys.argv[3] in i["tags"])["saved_layer_sha256"]
want = [w.removeprefix("sha256:") for w in want]
with tarfile.open(sys.argv[1]) as tf:
    layers = json.load(tf.extractfile("manifest.json"))[0]["Layers"]
    got = []
    for name in layers:
        h = hashlib.sha256()
        with tf.extractfile(name) as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        got.append(h.hexdigest())
assert got == want, (got, want)
print(f"archive OK: {len(got)} layers in image.tar equal the engine's saved layers", file=sys.stderr)
PY
}

# check_layers REPORT_JSON EXPECTED_JSON TAG: extract's layer sha256s are the
# ones the engine's own save wrote (expected.json from the fixtures' oracle).
check_layers() {
  python3 - "$@" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1])); exp = json.load(open(sys.argv[2]))
want = next(i for i in exp["images"] if sys.argv[3] in i["tags"])["saved_layer_sha256"]
got = [l["sha256"].removeprefix("sha256:") for l in rep["layers"]]
want = [w.removeprefix("sha256:") for w in want]
assert got == want, (got, want)
assert rep["verified"], "report says not verified"
print(f"layers OK: {len(got)} layers equal the engine's saved layers", file=sys.stderr)
PY
}
