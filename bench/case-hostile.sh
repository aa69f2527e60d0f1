# Case "hostile": peak memory on the hostile inputs of the reliability tests
# (issue #14, target 7: "every input in the reliability issue runs under
# 64 MiB RSS"). Sourced by bench/run.sh.
#
# Each input is built here as the test named beside it builds it (bash and
# python3 from the fixture hosts and disks; tests/ and src/ are not used),
# under $BW/hostile/<input>, and each relevant command runs once on it. Hostile
# inputs exit 1 or 3 by design, so runs go through measure_any (lib.sh): the
# row's command ends in "→ exit N". Every run is under `timeout` (a hang is
# exit 124). No floor, no ratio: the figure is the RSS (target: < 64 MiB).
#
# Needs root (the hosts hold overlay whiteout devices and trusted.* xattrs),
# ewf-tools, qemu-utils, e2fsprogs, xfsprogs, gzip, python3.

# shellcheck disable=SC2154 # is_root, BW, FIX, SCR, RAW, BIN: set by run.sh
HOSTILE_TIMEOUT=${BENCH_HOSTILE_TIMEOUT:-300}
HOSTILE_LIMIT_KIB=$((64 * 1024))

# hx_src FIXTURE: the fixture's host tree, extracted once.
hx_src() {
  local d=$BW/hostile/src/$1
  if [[ ! -d $d/var ]]; then
    rm -rf "$d"; mkdir -p "$d"
    tar --xattrs --xattrs-include='*' --numeric-owner -xpzf "$FIX/$1.host.tar.gz" -C "$d"
  fi
  printf '%s\n' "$d"
}

# hx_copy FIXTURE INPUT: a fresh copy of the fixture's host as $BW/hostile/INPUT.
hx_copy() {
  local src d=$BW/hostile/$2
  src=$(hx_src "$1")
  rm -rf "$d"; mkdir -p "$d"
  cp -a "$src/." "$d/"
  printf '%s\n' "$d"
}

# hx_run INPUT COMMAND ARGV...: one measured run of ours (any exit status),
# its status kept in $BW/hostile/status.tsv.
hx_run() {
  local input=$1 cmd=$2; shift 2
  rm_scr
  measure_any hostile "$cmd ($input)" ours warm 0 \
    timeout -k 10 "$HOSTILE_TIMEOUT" "$BIN" "$@"
  printf '%s\t%s\t%s\t%s\t%s\n' "$input" "$cmd" "$MEASURED_STATUS" \
    "$(tail -1 "$RAW" | cut -f5)" "$(tail -1 "$RAW" | cut -f6)" >>"$BW/hostile/status.tsv"
}

# hx_py ARGS...: python3 reading its program from stdin.
hx_py() { python3 - "$@"; }

# --- disk images (tests/disk_bad.rs, disk_qcow2.rs, disk_vmdk.rs, disk_vhd_vdi.rs)

