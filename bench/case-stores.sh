# Case "stores": the same large image (fixture/large:1, as docker save wrote
# it) in the stores of the other engines, imported by the real tools:
#   containerd  Debian's containerd 1.6, `ctr images import` (content blobs + unpacked snapshots)
#   podman      Debian's Podman 4.3, `podman load` (overlay layers + tar-split)
# One store at a time (each is ~10 GB): build, measure, delete (unless BENCH_KEEP=1).
#   floor:   openssl sha256 of the save tar (the same bytes)
#   anchors: `ctr images export` (containerd), `skopeo copy containers-storage:...
#            docker-archive:...` (Podman), on the same data, same run
#   ours:    extract and verify, layers checked against large.expected.json (on the timed runs' output)
stores_save_tar() { # the image as docker save writes it, once
  local t=$BW/stores/save.tar
  [[ -f $t ]] && { echo "$t"; return 0; }
  mkdir -p "$BW/stores"
  start_dockerd "$HOST" /var/lib/docker >&2
  $DOCKER save -o "$t.part" "$IMAGE"
  stop_dockerd >&2; trap - EXIT
  mv "$t.part" "$t"; echo "$t"
}

# stores_ours STORE ROOT: extract and verify from ROOT; the last timed
# extract's layers are checked against the ones docker save wrote.
stores_ours() {
  bench stores "extract ($1)" ours "$bytes" rm_out "$BIN" extract -q "$id" "$2" "$out"
  check_layers "$out"/image_*/report.json "$EXPECTED" "$IMAGE" || die "$1: layers differ from docker save's"
  rm_out
  bench stores "extract --archive-only ($1)" ours "$bytes" rm_out "$BIN" extract -q --archive-only "$id" "$2" "$out"
  check_archive "$out"/image_*/image.tar "$EXPECTED" "$IMAGE" || die "$1 --archive-only: image.tar's layers differ from docker save's"
  rm_out
  bench stores "verify ($1)" ours "$bytes" : "$BIN" verify -q "$2"
}

case_stores() {
  large_host
  local save bytes id out=$SCR/extract anchor=$SCR/anchor.tar root t0
  save=$(stores_save_tar)
  bytes=$(stat -c %s "$save")
  id=$(python3 -c 'import json,sys; print(next(i["id"] for i in json.load(open(sys.argv[1]))["images"] if sys.argv[2] in i["tags"]))' "$EXPECTED" "$IMAGE")
  rm_out() { rm -rf "$out"; sync; }
  rm_anchor() { rm -f "$anchor"; sync; }
  local COLD=0   # warm only: the cold path is case dir's
  bench stores "floor: openssl sha256" floor "$bytes" : openssl dgst -sha256 "$save"

  # containerd ------------------------------------------------------------
  root=$BW/stores/ctrd/host
  if [[ ! -f $BW/stores/ctrd/.built ]]; then
    rm -rf "$BW/stores/ctrd"; mkdir -p "$root"; t0=$SECONDS
    start_containerd "$root/var/lib/containerd"
    $CTR -n bench images import --all-platforms "$save" >/dev/null
    stop_containerd
    touch "$BW/stores/ctrd/.built"
    note stores "containerd root built by ctr images import in $((SECONDS - t0)) s: $(du -sh "$root" | cut -f1)"
  fi
  stores_ours containerd "$root"
  # the anchor needs a running containerd on the same root (it writes to it: last)
  start_containerd "$root/var/lib/containerd"
  bench stores "ctr images export (containerd)" anchor "$bytes" rm_anchor \
    $CTR -n bench images export "$anchor" "docker.io/$IMAGE"
  stop_containerd; rm_anchor
  [[ $KEEP == 1 ]] || rm -rf "$BW/stores/ctrd"

  # Podman ----------------------------------------------------------------
  root=$BW/stores/podman/host
  local storage=$root/var/lib/containers/storage run
  run=$(mktemp -d /tmp/benchpm.XXXXXX)
  local PM=(podman --root "$storage" --runroot "$run" --storage-driver overlay
    --cgroup-manager cgroupfs --events-backend file)
  if [[ ! -f $BW/stores/podman/.built ]]; then
    rm -rf "$BW/stores/podman"; mkdir -p "$storage"; t0=$SECONDS
    "${PM[@]}" load -q -i "$save" >/dev/null
    umount "$storage/overlay" 2>/dev/null || true
    touch "$BW/stores/podman/.built"
    note stores "Podman root built by podman load in $((SECONDS - t0)) s: $(du -sh "$root" | cut -f1)"
  fi
  umount "$storage/overlay" 2>/dev/null || true
  stores_ours podman "$root"
  bench stores "skopeo copy to docker-archive (podman)" anchor "$bytes" rm_anchor \
    skopeo copy -q "containers-storage:[overlay@$storage+$run]${id#sha256:}" "docker-archive:$anchor"
  umount "$storage/overlay" 2>/dev/null || true
  rm -rf "$run"; rm_anchor
  [[ $KEEP == 1 ]] || rm -rf "$BW/stores/podman"
  note stores "every store: extract's layer sha256s equal large.expected.json's saved layers (checked on the last timed run's output)"
}
