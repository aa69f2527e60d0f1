#!/usr/bin/env python3
"""Write to stdout a `docker build -` context (a tar) holding a Dockerfile and
tree.tar: a node_modules-like tree of many small files, for bench case "small".

usage: small-context.py BASE_IMAGE [FILES] | docker build -t NAME -
The Dockerfile is `FROM BASE_IMAGE` + `ADD tree.tar /app/` (the builder
unpacks a local tar in ADD), so the engine itself writes the layer. tree.tar
is streamed inside the context tar, never written to disk here: its size is
computed beforehand from the same seeded draws. Sizes 0-4096 bytes, content
cut from a seeded pool of random bytes; reproducible (seed 14).
"""
import io
import random
import sys
import tarfile

BASE = sys.argv[1]
FILES = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
BLOCK, RECORD = tarfile.BLOCKSIZE, tarfile.RECORDSIZE
MTIME = 1_700_000_000
SUBDIRS = ["lib", "dist", "dist/esm", "src", "src/utils", "test"]


def plan():
    """(path, size) of every entry, size None for a directory: packages of
    ~500 files, each spread over a few subdirectories (100-1000 per dir)."""
    rng = random.Random(14)
    entries, n, p = [("node_modules", None)], 0, 0
    while n < FILES:
        pkg = f"node_modules/pkg-{p:05d}"
        entries.append((pkg, None))
        count = min(rng.randint(300, 1200), FILES - n)
        dirs = rng.sample(SUBDIRS[:3], rng.randint(1, 3)) if count > 200 else ["lib"]
        made = set()
        for i in range(count):
            d = dirs[i % len(dirs)]
            parts = d.split("/")
            for k in range(1, len(parts) + 1):
                sub = "/".join(parts[:k])
                if sub not in made:
                    made.add(sub)
                    entries.append((f"{pkg}/{sub}", None))
            entries.append((f"{pkg}/{d}/m{i:04d}.js", rng.randint(0, 4096)))
        n += count
        p += 1
    return entries


def inner_size(entries):
    """Bytes tarfile writes in USTAR stream mode for these entries."""
    total = sum(BLOCK + -(-(s or 0) // BLOCK) * BLOCK for _, s in entries) + 2 * BLOCK
    return -(-total // RECORD) * RECORD


class Counting(io.RawIOBase):
    def __init__(self, out):
        self.out, self.n = out, 0

    def writable(self):
        return True

    def write(self, b):
        self.out.write(b)
        self.n += len(b)
        return len(b)


def info(name, size=None, mode=0o644):
    t = tarfile.TarInfo(name)
    t.mtime, t.uid, t.gid, t.uname, t.gname = MTIME, 0, 0, "root", "root"
    if size is None:
        t.type, t.mode = tarfile.DIRTYPE, 0o755
    else:
        t.size, t.mode = size, mode
    return t


def main():
    entries = plan()
    size = inner_size(entries)
    out = sys.stdout.buffer
    dockerfile = f"FROM {BASE}\nADD tree.tar /app/\n".encode()
    out.write(info("Dockerfile", len(dockerfile)).tobuf(tarfile.USTAR_FORMAT))
    out.write(dockerfile + b"\0" * (-len(dockerfile) % BLOCK))
    out.write(info("tree.tar", size).tobuf(tarfile.USTAR_FORMAT))
    pool = random.Random(15).randbytes(1 << 20)
    rng = random.Random(16)
    counted = Counting(out)
    with tarfile.open(fileobj=counted, mode="w|", format=tarfile.USTAR_FORMAT) as tf:
        for name, s in entries:
            if s is None:
                tf.addfile(info(name))
            else:
                off = rng.randrange(0, len(pool) - 4096)
                tf.addfile(info(name, s), io.BytesIO(pool[off:off + s]))
    if counted.n != size:
        sys.exit(f"small-context.py: tree.tar is {counted.n} bytes, header said {size}")
    out.write(b"\0" * (-size % BLOCK) + b"\0" * (2 * BLOCK))
    out.flush()
    files = sum(1 for _, s in entries if s is not None)
    print(f"small-context.py: {files} files, {len(entries) - files} directories, "
          f"tree.tar {size} bytes", file=sys.stderr)


main()
