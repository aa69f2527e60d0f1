"""Turns bench/run.sh's rows (lib.sh: one per measured run) into one
Markdown table per case, the ratios of ours to each floor and anchor of the
same case and cache state, and the issue's targets with a verdict.

usage: table.py RESULTS.tsv META.txt NOTES.tsv > results.md
"""
import statistics
import sys
from collections import defaultdict

# (case, our command, cache, compared with, limit): met when
# median(ours) <= limit * median(compared). `compared` may be "seconds"
# (an absolute limit in seconds) or "RSS MiB" (every run of the case).
TARGETS = [
    ("dir", "extract", "warm", "floor: openssl sha256", 1.25),
    ("dir", "extract --archive-only", "warm", "floor: openssl sha256", 1.25),
    ("dir", "verify", "warm", "floor: openssl sha256", 0.85),
    ("dir", "extract", "cold", "floor: openssl sha256", 2.0),
    ("dir", "extract --archive-only", "cold", "floor: openssl sha256", 2.0),
    ("dir", "verify", "cold", "floor: openssl sha256", 1.2),
    ("dir", "*", "*", "RSS MiB", 64),
    ("e01", "extract (E01 -c fast)", "warm", "ewfverify (E01 -c fast)", 1.0),
    ("e01", "extract (E01 -c best)", "warm", "ewfverify (E01 -c best)", 1.0),
    ("e01", "extract (E01 -c xfs)", "warm", "ewfverify (E01 -c xfs)", 1.0),
    ("e01", "extract (E01 -c lvm)", "warm", "ewfverify (E01 -c lvm)", 1.0),
    ("e01", "verify (qcow2)", "warm", "qemu-io read (qcow2)", 1.2),
    ("qcow2", "verify (qcow2)", "warm", "qemu-io read (qcow2)", 1.2),
    # bench/RESULTS.md of 2026-11-27: the qcow2 anchor measured after the run
    ("e01", "verify (qcow2, after the run)", "warm", "qemu-io read (qcow2, after the run)", 1.2),
    ("vm", "verify (zstd qcow2)", "warm", "verify (raw)", 1.5),
    ("vm", "verify (stream-optimized vmdk)", "warm", "verify (raw)", 1.5),
    ("stores", "extract (containerd)", "warm", "floor: openssl sha256", 1.5),
    ("stores", "extract (podman)", "warm", "floor: openssl sha256", 1.5),
    ("stores", "extract --archive-only (containerd)", "warm", "floor: openssl sha256", 1.5),
    ("stores", "extract --archive-only (podman)", "warm", "floor: openssl sha256", 1.5),
    ("many", "images", "warm", "seconds", 1.0),
    ("many", "containers", "warm", "seconds", 1.0),
    ("small", "extract", "warm", "floor: openssl sha256", 2.0),
    ("small", "extract --archive-only", "warm", "floor: openssl sha256", 2.0),
    ("small", "verify", "warm", "floor: openssl sha256", 1.5),
    ("hostile", "*", "*", "RSS MiB", 64),
]


def load(path):
    rows = defaultdict(list)
    order = []
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if len(f) != 11:
            continue
        case, cmd, role, cache, secs, rss, user, sys_, others, load1, nbytes = f
        key = (case, cmd, cache)
        if key not in rows:
            order.append(key)
        rows[key].append(
            dict(role=role, s=float(secs), rss=int(rss), cpu=float(user) + float(sys_),
                 others=int(others), load=load1, bytes=int(nbytes))
        )
    return rows, order


def variant(command):
    """'extract (E01 -c fast)' -> 'E01 -c fast': which file a row ran on."""
    return command.partition(" (")[2].rstrip(")")


def median(runs):
    return statistics.median(r["s"] for r in runs)


def main():
    raw, meta, notes_path = sys.argv[1:4]
    rows, order = load(raw)
    notes = defaultdict(list)
    for line in open(notes_path):
        case, _, text = line.rstrip("\n").partition("\t")
        notes[case].append(text)
    print("# docker-forensics benchmark\n")
    for line in open(meta):
        print(f"- {line.rstrip()}")
    print("- MB/s: the bytes of the row's case (an image as `docker save` writes it, or a layer) / seconds; 1 MB = 10^6 bytes")
    print("- ratios: our median / the median of each floor or anchor of the same case and cache state")
    print("- others busy: someone else's compiler, fuzzer or test ran at the start or end of the run\n")
    cases = []
    for case, _, _ in order:
        if case not in cases:
            cases.append(case)
    for case in cases:
        print(f"## {case}\n")
        print("| command | role | cache | seconds | MB/s | max RSS (MiB) | CPU s | runs (s) | load1 | others busy | ratio to floor / anchors |")
        print("|---|---|---|---:|---:|---:|---:|---|---|---|---|")
        keys = [k for k in order if k[0] == case]
        for key in keys:
            runs = rows[key]
            role = runs[0]["role"]
            s = median(runs)
            nbytes = runs[0]["bytes"]
            mbs = f"{nbytes / 1e6 / s:.0f}" if nbytes and s > 0 else "-"
            rss = max(r["rss"] for r in runs) / 1024
            cpu = statistics.median(r["cpu"] for r in runs)
            ratios = []
            if role == "ours":
                # against the floors/anchors on the same file (same
                # parenthesis) when there are any, else against all of them
                refs = [o for o in keys if o[2] == key[2] and rows[o][0]["role"] in ("floor", "anchor")]
                same = [o for o in refs if variant(o[1]) and variant(o[1]) == variant(key[1])]
                for other in same or refs:
                    if median(rows[other]) > 0:
                        ratios.append(f"{other[1]}: {s / median(rows[other]):.2f}×")
            print(
                f"| {key[1]} | {role} | {key[2]} | {s:.2f} | {mbs} | {rss:.1f} | {cpu:.2f} | "
                f"{' '.join(format(r['s'], '.2f') for r in runs)} | {' '.join(r['load'] for r in runs)} | "
                f"{'yes' if any(r['others'] for r in runs) else 'no'} | {'; '.join(ratios) or '-'} |"
            )
        for n in notes[case]:
            print(f"\n- {n}")
        print()
    print("## Targets\n")
    print("| case | ours | cache | compared with | limit | measured | verdict |")
    print("|---|---|---|---|---:|---:|---|")
    for case, cmd, cache, vs, limit in TARGETS:
        if vs == "RSS MiB":
            mine = [r for (c, _, _), v in rows.items() if c == case for r in v if r["role"] in ("ours", "info")]
            if not mine:
                continue
            got = max(r["rss"] for r in mine) / 1024
            print(f"| {case} | every run of ours | all | max RSS | < {limit} MiB | {got:.1f} MiB | {'met' if got < limit else '**missed**'} |")
            continue
        ours = rows.get((case, cmd, cache))
        if not ours:
            continue
        if vs == "seconds":
            got = median(ours)
            print(f"| {case} | {cmd} | {cache} | wall clock | < {limit} s | {got:.2f} s | {'met' if got < limit else '**missed**'} |")
            continue
        other = rows.get((case, vs, cache))
        if not other:
            continue
        got = median(ours) / median(other)
        print(f"| {case} | {cmd} | {cache} | {vs} | ≤ {limit}× | {got:.2f}× | {'met' if got <= limit else '**missed**'} |")


main()
