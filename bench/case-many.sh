# shellcheck shell=bash disable=SC2154  # sourced by run.sh, which sets BW, BIN, is_root...
# Case "many": a host of many images sharing base layers, and many
# containers (the listing and --all paths). Sourced by bench/run.sh.
#   evidence: $BW/many/host, built by a real dockerd 20.10: 3 bases
#             (docker import of busybox variants), 200 legacy-builder images
#             (FROM one base + COPY of a few small files), 2,000 containers
#             (docker create, never started)
#   anchor:   docker save of all images into one tar, by a real dockerd on this root
#   ours:     images, containers (target < 1 s), verify, extract --all
MANY_IMAGES=200 MANY_BASES=3 MANY_CONTAINERS=2000

# many_host: build the evidence unless a complete one is there (.built is written last)
many_host() {
  local dir=$BW/many ctx i b t0
  HOST=$dir/host
  [[ -f $dir/.built ]] && return 0
  [[ $is_root == 1 ]] || die "building the many host needs root"
  say "many: building $MANY_IMAGES images and $MANY_CONTAINERS containers in $dir (a few minutes)"
  t0=$SECONDS
  rm -rf "$dir"; mkdir -p "$HOST"
  host_skeleton "$HOST" bench-many
  start_dockerd "$HOST" /var/lib/docker
  ctx=$dir/ctx
  for ((b = 0; b < MANY_BASES; b++)); do
    busybox_rootfs "$ctx/base$b"
    printf 'base %s\n' "$b" >"$ctx/base$b/etc/base-release"
    ((b == 0)) || seq $((b * 1000)) >"$ctx/base$b/etc/base-numbers"
    tar -C "$ctx/base$b" -cf "$ctx/base$b.tar" .
    "$DOCKER" import -m "busybox base $b" "$ctx/base$b.tar" "many/base$b:1" >/dev/null
  done
  for ((i = 0; i < MANY_IMAGES; i++)); do
    mkdir -p "$ctx/img$i/files/conf"
    printf 'FROM many/base%s:1\nCOPY files /opt/app%s/\n' $((i % MANY_BASES)) "$i" >"$ctx/img$i/Dockerfile"
    printf 'image %s\n' "$i" >"$ctx/img$i/files/VERSION"
    seq "$i" $((i + 100 + i * 7)) >"$ctx/img$i/files/data.txt"
    printf 'name=img-%s\nport=%s\n' "$i" $((8000 + i)) >"$ctx/img$i/files/conf/app.ini"
    head -c $((i * 37 % 4096 + 1)) /bin/busybox >"$ctx/img$i/files/blob"
  done
  # shellcheck disable=SC2016  # expanded by the sh of each job
  seq 0 $((MANY_IMAGES - 1)) | xargs -P 4 -I{} sh -c \
    'DOCKER_BUILDKIT=0 "$0" build -q --network=none -t "many/img-$1:1" "$2/img$1" >/dev/null' \
    "$DOCKER" {} "$ctx"
  # shellcheck disable=SC2016
  seq 0 $((MANY_CONTAINERS - 1)) | xargs -P 4 -I{} sh -c \
    '"$0" create --network none --name "c$1" "many/img-$(($1 % $2)):1" sh -c "echo $1" >/dev/null' \
    "$DOCKER" {} "$MANY_IMAGES"
  stop_dockerd; trap - EXIT
  rm -rf "$ctx"
  echo $((SECONDS - t0)) >"$dir/.build-seconds"
  touch "$dir/.built"
}

