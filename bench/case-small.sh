# shellcheck shell=bash disable=SC2154  # sourced by run.sh, which sets BW, BIN, is_root...
# Case "small": one layer of 1,000,000 files of 0-4 KiB (a node_modules-like
# tree), where per-file cost dominates. Sourced by bench/run.sh.
#   evidence: $BW/small/host: a real dockerd 20.10 built small/app:1 as
#             FROM a busybox base + ADD tree.tar /app/ (bench/small-context.py
#             streams the context; the engine unpacks and commits the layer)
#   floor:    openssl sha256 of that layer's tar as docker save wrote it
#   anchor:   docker save -o by a real dockerd on this data root
#   ours:     extract small/app:1 (target <= 2x floor), verify (<= 1.5x floor)
SMALL_FILES=${BENCH_SMALL_FILES:-1000000}

# small_host: build the evidence unless a complete one is there (.built is written last)
small_host() {
  local dir=$BW/small ctx t0
  HOST=$dir/host
  EXPECTED=$dir/small.expected.json
  IMAGE=small/app:1
  [[ -f $dir/.built ]] && return 0
  [[ $is_root == 1 ]] || die "building the small host needs root"
  say "small: building one layer of $SMALL_FILES files in $dir (several minutes)"
  t0=$SECONDS
  rm -rf "$dir"; mkdir -p "$HOST"
  host_skeleton "$HOST" bench-small
  start_dockerd "$HOST" /var/lib/docker
  ctx=$(mktemp -d /tmp/dksmall.XXXXXX); busybox_rootfs "$ctx/base"
  tar -C "$ctx/base" -cf "$ctx/base.tar" .
  "$DOCKER" import -m "busybox base" "$ctx/base.tar" small/base:1 >/dev/null
  rm -rf "$ctx"
  # the context is streamed: only the daemon holds tree.tar, while it builds
  python3 "$here/small-context.py" small/base:1 "$SMALL_FILES" |
    DOCKER_BUILDKIT=0 "$DOCKER" build -q --network=none -t "$IMAGE" - >/dev/null
  python3 "$FIX/oracle.py" "$EXPECTED"
  stop_dockerd; trap - EXIT
  echo $((SECONDS - t0)) >"$dir/.build-seconds"
  touch "$dir/.built"
}

case_small() {
  small_host
  local out=$SCR/extract save=$SCR/save.tar layer=$BW/small/layer.tar bytes want
  rm_out() { rm -rf "$out"; sync; }
  rm_save() { rm -f "$save"; }
  want=$(python3 -c 'import json, sys
e = json.load(open(sys.argv[1]))
print(next(i for i in e["images"] if sys.argv[2] in i["tags"])["saved_layer_sha256"][-1])' "$EXPECTED" "$IMAGE")
  note small "built in $(cat "$BW/small/.build-seconds") s by dockerd 20.10 (legacy builder, ADD of a streamed tar); data root $(du -sh "$HOST/var/lib/docker" | cut -f1), $(find "$HOST/var/lib/docker/overlay2" -xdev | wc -l) inodes under overlay2"
  if [[ $is_root == 1 ]]; then
    say "small: starting dockerd on $HOST/var/lib/docker"
    start_dockerd "$HOST" /var/lib/docker
    "$DOCKER" image inspect "$IMAGE" >/dev/null
    rm_save
    COLD=0 bench_once small "docker save" anchor 0 rm_save "$DOCKER" save -o "$save" "$IMAGE"
    # its bytes are known only now: set them in its rows
    bytes=$(stat -c %s "$save")
    awk -F'\t' -v OFS='\t' -v b="$bytes" '$1 == "small" && $2 == "docker save" {$11 = b} 1' "$RAW" >"$RAW.tmp"
    mv "$RAW.tmp" "$RAW"
    stop_dockerd; trap - EXIT
    # the top layer's tar, as docker save wrote it
    python3 - "$save" "$layer" <<'PY'
import json, shutil, sys, tarfile
with tarfile.open(sys.argv[1]) as tf:
    man = json.load(tf.extractfile("manifest.json"))[0]
    with tf.extractfile(man["Layers"][-1]) as src, open(sys.argv[2], "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PY
    rm_save
  fi
  say "small: checking extract's correctness"
  rm_out
  "$BIN" extract "$IMAGE" "$HOST" "$out" >>"$LOG" 2>&1 || die "extract failed (see $LOG)"
  check_layers "$out"/image_*/report.json "$EXPECTED" "$IMAGE" || die "extract's layers differ from docker save's"
  (cd "$out"/image_* && sha256sum --quiet -c SHA256SUMS) || die "sha256sum -c SHA256SUMS failed"
  if [[ ! -f $layer ]]; then   # no dockerd (not root): floor over our own layer tar, checked against the engine's sha256
    cp "$(find "$out" -name layer.tar -size +1M -exec sha256sum {} + | awk -v w="$want" '$1 == w {print $2; exit}')" "$layer" ||
      die "no layer tar of sha256 $want in extract's output"
  fi
  [[ $(openssl dgst -sha256 -r "$layer" | cut -d' ' -f1) == "$want" ]] || die "$layer is not sha256 $want"
  bytes=$(stat -c %s "$layer")
  note small "layer: $SMALL_FILES files, $bytes bytes as docker save writes it (sha256 $want, equal to small.expected.json); extract writes $(du -sb "$out" | cut -f1) bytes, $(find "$out" -type f | wc -l) files"
  rm_out
  bench small "floor: openssl sha256" floor "$bytes" : openssl dgst -sha256 "$layer"
  rm -f "$layer"   # made again from the next run's save (2.8 GB)
  note small "the floor hashes one file; extract and verify open every one of the layer's files (per-file cost dominates)"
  bench small "extract" ours "$bytes" rm_out "$BIN" extract -q "$IMAGE" "$HOST" "$out"
  rm_out
  bench small "extract --archive-only" ours "$bytes" rm_out "$BIN" extract -q --archive-only "$IMAGE" "$HOST" "$out"
  rm_out
  bench small "verify" ours "$bytes" : "$BIN" verify -q "$HOST"
  if [[ $PERF == 1 ]]; then
    perf record -q -g -o "$BW/perf-small-extract.data" "$BIN" extract -q "$IMAGE" "$HOST" "$out" >>"$LOG" 2>&1; rm_out
    perf record -q -g -o "$BW/perf-small-verify.data" "$BIN" verify -q "$HOST" >>"$LOG" 2>&1
  fi
  [[ $KEEP == 1 ]] || rm -rf "${BW:?}/small"
}