hostile_disks() {
  local d=$BW/hostile/disk r cmp_sha i
  mkdir -p "$d"
  if [[ ! -f $d/basic.raw ]]; then
    ewfexport -q -f raw -u -t "$d/basic" "$FIX/basic.disk.E01" >/dev/null
  fi
  r=$d/basic.raw
  cmp_sha=$(sha256sum "$r" | cut -d' ' -f1)
  [[ $cmp_sha == "$(cut -d' ' -f1 "$FIX/basic.disk.raw.sha256")" ]] || die "hostile: ewfexport of basic.disk.E01 differs"

  # EWF cut inside its sections, and a chunk's bytes flipped (disk_bad.rs)
  head -c 800000 "$FIX/basic.disk.E01" >"$d/e01-truncated.E01"
  cp "$FIX/basic.disk.E01" "$d/e01-corrupt-chunk.E01"; chmod u+w "$d/e01-corrupt-chunk.E01"
  hx_py "$d/e01-corrupt-chunk.E01" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(700_000); b = bytearray(f.read(16))
    f.seek(700_000); f.write(bytes(x ^ 0x5A for x in b))
PY
  # an MBR whose only partition runs far past the disk's end (disk_bad.rs)
  hx_py "$d/mbr-past-end.raw" <<'PY'
import struct, sys
disk = bytearray(4 << 20)
disk[446 + 4] = 0x83
disk[446 + 8:446 + 12] = struct.pack("<I", 2048)
disk[446 + 12:446 + 16] = struct.pack("<I", 10_000_000)
disk[510:512] = b"\x55\xaa"
open(sys.argv[1], "wb").write(disk)
PY

  # QCOW2: an L1 table of u32::MAX entries; an L2 entry past the end (disk_qcow2.rs)
  (cd "$d" && rm -f plain.qcow2 && qemu-img convert -O qcow2 basic.raw plain.qcow2)
  cp "$d/plain.qcow2" "$d/qcow2-huge-l1.qcow2"
  cp "$d/plain.qcow2" "$d/qcow2-bad-l2.qcow2"
  hx_py "$d/qcow2-huge-l1.qcow2" "$d/qcow2-bad-l2.qcow2" <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(36); f.write(struct.pack(">I", 0xFFFFFFFF))
with open(sys.argv[2], "r+b") as f:
    b = f.read()
    be64 = lambda at: struct.unpack_from(">Q", b, at)[0]
    l1 = be64(40); l2 = be64(l1) & 0x00FF_FFFF_FFFF_FE00
    at = next(l2 + i * 8 for i in range(8192) if be64(l2 + i * 8) != 0)
    f.seek(at); f.write(struct.pack(">Q", 0x8000_00FF_0000_0000))
PY
  # VMDK: a grain table entry past the end (disk_vmdk.rs)
  (cd "$d" && rm -f s.vmdk && qemu-img convert -O vmdk -o subformat=monolithicSparse basic.raw s.vmdk)
  mv "$d/s.vmdk" "$d/vmdk-bad-gte.vmdk"
  hx_py "$d/vmdk-bad-gte.vmdk" <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    b = f.read()
    gd = struct.unpack_from("<Q", b, 56)[0] * 512
    gt = struct.unpack_from("<I", b, gd)[0] * 512
    slot = next(i for i in range(512) if struct.unpack_from("<I", b, gt + i * 4)[0] > 1)
    f.seek(gt + slot * 4); f.write(struct.pack("<I", 0x7FFF_FFF0))
PY
  # VHD, VHDX, VDI: an allocation table entry past the end (disk_vhd_vdi.rs)
  (cd "$d" && rm -f dyn.vhd disk.vhdx dyn.vdi &&
    qemu-img convert -O vpc -o subformat=dynamic,force_size=on basic.raw dyn.vhd &&
    qemu-img convert -O vhdx basic.raw disk.vhdx && qemu-img convert -O vdi basic.raw dyn.vdi)
  mv "$d/dyn.vhd" "$d/vhd-bad-bat.vhd"; mv "$d/disk.vhdx" "$d/vhdx-bad-bat.vhdx"
  mv "$d/dyn.vdi" "$d/vdi-bad-map.vdi"
  hx_py "$d/vhd-bad-bat.vhd" "$d/vhdx-bad-bat.vhdx" "$d/vdi-bad-map.vdi" <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    b = f.read(1 << 20)
    dyn = struct.unpack_from(">Q", b, 16)[0]
    f.seek(dyn); h = f.read(64)
    bat = struct.unpack_from(">Q", h, 16)[0]
    f.seek(bat); f.write(struct.pack(">I", 0x7FFF_0000))
with open(sys.argv[2], "r+b") as f:
    b = f.read()
    guid = bytes([0x66, 0x77, 0xC2, 0x2D, 0x23, 0xF6, 0x00, 0x42,
                  0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08])
    rt = 192 << 10
    e = next(rt + 16 + i * 32 for i in range(8) if b[rt + 16 + i * 32:rt + 32 + i * 32] == guid)
    bat = struct.unpack_from("<Q", b, e + 16)[0]
    first = next(bat + i * 8 for i in range(64) if b[bat + i * 8] & 7 == 6)
    f.seek(first); f.write(struct.pack("<Q", (1 << 40) | 6))
with open(sys.argv[3], "r+b") as f:
    b = f.read(4096)
    m = struct.unpack_from("<I", b, 340)[0]
    f.seek(m); f.write(struct.pack("<I", 0x00FF_0000))
PY
  rm -f "$d/plain.qcow2"

  # filesystems: an XFS extent 40,000,000 blocks out, an ext4 directory
  # loop (disk_bad.rs)
  rm -rf "$d/fs" && mkdir -p "$d/fs/tree/d1/d2"
  head -c 100000 /dev/urandom >"$d/fs/payload"
  printf '/dev/null\n0 0\nd--755 0 0\nfile ---644 0 0 %s\n$\n' "$d/fs/payload" >"$d/fs/proto"
  rm -f "$d/xfs-extent-past-end.img" "$d/ext4-dir-loop.img"
  truncate -s 300M "$d/xfs-extent-past-end.img"
  mkfs.xfs -q -f -p "$d/fs/proto" "$d/xfs-extent-past-end.img"
  xfs_db -x -c 'path /file' -c 'write u3.bmx[0].startblock 40000000' "$d/xfs-extent-past-end.img" >/dev/null
  mke2fs -q -t ext4 -b 4096 -d "$d/fs/tree" "$d/ext4-dir-loop.img" 16M
  debugfs -w -R 'ln /d1 /d1/d2/back' "$d/ext4-dir-loop.img" 2>/dev/null
  rm -rf "$d/fs"

  # an EWF set of 1 MiB segments of 6 MiB of random bytes, its second
  # segment gone (disk_bad.rs)
  rm -f "$d"/e01-missing-segment.E0*
  head -c $((6 << 20)) /dev/urandom >"$d/random.raw"
  ewfacquire -u -q -c deflate:fast -S 1MiB -t "$d/e01-missing-segment" "$d/random.raw" >/dev/null
  rm -f "$d/e01-missing-segment.E02" "$d/random.raw"

  for i in e01-truncated.E01 e01-missing-segment.E01 e01-corrupt-chunk.E01 mbr-past-end.raw qcow2-huge-l1.qcow2 \
    qcow2-bad-l2.qcow2 vmdk-bad-gte.vmdk vhd-bad-bat.vhd vhdx-bad-bat.vhdx vdi-bad-map.vdi \
    xfs-extent-past-end.img ext4-dir-loop.img; do
    hx_run "${i%.*}" images images -q "$d/$i"
    hx_run "${i%.*}" verify verify -q "$d/$i"
  done
  # the chunk flipped in the E01 is found only when the whole image is read
  hx_run e01-corrupt-chunk "images --verify-image" images -q --verify-image "$d/e01-corrupt-chunk.E01"
  # not in the tests, which read the loop by path only: the same loop
  # (debugfs ln of a directory into itself) in a layer of the basic host on
  # an ext4 image, that layer's tar-split removed so that it is rebuilt by
  # walking its files (bad_input.rs removes a tar-split the same way)
  local src e diff='' ts=''
  src=$(hx_src basic)
  for e in "$src"/var/lib/docker/image/overlay2/layerdb/sha256/*; do
    diff=var/lib/docker/overlay2/$(cat "$e/cache-id")/diff
    ts=${e#"$src"}/tar-split.json.gz
    [[ -d $src/$diff/srv/app && ! -L $src/$diff/srv/app ]] && break
    diff=
  done
  [[ -n $diff ]] || die "hostile: no layer with srv/app in basic"
  rm -f "$d/ext4-host-dir-loop.img"
  mke2fs -q -t ext4 -b 4096 -d "$src" "$d/ext4-host-dir-loop.img" 64M
  debugfs -w -R "ln /$diff/srv /$diff/srv/app/back" "$d/ext4-host-dir-loop.img" 2>/dev/null
  debugfs -w -R "rm $ts" "$d/ext4-host-dir-loop.img" 2>/dev/null
  debugfs -R "ls /$diff/srv/app" "$d/ext4-host-dir-loop.img" 2>/dev/null | grep -qw back ||
    die "hostile: debugfs made no loop"
  for i in verify images; do
    hx_run ext4-host-dir-loop "$i" "$i" -q "$d/ext4-host-dir-loop.img"
  done
  hx_run ext4-host-dir-loop "extract --all" extract --all -q "$d/ext4-host-dir-loop.img" "$SCR/out"
  hx_run ext4-host-dir-loop timeline timeline -q "$d/ext4-host-dir-loop.img" --output "$SCR/timeline.txt"
}

# --- Docker stores (tests/hostile_evidence.rs, bad_input.rs, hostile_names.rs)

# the id of a fixture's image or container, as the engine gave it
hx_expected() {
  hx_py "$FIX/$1.expected.json" "$2" "$3" <<'PY'
import json, sys
exp, kind, key = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
if kind == "image":
    print(next(i["id"] for i in exp["images"] if i["tags"] and i["tags"][0] == key))
else:
    print(next(c["id"] for c in exp["containers"] if c["name"] == key))
PY
}

# hx_layer HOST I: the layerdb entry and the diff directory of layer I of
# fixture/web:1.0 in a copy of the basic host (as bad_input.rs finds them)
hx_layer() {
  hx_py "$FIX/basic.expected.json" "$1" "$2" <<'PY'
import hashlib, json, os, sys
exp, host, i = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3])
d = next(x for x in exp["images"] if x["tags"] and x["tags"][0] == "fixture/web:1.0")["diff_ids"]
c = d[0]
for x in d[1:i + 1]:
    c = "sha256:" + hashlib.sha256((c + " " + x).encode()).hexdigest()
root = os.path.join(host, "var/lib/docker")
ldb = os.path.join(root, "image/overlay2/layerdb/sha256", c.removeprefix("sha256:"))
cache = open(os.path.join(ldb, "cache-id")).read().strip()
print(ldb, os.path.join(root, "overlay2", cache, "diff"))
PY
}

hostile_docker() {
  local h web web_cfg evil layerdb top
  web=$(hx_expected basic image fixture/web:1.0); web=${web#sha256:}
  evil=$(hx_expected basic container evil-web)
  web_cfg=var/lib/docker/image/overlay2/imagedb/content/sha256/$web
  layerdb=var/lib/docker/image/overlay2/layerdb/sha256

  # a label nested 100,000 arrays deep in fixture/web:1.0's config
  h=$(hx_copy basic deep-config)
  hx_py "$h/$web_cfg" <<'PY'
import sys
p = sys.argv[1]; t = open(p).read()
deep = "[" * 100_000 + "]" * 100_000
open(p, "w").write(t.replace("{", '{"deep":' + deep + ",", 1))
PY
  hx_run deep-config "extract fixture/web:1.0" extract -q fixture/web:1.0 "$h" "$SCR/out"
  hx_run deep-config images images -q "$h"
  hx_run deep-config verify verify -q "$h"

  # the first file of a layer's tar-split claims 1 TiB (tar header in
  # base-256 and the entry's size); with the layer's size, then without
  h=$(hx_copy basic tarsplit-1tib)
  hx_py "$h/$layerdb" $((1 << 40)) >"$BW/hostile/tarsplit-1tib.entry" <<'PY'
import base64, gzip, json, os, sys
root, claim = sys.argv[1], int(sys.argv[2])
for e in os.listdir(root):  # directory order, as the test's read_dir
    ts = os.path.join(root, e, "tar-split.json.gz")
    if not os.path.exists(ts):
        continue
    lines = [json.loads(l) for l in gzip.open(ts, "rt").read().splitlines()]
    i = next((i for i in range(1, len(lines)) if lines[i].get("type") == 1
              and (lines[i].get("size") or 0) > 0 and lines[i - 1].get("type") == 2), None)
    if i is None:
        continue
    seg = bytearray(base64.b64decode(lines[i - 1]["payload"]))
    h = len(seg) - 512
    seg[h + 124:h + 136] = b"\x80\0\0\0" + claim.to_bytes(8, "big")
    seg[h + 148:h + 156] = b" " * 8
    seg[h + 148:h + 156] = b"%06o\0 " % sum(seg[h:h + 512])
    lines[i - 1]["payload"] = base64.b64encode(bytes(seg)).decode()
    lines[i]["size"] = claim
    with gzip.open(ts, "wt", compresslevel=1) as f:
        for l in lines:
            f.write(json.dumps(l, separators=(",", ":")) + "\n")
    print(os.path.join(root, e))
    break
else:
    sys.exit("no tar-split with a file")
PY
  hx_run tarsplit-1tib "extract --all" extract --all -q "$h" "$SCR/out"
  hx_run tarsplit-1tib verify verify -q "$h"
  rm -f "$(cat "$BW/hostile/tarsplit-1tib.entry")/size"
  hx_run "tarsplit-1tib, no size file" "extract --all" extract --all -q "$h" "$SCR/out"

  # ten million file entries in the top layer's tar-split of fixture/web:1.0
  h=$(hx_copy basic tarsplit-10m)
  top=$(hx_py "$h/$web_cfg" <<'PY'
import hashlib, json, sys
d = json.load(open(sys.argv[1]))["rootfs"]["diff_ids"]
c = d[0]
for x in d[1:]:
    c = "sha256:" + hashlib.sha256((c + " " + x).encode()).hexdigest()
print(c.removeprefix("sha256:"))
PY
  )
  python3 -c '
import sys
w = sys.stdout.write
for i in range(10_000_000):
    w("{\"type\":1,\"name\":\"f%d\",\"size\":0,\"position\":%d}\n" % (i, i))' |
    gzip -1 >"$h/$layerdb/$top/tar-split.json.gz"
  hx_run tarsplit-10m "extract fixture/web:1.0" extract -q fixture/web:1.0 "$h" "$SCR/out"
  hx_run tarsplit-10m verify verify -q "$h"

  # evil-web's log is a FIFO (would block a reader forever)
  h=$(hx_copy basic fifo-log)
  rm -f "$h/var/lib/docker/containers/$evil/$evil-json.log"
  mkfifo "$h/var/lib/docker/containers/$evil/$evil-json.log"
  hx_run fifo-log "export-container evil-web" export-container -q evil-web "$h" "$SCR/out"
  hx_run fifo-log containers containers -q "$h"
  hx_run fifo-log timeline timeline -q "$h" --output "$SCR/timeline.txt"

  # volume names: a Windows path, a device name, a stream, case twins
  h=$(hx_copy basic volume-names)
  hx_py "$h/var/lib/docker" "$evil" <<'PY'
import json, os, sys
root, cid = sys.argv[1], sys.argv[2]
cfg = os.path.join(root, "containers", cid, "config.v2.json")
v = json.load(open(cfg))
points = {}
for i, name in enumerate(["..\\..\\x", "CON", "a:b", "Data", "data"]):
    data = os.path.join(root, "volumes", name, "_data")
    os.makedirs(data, exist_ok=True)
    open(os.path.join(data, "file_%d" % i), "w").write("volume %d" % i)
    points["/v%d" % i] = {"Source": data, "Destination": "/v%d" % i, "RW": True,
                          "Name": name, "Driver": "local", "Type": "volume"}
v["MountPoints"] = points
json.dump(v, open(cfg, "w"))
PY
  hx_run volume-names "export-container evil-web" export-container -q evil-web "$h" "$SCR/out"

  # evil-web's mount-id gone: the timeline names what it cannot place
  h=$(hx_copy basic no-mount-id)
  rm -f "$h/var/lib/docker/image/overlay2/layerdb/mounts/$evil/mount-id"
  hx_run no-mount-id timeline timeline -q "$h" --output "$SCR/timeline.txt"

  # bad_input.rs on fixture/web:1.0: a file of layer 3 changed and layer 5's
  # zeros gone; layer 4's tar-split gone and layer 5's cut in half; layer 3's
  # srv/app a symlink to a directory outside the evidence
  local ldb dir
  h=$(hx_copy basic layer-files-tampered)
  read -r ldb dir < <(hx_layer "$h" 3)
  hx_py "$dir/srv/app/hello.txt" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[0] ^= 0x20
open(p, "wb").write(b)
PY
  read -r ldb dir < <(hx_layer "$h" 5)
  rm -f "$dir/srv/app/zeros"
  hx_run layer-files-tampered "extract fixture/web:1.0" extract -q fixture/web:1.0 "$h" "$SCR/out"
  hx_run layer-files-tampered verify verify -q "$h"
  h=$(hx_copy basic tarsplit-missing-and-cut)
  read -r ldb dir < <(hx_layer "$h" 4)
  rm -f "$ldb/tar-split.json.gz"
  read -r ldb dir < <(hx_layer "$h" 5)
  truncate -s $(($(stat -c %s "$ldb/tar-split.json.gz") / 2)) "$ldb/tar-split.json.gz"
  hx_run tarsplit-missing-and-cut "extract fixture/web:1.0" extract -q fixture/web:1.0 "$h" "$SCR/out"
  hx_run tarsplit-missing-and-cut verify verify -q "$h"
  h=$(hx_copy basic symlink-out)
  read -r ldb dir < <(hx_layer "$h" 3)
  rm -rf "$BW/hostile/outside"; mkdir -p "$BW/hostile/outside"
  head -c "$(stat -c %s "$dir/srv/app/hello.txt")" /dev/zero | tr '\0' X >"$BW/hostile/outside/hello.txt"
  mv "$dir/srv/app" "$dir/srv/app.moved"
  ln -s "$BW/hostile/outside" "$dir/srv/app"
  hx_run symlink-out "extract fixture/web:1.0" extract -q fixture/web:1.0 "$h" "$SCR/out"
  hx_run symlink-out verify verify -q "$h"

  # not in the tests: documents just under the bound the reader admits
  # (8 MiB, src/store/docker/images.rs CONFIG_LIMIT and REFERENCES_LIMIT)
  # and far over it (60 MiB): a repositories.json of many tags, and a long
  # label in fixture/web:1.0's config
  local mib
  for mib in 7 60; do
    h=$(hx_copy basic "repositories-${mib}mib")
    hx_py "$h/var/lib/docker/image/overlay2/repositories.json" "sha256:$web" "$mib" <<'PY'
import json, sys
p, web, mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = json.load(open(p))
tags = r["Repositories"].setdefault("fixture/many", {})
i = n = 0
while n < mib << 20:
    k = "fixture/many:t%07d" % i
    tags[k] = web; n += len(k) + len(web) + 6; i += 1
with open(p, "w") as f:
    json.dump(r, f)
PY
    hx_run "repositories-${mib}mib" images images -q "$h"
    hx_run "repositories-${mib}mib" verify verify -q "$h"
    h=$(hx_copy basic "config-${mib}mib")
    hx_py "$h/$web_cfg" "$mib" <<'PY'
import sys
p, mib = sys.argv[1], int(sys.argv[2])
t = open(p).read()
open(p, "w").write(t.replace("{", '{"big":"' + "x" * ((mib << 20) - 4096) + '",', 1))
PY
    hx_run "config-${mib}mib" images images -q "$h"
    hx_run "config-${mib}mib" "extract fixture/web:1.0" extract -q fixture/web:1.0 "$h" "$SCR/out"
  done
}

# --- containerd and Podman stores (hostile_evidence.rs, moby29.rs,
#     containerd_bad_input.rs, podman_bad_input.rs)

hostile_others() {
  local h content=var/lib/containerd/io.containerd.content.v1.content/blobs/sha256 att blob f
  # a gzip layer blob replaced by 64 MiB of zeros, gzip -1 (~300 KiB)
  h=$(hx_copy moby29 gzip-bomb)
  blob=$(hx_py "$h/$content" <<'PY'
import json, os, sys
d = sys.argv[1]
for e in os.listdir(d):
    p = os.path.join(d, e)
    if os.path.getsize(p) > 65536:
        continue
    try:
        m = json.load(open(p, "rb"))
    except ValueError:
        continue
    ls = m.get("layers") if isinstance(m, dict) else None
    g = [l for l in ls or [] if str(l.get("mediaType", "")).endswith("gzip")]
    if g:
        print(os.path.join(d, g[0]["digest"].removeprefix("sha256:")))
        break
else:
    sys.exit("no gzip layer in moby29")
PY
  )
  head -c 67108864 /dev/zero | gzip -1 >"$blob"
  hx_run gzip-bomb verify verify -q --json "$h" --output "$SCR/verify.json"
  hx_run gzip-bomb "extract --all" extract --all -q "$h" "$SCR/out"

  # fixture/web:1.0's provenance statement: 16 MiB + 1 of '[' (past the
  # bound), then 100,000 arrays deep
  att=$(hx_py "$FIX/moby29.expected.json" <<'PY'
import json, sys
exp = json.load(open(sys.argv[1]))
imgs = exp["images"] if isinstance(exp, dict) else exp
w = next(i for i in imgs if "fixture/web:1.0" in i["tags"])
print(w["save"]["attestations"][0]["layers"][0]["digest"].removeprefix("sha256:"))
PY
  )
  h=$(hx_copy moby29 statement-16mib)
  head -c $(((16 << 20) + 1)) /dev/zero | tr '\0' '[' >"$h/$content/$att"
  hx_run statement-16mib "extract fixture/web:1.0" extract -q fixture/web:1.0 "$h" "$SCR/out"
  h=$(hx_copy moby29 statement-deep)
  python3 -c 'import sys; sys.stdout.write("[" * 100000 + "]" * 100000)' >"$h/$content/$att"
  hx_run statement-deep "extract fixture/web:1.0" extract -q fixture/web:1.0 "$h" "$SCR/out"

  # containerd's meta.db cut after 20 pages
  h=$(hx_copy ctrd-basic meta-db-truncated)
  truncate -s $((20 * 4096)) "$h/var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db"
  hx_run meta-db-truncated images images -q "$h"
  hx_run meta-db-truncated verify verify -q "$h"

  # Podman: layers.json cut in half; libpod's bolt_state.db with bytes flipped
  h=$(hx_copy podman-basic podman-layers-truncated)
  f=$h/var/lib/containers/storage/overlay-layers/layers.json
  truncate -s $(($(stat -c %s "$f") / 2)) "$f"
  hx_run podman-layers-truncated images images -q "$h"
  h=$(hx_copy podman-basic podman-libpod-flipped)
  hx_py "$h/var/lib/containers/storage/libpod/bolt_state.db" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read())
for i in range(8192, len(b), 97):
    b[i] ^= 0x5A
open(p, "wb").write(b)
PY
  hx_run podman-libpod-flipped containers containers -q "$h"
  hx_run podman-libpod-flipped images images -q "$h"
  # Podman: the app image's config big-data file gone, and a layer's
  # tar-split gone (podman_bad_input.rs)
  h=$(hx_copy podman-basic podman-pieces-missing)
  local app=7947e444c96c00adb2f27c59dc2c118e71f045eb73b7b77e231c7b54e142760f
  rm -f "$h/var/lib/containers/storage/overlay-images/$app/=$(printf 'sha256:%s' "$app" | base64 -w0)"
  f=$(find "$h/var/lib/containers/storage/overlay-layers" -name '*.tar-split.gz' | sort | head -1)
  rm -f "$f"
  hx_run podman-pieces-missing images images -q "$h"
  hx_run podman-pieces-missing verify verify -q "$h"
  hx_run podman-pieces-missing "extract --all" extract --all -q "$h" "$SCR/out"
}

case_hostile() {
  [[ $is_root == 1 ]] || die "hostile: needs root (the fixture hosts hold whiteout devices and trusted.* xattrs)"
  local st=$BW/hostile/status.tsv max over
  mkdir -p "$BW/hostile"
  : >"$st"
  hostile_disks
  hostile_docker
  hostile_others
  rm -rf "$BW/hostile/disk"/*.img
  # BENCH_KEEP=0: only the extracted fixture hosts stay (~20 MB; the inputs ~400 MB)
  if [[ ${KEEP:-1} != 1 ]]; then
    find "$BW/hostile" -mindepth 1 -maxdepth 1 ! -name src ! -name status.tsv -exec rm -rf {} +
  fi
  max=$(awk -F'\t' 'BEGIN {m = 0} $5 > m {m = $5} END {print m}' "$st")
  over=$(awk -F'\t' -v l="$HOSTILE_LIMIT_KIB" '$5 >= l {printf "%s%s (%s): %d MiB", s, $2, $1, $5 / 1024; s = "; "}' "$st")
  note hostile "$(wc -l <"$st") runs on $(cut -f1 "$st" | sort -u | wc -l) hostile inputs; max RSS $((max / 1024)) MiB ($max KiB); $([[ -z $over ]] && echo "every run < 64 MiB: met" || echo "over 64 MiB: $over")"
  local own='^(repositories-[0-9]+mib|config-[0-9]+mib|ext4-host-dir-loop)$' tmax
  tmax=$(awk -F'\t' -v own="$own" 'BEGIN {m = 0} $1 !~ own && $5 > m {m = $5} END {print m}' "$st")
  note hostile "inputs of the tests only (not repositories-*, config-*, ext4-host-dir-loop, which are this bench's own): max RSS $((tmax / 1024)) MiB; $([[ $tmax -lt $HOSTILE_LIMIT_KIB ]] && echo "all < 64 MiB: met" || echo "missed")"
  note hostile "exit status per run: $(awk -F'\t' '{printf "%s%s (%s) %s", s, $2, $1, $3; s = "; "}' "$st")"
  awk -F'\t' '$3 == 124 || $3 == 137 {f = 1} END {exit f}' "$st" || note hostile "a run timed out (exit 124/137): a hang"
}
