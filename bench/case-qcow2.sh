# shellcheck shell=bash disable=SC2154  # sourced by run.sh, which sets BW, BIN, HOST...
# Case "qcow2": the large host's GPT+ext4 disk as a qcow2 only, for #15's
# reading-speed target without the e01 case's four E01s (~15 min to build).
#   evidence: $BW/qcow2/large.qcow2: mke2fs -d of the large host into a GPT
#             partition (as case e01 builds ext4.raw), qemu-img convert -O qcow2;
#             BENCH_QCOW2=PATH uses an existing qcow2 of the same host instead
#   anchor:   qemu-io reading the whole virtual disk, 1 GiB at a time
#   floor:    verify from the directory host (what the disk path adds)
#   ours:     verify (target <= 1.2x qemu-io) and extract from the qcow2
qcow2_build() {
  local d=$BW/qcow2 mib
  QCOW2=${BENCH_QCOW2:-$d/large.qcow2}
  [[ -n ${BENCH_QCOW2:-} || -f $d/.built ]] && return 0
  . "$here/case-e01.sh"   # e01_disk_mib, e01_gpt
  rm -rf "$d"; mkdir -p "$d"
  mib=$(e01_disk_mib)
  say "qcow2: ext4 of $mib MiB (mke2fs -d) on GPT, then qemu-img convert"
  mke2fs -q -t ext4 -L rootfs -d "$HOST" "$d/part.raw" "${mib}M"
  e01_gpt "$d/ext4.raw" "$mib"
  dd if="$d/part.raw" of="$d/ext4.raw" bs=4M seek=$((2048 * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
  rm -f "$d/part.raw"
  qemu-img convert -O qcow2 "$d/ext4.raw" "$QCOW2"
  rm -f "$d/ext4.raw"
  touch "$d/.built"
}

case_qcow2() {
  large_host
  qcow2_build
  local bytes vsize out=$SCR/extract qio=() o len
  rm_out() { rm -rf "$out"; sync; }
  local COLD=0   # warm only: the cold path is case dir's
  bytes=$(cat "$HOST_DIR/image.bytes" 2>/dev/null || echo 0)
  vsize=$(qemu-img info --output=json "$QCOW2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')
  for ((o = 0; o < vsize; o += 1 << 30)); do
    len=$((vsize - o < 1 << 30 ? vsize - o : 1 << 30))
    qio+=(-c "read -q $o $len")
  done
  note qcow2 "$(basename "$QCOW2"): $(du -sh "$QCOW2" | cut -f1), virtual size $vsize bytes (GPT + ext4 of the large host by mke2fs -d, qemu-img convert -O qcow2)"
  bench qcow2 "qemu-io read (qcow2)" anchor "$bytes" : qemu-io -r -f qcow2 "${qio[@]}" "$QCOW2"
  bench qcow2 "verify (qcow2)" ours "$bytes" : "$BIN" verify -q "$QCOW2"
  bench qcow2 "verify (directory host)" info "$bytes" : "$BIN" verify -q "$HOST"
  bench qcow2 "extract (qcow2)" ours "$bytes" rm_out "$BIN" extract -q "$IMAGE" "$QCOW2" "$out"
  check_layers "$out"/image_*/report.json "$EXPECTED" "$IMAGE" || die "layers from the qcow2 differ from docker save's"
  rm_out
  note qcow2 "extract's layer sha256s equal large.expected.json's saved layers (checked on the last timed run's output)"
  [[ -n ${BENCH_QCOW2:-} || $KEEP == 1 ]] || rm -rf "$BW/qcow2"
}
