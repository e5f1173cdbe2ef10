"""Thread scaling, the reference figures, every benchmark, and what was missing or failed."""

import os

from .config import REFERENCE, REFERENCE_LABEL
from .text import fmt_ns, fmt_rate, table


def scaling_groups(run):
    """{benchmark: {threads: Result}} of every benchmark measured at 1 thread and at more (the
    WAL's commit_group/threads:N, one benchmark per thread count, as one "commit_group")."""
    by_name = {}
    for (name, threads), r in run.results.items():
        if r.median() is None:
            continue
        if name.startswith("commit_group/threads:"):
            name = "commit_group"
        by_name.setdefault(name, {})[threads] = r
    return {n: t for n, t in by_name.items() if len(t) > 1 and 1 in t}


def scaling_section(run, tr):
    """Every benchmark measured at more than one thread count, as a speedup over its 1 thread."""
    rows = scaling_groups(run)
    if not rows:
        return []
    lines = ["## Thread scaling", "", "![thread scaling](scaling.png)", "",
             "items/s at N threads over items/s at 1 thread (medians; the machine has "
             f"{os.cpu_count()} CPUs).", ""]
    cells = []
    for name in sorted(rows, key=lambda n: min(r.order for r in rows[n].values())):
        t = rows[name]
        one = t[1].median()
        speedups = ", ".join(f"{n}: {t[n].median() / one:.2f}x" for n in sorted(t) if n != 1)
        cells.append([name, speedups])
    lines += table(["benchmark", "threads: speedup over 1 thread"], cells)
    lines.append("")
    return lines


def reference_section(run, tr):
    lines = [
        "## pread vs mmap beside the reference",
        "",
        "Our median time per operation at 1 thread (1e9 / items/s), standard (pread) vs mmap. The "
        "last column is not a measurement of this run: it is the seed document's published "
        "figures, from another machine and another implementation, for orientation only.",
        "",
    ]
    rows = []
    for label, p, m, ref_p, ref_m in REFERENCE:
        rp, rm = tr.get(p, 1), tr.get(m, 1)
        tp = 1e9 / rp.median() if rp and rp.median() else None
        tm = 1e9 / rm.median() if rm and rm.median() else None
        ratio_text = f"{tp / tm:.2f}" if tp and tm else ("missing" if tr.layer_ran("storage")
                                                       else "not run")
        rows.append([f"{label} ({p} vs {m})", fmt_ns(tp), fmt_ns(tm), ratio_text,
                     f"{ref_p} vs {ref_m} ns ({ref_p / ref_m:.2f})"])
    lines += table(["workload", "ours: pread", "ours: mmap", "ours: pread/mmap time",
                    REFERENCE_LABEL], rows)
    lines.append("")
    return lines


def all_section(run):
    rows = []
    for r in sorted(run.results.values(), key=lambda r: r.order):
        med = r.median()
        lo, hi = r.spread()
        pct = r.spread_percent()
        spread = f"{pct:.1f}%" if pct is not None else ""
        counters = ", ".join(f"{k}={v:g}" for k, v in sorted(r.counters.items()))
        if r.errors:
            counters = (counters + "; " if counters else "") + "ERROR: " + r.errors[0]
        elif med is None and r.note:
            counters = r.note
        t = r.median_time_ns()
        if t is not None and r.threads > 1:
            t_text = f"{fmt_ns(t)} (wall, {r.threads} threads)"
        else:
            t_text = fmt_ns(t)
        rows.append([r.name, str(r.threads), fmt_rate(med), f"{fmt_rate(lo)} – {fmt_rate(hi)}",
                     spread, t_text, str(r.repetitions()), counters])
    lines = ["## Every benchmark", ""]
    lines += table(["benchmark", "threads", "median items/s", "min – max items/s", "spread",
                    "median time/op", "reps", "counters"], rows)
    lines.append("")
    return lines


def problems_section(run, tr):
    lines = []
    if tr.missing:
        lines += ["## Missing", "",
                  "Benchmarks a comparison above needs that did not run (or failed) although "
                  "their layer ran:", ""]
        for (name, threads), layer in sorted(tr.missing.items(), key=lambda x: str(x)):
            r = run.result(name, None if threads == "any" else threads)
            why = f": {r.errors[0]}" if r is not None and r.errors else ""
            lines.append(f"- {name} ({threads} thread{'s' if threads != 1 else ''}, layer "
                         f"{layer}){why}")
        lines.append("")
    errors = [r for r in run.results.values() if r.errors]
    if errors:
        lines += ["## Errors", ""]
        lines += [f"- {r.name} (threads {r.threads}): {r.errors[0]}" for r in errors]
        lines.append("")
    return lines
