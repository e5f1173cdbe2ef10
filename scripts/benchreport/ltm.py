"""The larger-than-memory section."""

import statistics

from .compare import informational_table, targets_table
from .config import LTM_INFORMATIONAL, LTM_QUEUE_DEPTH, LTM_TARGETS, LTM_VARIANTS
from .layers import counter_text, not_run
from .results import series_variant
from .text import fmt_rate, rate_with_spread, table


def ltm_reading(run):
    """A sentence on what bounds the larger-than-memory runs, from their own figures: when the
    mmap manager runs within 25% of raw O_DIRECT reads, the device is the limit
    and the gap mmap shows on fast NVMe with many threads cannot appear."""
    raw = run.result("ltm_steady/raw_pread_direct", None)
    mmap = run.result("ltm_steady/mmap", None)
    pool = run.result("ltm_steady/pool_pread_direct", None)
    if not (raw and mmap and pool and raw.median() and mmap.median() and pool.median()):
        return []
    lo, hi = 1 / 1.25, 1.25
    if lo <= mmap.median() / raw.median() <= hi:
        return ["", f"Reading: the device bounds every variant here: raw O_DIRECT reads reach "
                f"{fmt_rate(raw.median())}, the mmap manager {mmap.median() / raw.median():.2f}x "
                f"and the pool {pool.median() / raw.median():.2f}x of that (the pool also answers "
                f"some reads from its frames). mmap falls behind when the kernel's eviction "
                f"(unmapping, TLB shootdowns, one reclaim path for all threads) costs more than "
                f"the device read it makes room for, which takes a device far faster than this "
                f"one (NVMe at hundreds of thousands of reads/s) and many threads; the ratio here "
                f"measures the disk."]
    return ["", f"Reading: raw O_DIRECT reads reach {fmt_rate(raw.median())}; the mmap manager "
            f"{mmap.median() / raw.median():.2f}x and the pool "
            f"{pool.median() / raw.median():.2f}x of that."]


def ltm_section(run, tr):
    title = "## Larger than memory"
    if run.ltm_skipped:
        return [title, "", f"Skipped: {run.ltm_skipped}", ""]
    if not tr.layer_ran("ltm"):
        return not_run(title, "ltm", "ltm_bench under a memory cgroup, and fio")
    m = run.ltm_meta
    sizes = ""
    if m:
        sizes = (f" A {m.get('file_mb', '?')} MiB file read under a {m.get('limit_mb', '?')} MiB "
                 f"cgroup (v1 memory controller: the page cache counts against it), a "
                 f"{m.get('pool_mb', '?')} MiB pool, {m.get('threads', '?')} threads, "
                 f"{m.get('seconds', '?')} s per run")
        if m.get("cgroup_peak_mb"):
            sizes += f"; the group's peak usage {m['cgroup_peak_mb']:.0f} MiB"
        sizes += "."
    lines = [
        title, "", "![throughput over time](ltm_over_time.png)", "",
        "Random 4 KiB reads over a file several times larger than the memory a cgroup allows, "
        "every run starting with the file out of the page cache: through our buffer pool over the "
        "pread manager (O_DIRECT, and buffered), through the mmap manager with the kernel as the "
        "buffer manager, and fio at the same concurrency." + sizes + " Steady state is the "
        "median throughput of the samples of the second half of each run, and never before the "
        "cache (the group's page cache, or the pool for O_DIRECT) was full; the chart shows the "
        "whole run.",
        "",
    ]
    lines += targets_table(tr, LTM_TARGETS)
    lines += ltm_reading(run)
    lines += ["", "Informational:", ""]
    lines += informational_table(tr, LTM_INFORMATIONAL, notes=counter_text)
    rows = []
    for v in LTM_VARIANTS:
        whole = run.result(f"ltm_read/{v}", None)
        steady = run.result(f"ltm_steady/{v}", None)
        if whole is None and steady is None:
            tr.get(f"ltm_read/{v}", None)
            continue
        first = [s["ops_per_s"][0] for s in run.series
                 if series_variant(s.get("name", "")) == v and s.get("ops_per_s")]
        hit = whole.median_counter("hit_ratio") if whole else None
        misses = whole.median_counter("misses_per_s") if whole else None
        filled = [s.get("filled_at_s") for s in run.series
                  if series_variant(s.get("name", "")) == v and "filled_at_s" in s]
        if not filled:
            filled_text = ""
        elif all(f is None for f in filled):
            filled_text = "never (or nothing cached)"
        else:
            filled_text = ", ".join("never" if f is None else f"{f:.1f} s" for f in filled)
        threads = (whole or steady).threads
        depth = whole.median_counter("queue_depth") if whole else None
        if depth is None:
            depth = LTM_QUEUE_DEPTH.get(v)
        rows.append([v, str(threads), f"{depth:.0f}" if depth is not None else "",
                     rate_with_spread(whole), rate_with_spread(steady),
                     fmt_rate(statistics.median(first)) if first else "n/a", filled_text,
                     fmt_rate(misses) if misses is not None else "",
                     f"{hit:.2f}" if hit is not None else ""])
    lines.append("")
    lines += table(["variant", "threads", "queue depth per thread", "whole run: median (spread)",
                    "steady state: median (spread)", "first sample", "cache full after",
                    "device reads/s", "hit ratio"], rows)
    lines.append("")
    return lines