case_many() {
  many_host
  local out=$SCR/extract save=$SCR/save.tar n_img bytes t st
  rm_out() { rm -rf "$out"; sync; }
  rm_save() { rm -f "$save"; }
  note many "built in $(cat "$BW/many/.build-seconds") s by dockerd 20.10 (legacy builder, xargs -P 4); data root $(du -sh "$HOST/var/lib/docker" | cut -f1)"
  if [[ $is_root == 1 ]]; then
    say "many: starting dockerd on $HOST/var/lib/docker"
    start_dockerd "$HOST" /var/lib/docker
    local tags
    mapfile -t tags < <("$DOCKER" images --format '{{.Repository}}:{{.Tag}}' | grep -v '<none>' | sort)
    n_img=${#tags[@]}
    "$DOCKER" save -o "$save" "${tags[@]}"
    bytes=$(stat -c %s "$save")
    bench many "docker save (all)" anchor "$bytes" rm_save "$DOCKER" save -o "$save" "${tags[@]}"
    # layer sharing, as the engine's own save counts it
    st=$(python3 - "$save" <<'PY'
import json, sys, tarfile
with tarfile.open(sys.argv[1]) as tf:
    size = {m.name: m.size for m in tf.getmembers()}
    man = json.load(tf.extractfile("manifest.json"))
    layer = {}  # diff_id -> bytes of its tar
    per_image = 0
    for m in man:
        diff_ids = json.load(tf.extractfile(m["Config"]))["rootfs"]["diff_ids"]
        for path, d in zip(m["Layers"], diff_ids):
            layer[d] = size[path]
            per_image += size[path]
print(len(man), len(layer), sum(layer.values()), per_image, len({l for m in man for l in m["Layers"]}))
PY
)
    read -r n_img MANY_LAYERS MANY_DISTINCT per_image t <<<"$st"
    note many "docker save: $n_img images, $MANY_LAYERS distinct layers (diff_ids; $t layer directories in the save tar), $MANY_DISTINCT bytes in distinct layers vs $per_image summed over images ($(( per_image / (MANY_DISTINCT > 0 ? MANY_DISTINCT : 1) ))x); one save tar $bytes bytes"
    rm_save
    stop_dockerd; trap - EXIT
  fi
  say "many: checking extract --all's correctness"
  rm_out
  "$BIN" extract --all "$HOST" "$out" >>"$LOG" 2>&1 || die "extract --all failed (see $LOG)"
  t=$(python3 - "$out" "$MANY_IMAGES" "$MANY_BASES" <<'PY'
import glob, json, sys
reps = [json.load(open(p)) for p in glob.glob(sys.argv[1] + "/image_*/report.json")]
want = int(sys.argv[2]) + int(sys.argv[3])
bad = [r.get("image_id", r.get("id")) for r in reps if r.get("verified") is not True]
assert not bad, f"not verified: {bad}"
assert len(reps) == want, f"{len(reps)} images extracted, want {want}"
layers = {l["sha256"] for r in reps for l in r["layers"]}
print(len(reps), len(layers))
PY
) || die "extract --all's reports are not all verified, or not $MANY_IMAGES + $MANY_BASES"
  read -r n_img t <<<"$t"
  note many "extract --all: $n_img images, every report.json verified; $t distinct layer sha256s in the reports; wrote $(du -sb "$out" | cut -f1) bytes (du -sb; $(du -sbl "$out" | cut -f1) counting hard links again), $(find "$out" -type f | wc -l) files, $(find "$out" -type f -links +1 | wc -l) with more than one link; layer.tar files: $(find "$out" -name layer.tar | wc -l), $(find "$out" -name layer.tar -printf '%i\n' | sort -u | wc -l) distinct inodes; image.tar files: $(find "$out" -name image.tar -printf '%s\n' | awk '{s += $1} END {print NR " files, " s " bytes"}')"
  rm_out
  bench many "images" ours 0 : "$BIN" images -q "$HOST"
  bench many "containers" ours 0 : "$BIN" containers -q "$HOST"
  bench many "verify" ours "${MANY_DISTINCT:-0}" : "$BIN" verify -q "$HOST"
  bench many "extract --all" ours "${MANY_DISTINCT:-0}" rm_out "$BIN" extract -q --all "$HOST" "$out"
  rm_out
  # per image and per distinct GB, from the warm medians just measured
  t=$(awk -F'\t' '$1 == "many" && $2 == "extract --all" && $4 == "warm" {print $5}' "$RAW" | sort -n |
    awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
  note many "extract --all: $(awk -v t="$t" -v n="$n_img" 'BEGIN {printf "%.1f ms per image", 1000 * t / n}')$(
    [[ -n ${MANY_DISTINCT:-} ]] && awk -v t="$t" -v b="$MANY_DISTINCT" 'BEGIN {printf ", %.1f s per distinct GB", t / (b / 1e9)}')"
  if [[ $PERF == 1 ]]; then
    perf record -q -g -o "$BW/perf-many-containers.data" "$BIN" containers -q "$HOST" >>"$LOG" 2>&1
  fi
}
