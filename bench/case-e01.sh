# Case "e01": the large host on a disk, as examiners receive it. Sourced by
# bench/run.sh. Built here from the large host, by the real tools:
#   ext4.raw  GPT, one ext4 partition (mke2fs -d: no mount)
#   fast/best EnCase 6 E01 of ext4.raw (ewfacquire -c fast / -c best, 1.4 GiB segments)
#   xfs       the same tree on XFS (mkfs.xfs, mounted and copied with cp -a), E01 -c fast
#   lvm       the ext4 partition inside LVM2 (make-lvm-disk.sh), E01 -c fast
#   qcow2     qemu-img convert -O qcow2 of ext4.raw
# For each: ours = extract fixture/large:1 and verify straight from the file;
# anchors on the same file in the same run = ewfverify (libewf reads,
# inflates and hashes the whole medium), ewfexport to raw then our extract
# from that raw, and qemu-io reading the whole qcow2.
# (#15's small-disk reading speed is case vm.)
e01_disk_mib() { echo $(( $(du -sm "$HOST" | cut -f1) * 12 / 10 + 1024 )); }

# e01_gpt RAW MIB: an empty disk with one GPT partition from sector 2048
e01_gpt() {
  truncate -s 0 "$1"; truncate -s "$(( $2 + 2 ))M" "$1"
  sgdisk -n 1:2048:0 -t 1:8300 -c 1:rootfs "$1" >/dev/null
}
e01_acquire() { # RAW OUT_PREFIX COMPRESSION DESCRIPTION
  ewfacquire -u -q -t "$2" -f encase6 -c "$3" -S 1.4GiB -C bench -D "$4" -e bench \
    -E "$(basename "$2")" -N "$4" "$1" >/dev/null
}

e01_build() {
  local d=$BW/e01 mib mnt loop t0
  [[ -f $d/.built ]] && return 0
  rm -rf "$d"; mkdir -p "$d"; t0=$SECONDS
  mib=$(e01_disk_mib)
  # in an order that keeps at most ~20 GB on disk at once
  say "e01: ext4 of $mib MiB (mke2fs -d), inside LVM2, E01 -c fast"
  mke2fs -q -t ext4 -L rootfs -d "$HOST" "$d/part.raw" "${mib}M"
  bash "$FIX/make-lvm-disk.sh" "$d/part.raw" "$d/lvm.raw" >/dev/null
  e01_acquire "$d/lvm.raw" "$d/lvm" fast "large host, MBR+LVM2+ext4"
  rm -f "$d/lvm.raw"
  say "e01: the same ext4 on GPT, E01 -c fast and -c best, qcow2"
  e01_gpt "$d/ext4.raw" "$mib"
  dd if="$d/part.raw" of="$d/ext4.raw" bs=4M seek=$((2048 * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
  rm -f "$d/part.raw"
  e01_acquire "$d/ext4.raw" "$d/fast" fast "large host, GPT+ext4"
  e01_acquire "$d/ext4.raw" "$d/best" best "large host, GPT+ext4"
  qemu-img convert -O qcow2 "$d/ext4.raw" "$d/large.qcow2"
  rm -f "$d/ext4.raw"
  say "e01: XFS"
  e01_gpt "$d/xfs.raw" "$mib"
  loop=$(losetup -f --show -o $((2048 * 512)) --sizelimit $((mib * 1048576)) "$d/xfs.raw")
  mkfs.xfs -q -f -L rootfs "$loop"
  mnt=$(mktemp -d /tmp/benchxfs.XXXXXX)
  mount "$loop" "$mnt"
  cp -a "$HOST/." "$mnt/"
  umount "$mnt"; rmdir "$mnt"; losetup -d "$loop"
  e01_acquire "$d/xfs.raw" "$d/xfs" fast "large host, GPT+XFS"
  rm -f "$d/xfs.raw"
  touch "$d/.built"
  note e01 "built in $((SECONDS - t0)) s: $(cd "$d" && du -shc ./*.E0* ./*.qcow2 | tail -1 | cut -f1) of evidence"
}

case_e01() {
  large_host
  e01_build
  local d=$BW/e01 out=$SCR/extract raw=$SCR/export bytes f vsize
  rm_out() { rm -rf "$out"; sync; }
  # the image's size as docker save writes it (case dir records it)
  bytes=$(cat "$HOST_DIR/image.bytes" 2>/dev/null || echo 0)
  for f in "$d"/*.E01 "$d/large.qcow2"; do
    note e01 "$(basename "$f"): $(du -shc "${f%.*}".* | tail -1 | cut -f1)"
  done
  # Warm only: these files are read sequentially, and a cold run adds
  # the disk's read of 2-6 GB to every command alike.
  local COLD=0
  for f in fast best xfs lvm; do
    bench e01 "ewfverify (E01 -c $f)" anchor "$bytes" : ewfverify -q "$d/$f.E01"
    bench e01 "extract (E01 -c $f)" ours "$bytes" rm_out "$BIN" extract -q "$IMAGE" "$d/$f.E01" "$out"
    # the last run's output: its layers are the ones docker save wrote
    check_layers "$out"/image_*/report.json "$EXPECTED" "$IMAGE" || die "layers from $f.E01 differ from docker save's"
    [[ $bytes != 0 ]] || bytes=$(stat -c %s "$out"/image_*/image.tar)
    rm_out
  done
  bench e01 "verify (E01 -c fast)" ours "$bytes" : "$BIN" verify -q "$d/fast.E01"
  note e01 "every file: extract's layer sha256s equal large.expected.json's saved layers (checked on the last timed run's output)"
  # ewfexport to raw, then our extract from that raw (fast only)
  rm_raw() { rm -f "$raw".raw*; sync; }
  bench_once e01 "ewfexport to raw (E01 -c fast)" anchor "$bytes" rm_raw ewfexport -q -u -f raw -t "$raw" "$d/fast.E01"
  bench e01 "extract (raw from ewfexport)" ours "$bytes" rm_out "$BIN" extract -q "$IMAGE" "$raw.raw" "$out"
  rm_raw; rm_out
  vsize=$(qemu-img info --output=json "$d/large.qcow2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')
  # qemu reading the whole virtual disk through its qcow2 driver, 1 GiB
  # at a time. (Not `qemu-img convert` to a null-co target: it finished
  # 6 GB in 0.5 s, so it did not read the data.)
  local qio=() o len
  for ((o = 0; o < vsize; o += 1 << 30)); do
    len=$((vsize - o < 1 << 30 ? vsize - o : 1 << 30))
    qio+=(-c "read -q $o $len")
  done
  bench e01 "qemu-io read (qcow2)" anchor "$bytes" : qemu-io -r -f qcow2 "${qio[@]}" "$d/large.qcow2"
  bench e01 "extract (qcow2)" ours "$bytes" rm_out "$BIN" extract -q "$IMAGE" "$d/large.qcow2" "$out"
  check_layers "$out"/image_*/report.json "$EXPECTED" "$IMAGE" || die "layers from large.qcow2 differ from docker save's"
  bench e01 "verify (qcow2)" ours "$bytes" : "$BIN" verify -q "$d/large.qcow2"
  if [[ $PERF == 1 ]]; then
    perf record -q -g -o "$BW/perf-e01-extract.data" "$BIN" extract -q "$IMAGE" "$d/fast.E01" "$out" >>"$LOG" 2>&1; rm_out
  fi
  rm_out
  if [[ $KEEP == 0 ]]; then rm -rf "$d"; fi
}
