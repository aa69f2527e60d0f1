# Case "dir": the large host as a directory tree (the examiner mounted the
# evidence, or copied it). Sourced by bench/run.sh.
#   floor:  openssl sha256 of the tar docker save wrote (one stream, the same bytes)
#   anchor: docker save -o by a real dockerd on this data root
#   ours:   extract fixture/large:1, verify, and extract --all / verify of basic (memory)
case_dir() {
  large_host
  local save=$SCR/save.tar out=$SCR/extract bytes basic
  rm_save() { rm -f "$save"; }
  rm_out() { rm -rf "$out"; sync; }
  if [[ $is_root == 1 ]]; then
    # dockerd writes into the data root when it starts: that happens here,
    # before anything of ours is measured.
    say "starting dockerd on $HOST/var/lib/docker"
    start_dockerd "$HOST" /var/lib/docker
    $DOCKER image inspect "$IMAGE" >/dev/null
    $DOCKER save -o "$save" "$IMAGE"
    bytes=$(stat -c %s "$save")
    # one warm run: a 70 s anchor needs no warm-up or median
    bench_once dir "docker save" anchor "$bytes" rm_save $DOCKER save -o "$save" "$IMAGE"
    rm_save; sync
    measure dir "docker save + sync" anchor warm "$bytes" sh -c "$DOCKER save -o '$save' '$IMAGE' && sync"
    note dir "dockerd's own peak RSS over its saves: $(( $(awk '/VmHWM/ {print $2}' "/proc/$(cat "$WORK/pid")/status") / 1024 )) MiB (the table shows the CLI's)"
    stop_dockerd; trap - EXIT
  fi
  say "dir: checking extract's correctness"
  rm_out
  "$BIN" extract "$IMAGE" "$HOST" "$out" >>"$LOG" 2>&1 || die "extract failed (see $LOG)"
  check_layers "$out"/image_*/report.json "$EXPECTED" "$IMAGE" || die "extract's layers differ from docker save's"
  (cd "$out"/image_* && sha256sum --quiet -c SHA256SUMS) || die "sha256sum -c SHA256SUMS failed"
  [[ -f $save ]] || cp "$out"/image_*/image.tar "$save"   # no dockerd: floor over our own archive
  bytes=$(stat -c %s "$save")
  echo "$bytes" >"$HOST_DIR/image.bytes"
  note dir "image $IMAGE: $((bytes / 1000000)) MB as docker save writes it; extract writes $(( $(du -sb "$out" | cut -f1) / 1000000 )) MB (layer tars + image.tar); layers checked against large.expected.json"
  rm_out
  bench dir "floor: openssl sha256" floor "$bytes" : openssl dgst -sha256 "$save"
  rm_save
  bench dir "extract" ours "$bytes" rm_out "$BIN" extract -q "$IMAGE" "$HOST" "$out"
  rm_out
  # Each layer written once, inside image.tar (the default writes it twice).
  bench dir "extract --archive-only" ours "$bytes" rm_out "$BIN" extract -q --archive-only "$IMAGE" "$HOST" "$out"
  check_archive "$out"/image_*/image.tar "$EXPECTED" "$IMAGE" || die "extract --archive-only: image.tar's layers differ from docker save's"
  rm_out
  bench dir "verify" ours "$bytes" : "$BIN" verify -q "$HOST"
  if [[ $PERF == 1 ]]; then
    perf stat -d -o "$BW/perf-stat-dir-extract.txt" "$BIN" extract -q "$IMAGE" "$HOST" "$out" >>"$LOG" 2>&1; rm_out
    perf record -q -g -o "$BW/perf-dir-extract.data" "$BIN" extract -q "$IMAGE" "$HOST" "$out" >>"$LOG" 2>&1; rm_out
    perf stat -d -o "$BW/perf-stat-dir-verify.txt" "$BIN" verify -q "$HOST" >>"$LOG" 2>&1
  fi
  # memory on the small basic fixture (15 images, 6 containers)
  basic=$BW/basic/host
  if [[ $is_root == 1 && ! -d $basic/var/lib/docker ]]; then
    rm -rf "$basic"; mkdir -p "$basic"
    tar --xattrs --xattrs-include='*' --numeric-owner -xpzf "$FIX/basic.host.tar.gz" -C "$basic"
  fi
  [[ -d $basic/var/lib/docker ]] || basic=$repo/samples/basic.disk.E01
  bench dir "extract --all (basic)" info 0 rm_out "$BIN" extract -q --all "$basic" "$out"
  rm_out
  bench dir "verify (basic)" info 0 : "$BIN" verify -q "$basic"
}
