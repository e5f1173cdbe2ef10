"""The summary table: ours against the raw baseline and the best peer, per workload."""

from .compare import (absent_text, best_of, compare, measured_text, ratio_of, target_context,
                      target_text, verdict)
from .config import ALL_TARGETS, SUMMARY
from .text import fmt_ratio, rate_with_spread, table


def summary_rows(run, tr):
    """One row per SUMMARY entry whose layer ran: dicts the table and the tests read."""
    rows = []
    for layer, label, ours, baseline, peers, targets, threads in SUMMARY:
        if not tr.layer_ran(layer):
            continue
        o = best_of(tr, ours, threads)
        b = tr.get(baseline, threads) if baseline else None
        p = best_of(tr, peers, threads) if peers else None
        if peers and p is None:
            for n in peers:  # every peer missing: each is listed under Missing
                tr.get(n, threads)
        row = {
            "layer": layer, "workload": label,
            "ours": o, "ours_missing": o is None, "ours_names": ours, "threads": threads,
            "baseline": b, "baseline_name": baseline,
            "vs_baseline": ratio_of("throughput", o, b),
            "peer": p, "peer_names": peers,
            "vs_peer": ratio_of("throughput", o, p),
            "targets": [],
        }
        for t in targets:
            tl, a, bn, kind, target, ta, tb = ALL_TARGETS[t]
            value = compare(run, a, bn, kind, ta, tb)
            row["targets"].append((target_text(kind, target) + target_context(a, bn, ta, tb),
                                   measured_text(kind, value),
                                   verdict(kind, value, target)
                                   or absent_text(run, [(a, ta), (bn, tb)])))
        rows.append(row)
    return rows


def short_name(r):
    return r.name.split("/", 1)[1] if r is not None else ""


def summary_section(run, tr):
    lines = [
        "## Summary",
        "",
        "Ours against the raw baseline on the same workload (the physical limit: the system calls "
        "or in-memory structure with nothing of ours in between) and against the best peer (fio, "
        "LMDB, SQLite, RocksDB). A ratio is our median items/s divided by theirs, from this run: "
        "above 1.00x we are faster. Spread: (max - min) / median of the repetitions. Where two "
        "of ours ran (the pread and mmap managers), the faster is shown and named.",
        "",
    ]
    rows = summary_rows(run, tr)
    if not rows:
        return lines[:2] + ["No layer ran.", ""]
    cells = []
    for row in rows:
        o, b, p = row["ours"], row["baseline"], row["peer"]
        if o is None:
            ours = absent_text(run, [(n, row["threads"]) for n in row["ours_names"]])
        else:
            ours = f"{short_name(o)}: {rate_with_spread(o)}"
        if row["baseline_name"] is None:
            base = "—"
        else:
            base = f"{row['baseline_name'].split('/', 1)[1]}: {rate_with_spread(b)}"
        if not row["peer_names"]:
            peer = "—"
        else:
            peer = (absent_text(run, [(n, row["threads"]) for n in row["peer_names"]])
                    if p is None else f"{short_name(p)}: {rate_with_spread(p)}")
        vb = fmt_ratio(row["vs_baseline"]) if row["baseline_name"] else "—"
        vp = fmt_ratio(row["vs_peer"]) if row["peer_names"] else "—"
        tg = "; ".join(f"{t}: {m}, {v}" for t, m, v in row["targets"]) or "—"
        cells.append([row["layer"], row["workload"], ours, base, vb, peer, vp, tg])
    lines += table(["layer", "workload", "ours: median (spread)", "raw baseline",
                    "ours / baseline", "best peer", "ours / best peer",
                    "target: measured, result"], cells)
    lines.append("")
    return lines
