"""PNG charts for scripts/bench_report.py, drawn with matplotlib (Debian's python3-matplotlib).

write_all(run, out_dir, layer_of) draws what the run has and returns the file names written:
  storage.png, buffer.png, wal.png, index.png  per layer: median items/s of every benchmark (log
      scale), whiskers from the slowest to the fastest repetition; the raw baselines and fio in
      grey, peers in orange, ours in blue, so the physical limit is marked beside each workload.
  ycsb.png             YCSB A-F per engine at 1 thread (log scale), the in-memory limit in grey.
  scaling.png          speedup over 1 thread of every benchmark measured at several thread counts.
  durable_latency.png  durable single-key commit latency percentiles per engine.
  ltm_over_time.png    larger than memory: throughput over time of every variant and of fio (the
      mean of the repetitions, a 2-second moving average).
Importing this module raises ImportError when matplotlib is missing; the report says so.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OURS_COLOR, BASE_COLOR, PEER_COLOR = "#1f77b4", "#9a9a9a", "#ff7f0e"
PEER_WORDS = ("lmdb", "sqlite", "rocksdb")


def role(name):
    """'baseline' (the physical limit: raw system calls, in-memory structures, fio), 'peer'
    (another storage engine) or 'ours'."""
    variant = name.split("/", 1)[-1]
    if name.startswith("fio/") or variant.startswith(("raw_", "absl_", "fio_")):
        return "baseline"
    if variant.startswith(PEER_WORDS):
        return "peer"
    return "ours"


COLORS = {"ours": OURS_COLOR, "baseline": BASE_COLOR, "peer": PEER_COLOR}
LABELS = {"ours": "pagestore", "baseline": "raw baseline / fio (physical limit)",
          "peer": "peer engine"}


def whiskers(r):
    """(below, above) the median to the slowest and fastest repetition, for error bars."""
    lo, hi = r.spread()
    return r.median() - (lo or r.median()), (hi or r.median()) - r.median()


def finish(fig, ax, path, grid_axis="both"):
    """Grid, layout, the PNG written, the figure closed."""
    ax.grid(axis=grid_axis, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def bars(results, path, title):
    """Horizontal bars of median items/s with min-max whiskers, one per result."""
    results = [r for r in results if r.median()]
    if not results:
        return False
    height = max(2.5, 0.28 * len(results) + 1.2)
    fig, ax = plt.subplots(figsize=(9, height))
    ys = list(range(len(results)))[::-1]
    meds = [r.median() for r in results]
    lo, hi = zip(*(whiskers(r) for r in results))
    colors = [COLORS[role(r.name)] for r in results]
    ax.barh(ys, meds, color=colors, xerr=[lo, hi], ecolor="#333333", capsize=2)
    ax.set_yticks(ys)
    ax.set_yticklabels([r.name + (f" ({r.threads} thr)" if r.threads > 1 else "")
                        for r in results], fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("items/s (median of repetitions; whiskers: min-max)")
    ax.set_title(title)
    handles = [plt.Rectangle((0, 0), 1, 1, color=COLORS[k]) for k in ("ours", "baseline", "peer")
               if any(role(r.name) == k for r in results)]
    names = [LABELS[k] for k in ("ours", "baseline", "peer")
             if any(role(r.name) == k for r in results)]
    ax.legend(handles, names, fontsize=7, loc="lower right")
    return finish(fig, ax, path, "x")


def ycsb_chart(run, path):
    from bench_report import OURS, PEERS, YCSB_BASELINE, YCSB_WORKLOADS, ENGINE_LABELS
    engines = OURS + [YCSB_BASELINE] + PEERS
    workloads = [(letter, name) for letter, name, _, threads in YCSB_WORKLOADS if threads == 1]
    present = [e for e in engines
               if any(run.result(f"{n}/{e}", 1) and run.result(f"{n}/{e}", 1).median()
                      for _, n in workloads)]
    if not present:
        return False
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(present)
    palette = ["#1f77b4", "#6baed6", "#9a9a9a", "#ff7f0e", "#fdae6b", "#2ca02c", "#d62728"]
    for i, e in enumerate(present):
        xs, ys, errs = [], [], [[], []]
        for j, (_, n) in enumerate(workloads):
            r = run.result(f"{n}/{e}", 1)
            if r and r.median():
                xs.append(j + (i - (len(present) - 1) / 2) * width)
                ys.append(r.median())
                below, above = whiskers(r)
                errs[0].append(below)
                errs[1].append(above)
        ax.bar(xs, ys, width, yerr=errs, capsize=1.5, label=ENGINE_LABELS.get(e, e),
               color=palette[engines.index(e) % len(palette)],
               hatch="//" if e == YCSB_BASELINE else None)
    ax.set_xticks(range(len(workloads)))
    ax.set_xticklabels([f"YCSB {letter}" for letter, _ in workloads])
    ax.set_yscale("log")
    ax.set_ylabel("ops/s (median; whiskers min-max)")
    ax.set_title("YCSB, 1 thread, durability off (hatched: in-memory limit)")
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    return finish(fig, ax, path, "y")


def scaling_chart(run, path):
    from bench_report import scaling_groups
    lines = scaling_groups(run)
    if not lines:
        return False
    fig, ax = plt.subplots(figsize=(8, 5))
    top = 1
    for name, t in sorted(lines.items()):
        xs = sorted(t)
        ax.plot(xs, [t[x].median() / t[1].median() for x in xs], marker="o", label=name,
                color=COLORS[role(name)] if role(name) != "ours" else None,
                linestyle="--" if role(name) != "ours" else "-")
        top = max(top, max(xs))
    ax.plot([1, top], [1, top], color="black", linewidth=0.8, alpha=0.4, label="linear")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("threads")
    ax.set_ylabel("items/s over items/s at 1 thread")
    ax.set_title(f"Thread scaling ({os.cpu_count()} CPUs; dashed: baselines and peers)")
    ax.legend(fontsize=6, ncol=2)
    return finish(fig, ax, path)


def durable_chart(run, path):
    from bench_report import DURABLE_ENGINES, ENGINE_LABELS, PERCENTILES
    fig, ax = plt.subplots(figsize=(8, 4.5))
    drawn = False
    for e in ["raw_fdatasync"] + DURABLE_ENGINES:
        r = run.result(f"durable_commit/{e}", 1)
        if not r or not r.median():
            continue
        vals = [r.median_counter(k) for k, _ in PERCENTILES]
        if any(v is None for v in vals):
            continue
        ax.plot([label for _, label in PERCENTILES], vals, marker="o",
                label=ENGINE_LABELS.get(e, e),
                color=BASE_COLOR if e == "raw_fdatasync" else None,
                linestyle="--" if e == "raw_fdatasync" else "-")
        drawn = True
    if not drawn:
        plt.close(fig)
        return False
    ax.set_yscale("log")
    ax.set_ylabel("commit latency, µs (median over repetitions)")
    ax.set_xlabel("percentile")
    ax.set_title("Durable single-key commits, full sync")
    ax.legend(fontsize=7)
    return finish(fig, ax, path)


def rolling_mean(values, width):
    """Centered moving average over `width` samples (shorter at the ends)."""
    half = width // 2
    out = []
    for i in range(len(values)):
        window = values[max(0, i - half):i + half + 1]
        out.append(sum(window) / len(window))
    return out


def ltm_chart(run, path):
    if not run.series:
        return False
    interval = run.interval_s or 1.0
    by_name = {}
    for s in run.series:
        if s.get("ops_per_s"):
            by_name.setdefault(s.get("name", "?"), []).append(s["ops_per_s"])
    if not by_name:
        return False
    width = max(1, round(2.0 / interval))  # a 2-second moving average
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for name, runs in sorted(by_name.items()):
        n = min(len(r) for r in runs)
        mean = [sum(r[i] for r in runs) / len(runs) for i in range(n)]
        xs = [(i + 1) * interval for i in range(n)]
        # Reads each thread keeps in flight: 32 for the batched variants, 1 for the others.
        depth = 32 if ("multiget" in name or "uring" in name) else 1
        ax.plot(xs, rolling_mean(mean, width), label=f"{name} (depth {depth}, {len(runs)} run"
                f"{'s' if len(runs) > 1 else ''})",
                linestyle="--" if name.startswith("fio") else "-")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("seconds since the run started (cold cache)")
    ax.set_ylabel("random 4 KiB reads/s (mean of runs, 2 s moving average)")
    m = run.ltm_meta
    title = "Larger than memory: throughput over time"
    if m:
        title += (f" ({m.get('file_mb', '?')} MiB file, {m.get('limit_mb', '?')} MiB cgroup, "
                  f"{m.get('threads', '?')} threads)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    return finish(fig, ax, path)


def write_all(run, out_dir, layer_of):
    os.makedirs(out_dir, exist_ok=True)
    written = []
    ordered = sorted(run.results.values(), key=lambda r: r.order)
    for layer, title in (("storage", "Storage: disk managers, raw system calls and fio"),
                         ("buffer", "Buffer pool"), ("wal", "Write-ahead log"),
                         ("index", "Indexes")):
        rs = [r for r in ordered if layer_of(r.name) == layer]
        if bars(rs, os.path.join(out_dir, f"{layer}.png"), title):
            written.append(f"{layer}.png")
    for name, fn in (("ycsb.png", ycsb_chart), ("scaling.png", scaling_chart),
                     ("durable_latency.png", durable_chart), ("ltm_over_time.png", ltm_chart)):
        if fn(run, os.path.join(out_dir, name)):
            written.append(name)
    return written
