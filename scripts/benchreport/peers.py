"""The YCSB and durable-commit sections: ours beside LMDB, SQLite and RocksDB."""

from .compare import best_of, compare, ratio_of
from .config import (DURABLE_ENGINES, ENGINE_LABELS, OURS, PEERS, PERCENTILES, YCSB_BASELINE,
                     YCSB_WORKLOADS)
from .layers import not_run
from .summary import short_name
from .text import fmt_ratio, fmt_us, rate_with_spread, table


def ycsb_section(run, tr):
    title = "## YCSB: pagestore beside LMDB, SQLite and RocksDB"
    if not tr.layer_ran("peers"):
        return not_run(title, "peers", "ycsb_bench")
    records = None
    for c in run.contexts:
        records = records or c.get("pagestore_bench_ycsb_records")
    engines = OURS + [YCSB_BASELINE] + PEERS
    lines = [
        title, "", "![ycsb](ycsb.png)", "",
        f"YCSB core workloads over {records or 'the'} records (16-byte keys, 100-byte values, "
        "zipfian 0.99 scrambled, D on the latest records), durability off on every side, each "
        "write its own transaction; ops/s of all threads, median (spread: (max - min) / median "
        "of the repetitions). absl::btree_map under a mutex is the in-memory limit. \"ours / best peer\" takes the faster of our two disk "
        "managers; \"pread / mmap\" answers which one to use on this machine (above 1: pread).",
        "",
    ]
    rows = []
    pread_wins = mmap_wins = 0
    for letter, name, what, threads in YCSB_WORKLOADS:
        cells = [rate_with_spread(tr.get(f"{name}/{e}", threads)) for e in engines]
        o = best_of(tr, [f"{name}/{e}" for e in OURS], threads)
        p = best_of(tr, [f"{name}/{e}" for e in PEERS], threads)
        base = run.result(f"{name}/{YCSB_BASELINE}", threads)
        vp = ratio_of("throughput", o, p)
        vb = ratio_of("throughput", o, base)
        pm = compare(run, f"{name}/pagestore_pread", f"{name}/pagestore_mmap", "throughput",
                           threads, threads)
        if pm is not None:
            pread_wins += pm > 1
            mmap_wins += pm <= 1
        vp_text = f"{fmt_ratio(vp)} ({short_name(p)})" if vp is not None else "n/a"
        rows.append([f"{letter}: {what}", str(threads)] + cells +
                    [vp_text, fmt_ratio(vb), fmt_ratio(pm)])
    lines += table(["workload", "thr"] + [ENGINE_LABELS[e] for e in engines] +
                   ["ours / best peer", "ours / in-memory", "pread / mmap"], rows)
    lines.append("")
    if pread_wins + mmap_wins:
        lines.append(f"pread or mmap? On this machine the pread manager was faster in {pread_wins} "
                     f"and the mmap manager in {mmap_wins} of {pread_wins + mmap_wins} workloads "
                     "(data cached: this is the CPU cost of each path; see the larger-than-memory "
                     "section for what happens when it is not).")
        lines.append("")
    loads = []
    for e in engines:
        r = best_of(tr, [f"ycsb_c/{e}"], 1) or run.result(f"ycsb_a/{e}", 1)
        if r is not None and r.median_counter("load_s") is not None:
            loads.append(f"{ENGINE_LABELS[e]} {r.median_counter('load_s'):.1f} s")
    if loads:
        lines += ["Untimed loads (key order, batched): " + ", ".join(loads) + ".", ""]
    return lines


def percentile_over_reps(r, key):
    """A latency percentile over repetitions: the median of the repetitions' values, but for the
    maximum, which is the largest of any repetition."""
    if key == "max_us":
        values = [c[key] for c in r.rep_counters if key in c]
        return max(values) if values else r.counters.get(key)
    return r.median_counter(key)


def durable_section(run, tr):
    title = "## Durable single-key commits"
    if not tr.layer_ran("peers"):
        return not_run(title, "peers", "ycsb_bench")
    lines = [
        title, "", "![durable commit latency](durable_latency.png)", "",
        "One single-key update per transaction, committed with a full sync on every side "
        "(pagestore: Durability::kSync; LMDB: synchronous commit; SQLite: WAL, synchronous=FULL; "
        "RocksDB: WriteOptions::sync). The limit is one 4 KiB pwrite + fdatasync; fio's "
        "write+fdatasync beside it. Latency percentiles are medians over repetitions; max is the "
        "largest of any repetition.",
        "",
    ]
    rows = []
    raw = run.result("durable_commit/raw_fdatasync", 1)
    for e in ["raw_fdatasync"] + DURABLE_ENGINES:
        r = tr.get(f"durable_commit/{e}", 1)
        vs = ratio_of("throughput", r, raw)
        pct = [fmt_us(percentile_over_reps(r, k)) if r else "n/a" for k, _ in PERCENTILES]
        rows.append([ENGINE_LABELS[e], rate_with_spread(r), fmt_ratio(vs)] + pct)
    fio = run.result("fio/write_fdatasync", 1)
    if fio is not None and fio.median() is not None:
        vs = ratio_of("throughput", fio, raw)
        rows.append(["fio write+fdatasync (rate only: fio's latencies leave the sync out)",
                     rate_with_spread(fio), fmt_ratio(vs)] + ["n/a" for _ in PERCENTILES])
    lines += table(["engine", "commits/s: median (spread)", "vs raw fdatasync"] +
                   [label for _, label in PERCENTILES], rows)
    lines.append("")
    return lines
