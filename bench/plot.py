"""Plots bench/run.sh's rows: for each case, the warm throughput (MB/s) of
our commands beside the case's floor and anchors. Rows without bytes
(listings, memory runs) are left out.

usage: plot.py RESULTS.tsv OUT.png
"""
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"ours": "#1f77b4", "floor": "#7f7f7f", "anchor": "#ff7f0e", "info": "#2ca02c"}


def main():
    raw, out = sys.argv[1:3]
    runs = defaultdict(list)
    meta = {}
    for line in open(raw):
        f = line.rstrip("\n").split("\t")
        if len(f) != 11:
            continue
        case, cmd, role, cache, secs, *_, nbytes = f
        if int(nbytes) == 0 or float(secs) <= 0:
            continue
        runs[(case, cmd, cache)].append(int(nbytes) / 1e6 / float(secs))
        meta[(case, cmd, cache)] = role
    cases = []
    for case, _, _ in runs:
        if case not in cases:
            cases.append(case)
    if not cases:
        sys.exit("nothing to plot")
    heights = [sum(1 for k in runs if k[0] == c) for c in cases]
    fig, axes = plt.subplots(len(cases), 1, figsize=(10, 1.2 + 0.42 * sum(heights) + 0.6 * len(cases)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, case in zip(axes[:, 0], cases):
        keys = [k for k in runs if k[0] == case]
        labels = [f"{k[1]} ({k[2]})" for k in keys]
        values = [statistics.median(runs[k]) for k in keys]
        ax.barh(range(len(keys)), values, color=[COLOURS.get(meta[k], COLOURS["info"]) for k in keys])
        ax.set_yticks(range(len(keys)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(f"case {case}", fontsize=10, loc="left")
        for i, v in enumerate(values):
            ax.text(v, i, f" {v:.0f}", va="center", fontsize=7)
        ax.set_xlabel("MB/s (median; higher is faster)", fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in COLOURS.values()]
    fig.legend(
        handles,
        ["docker-forensics", "floor", "anchor", "docker-forensics, for reference"],
        loc="upper right",
        fontsize=8,
    )
    fig.tight_layout(rect=(0, 0, 0.88, 1))
    fig.savefig(out, dpi=110)


main()
