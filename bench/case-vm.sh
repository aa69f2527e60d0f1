# shellcheck shell=bash disable=SC2154  # sourced by run.sh, which sets BW, BIN, FIX...
# Case "vm": #15's reading speed from compressed VM disks, on the small basic
# fixture (15 images; its disk is 74 MiB, 1.4 MB compressed).
#   evidence: $BW/vm/basic.raw (ewfexport of basic.disk.E01), and of it by
#             qemu-img convert: a zstd-compressed qcow2, a deflate-compressed
#             qcow2 and a stream-optimized VMDK
#   floor:    verify from the raw disk
#   ours:     verify from each (target <= 1.5x the raw disk: zstd qcow2 and
#             stream-optimized VMDK)
# One verify takes ~15 ms, close to the cost of starting the measurement, so
# each row is VM_LOOPS (default 50) verifies run back to back.
vm_build() {
  local d=$BW/vm
  [[ -f $d/.built ]] && return 0
  rm -rf "$d"; mkdir -p "$d"
  ewfexport -q -u -f raw -t "$d/basic" "$FIX/basic.disk.E01" >/dev/null
  qemu-img convert -O qcow2 -c -o compression_type=zstd "$d/basic.raw" "$d/basic-zstd.qcow2"
  qemu-img convert -O qcow2 -c "$d/basic.raw" "$d/basic-deflate.qcow2"
  qemu-img convert -O vmdk -o subformat=streamOptimized "$d/basic.raw" "$d/basic-stream.vmdk"
  touch "$d/.built"
}

# vm_loop N ARGV...: ARGV N times, its output discarded; fails on the first failure
vm_loop() {
  local n=$1 i; shift
  for ((i = 0; i < n; i++)); do "$@" >/dev/null || return 1; done
}

case_vm() {
  vm_build
  local d=$BW/vm n=${VM_LOOPS:-50} COLD=0   # warm only: the files are small
  export -f vm_loop
  bench vm "verify (raw)" floor 0 : bash -c 'vm_loop "$@"' _ "$n" "$BIN" verify -q "$d/basic.raw"
  bench vm "verify (zstd qcow2)" ours 0 : bash -c 'vm_loop "$@"' _ "$n" "$BIN" verify -q "$d/basic-zstd.qcow2"
  bench vm "verify (deflate qcow2)" info 0 : bash -c 'vm_loop "$@"' _ "$n" "$BIN" verify -q "$d/basic-deflate.qcow2"
  bench vm "verify (stream-optimized vmdk)" ours 0 : bash -c 'vm_loop "$@"' _ "$n" "$BIN" verify -q "$d/basic-stream.vmdk"
  note vm "the basic fixture (15 images) from its raw disk (ewfexport of basic.disk.E01) and from a zstd qcow2, a deflate qcow2 and a stream-optimized VMDK of it (qemu-img convert); each row is $n verifies back to back"
  [[ $KEEP == 1 ]] || rm -rf "$d"
}
