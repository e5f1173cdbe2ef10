"""The storage, buffer pool, WAL and index sections."""

from .compare import informational_table, targets_table
from .config import (FIO_COMPARISONS, INDEX_INFORMATIONAL, INDEX_TARGETS, INFORMATIONAL, TARGETS,
                     WAL_INFORMATIONAL, WAL_TARGETS)
from .results import layer_of
from .text import fmt_bytes, fmt_ns, fmt_rate, fmt_us


def not_run(title, layer, how):
    return [title, "", f"Not run: no results of the {layer} layer in this run ({how}).", ""]


def counter_text(run, name, threads):
    r = run.result(name, threads)
    if not r:
        return ""
    parts = []
    if "hit_ratio" in r.counters:
        parts.append(f"hit ratio {r.counters['hit_ratio']:.2f}")
    if r.counters.get("writebacks_per_op"):
        parts.append(f"{r.counters['writebacks_per_op']:.3f} write-backs/op")
    return ", ".join(parts)


def storage_section(run, tr):
    title = "## Storage: the disk managers beside raw system calls and fio"
    if not tr.layer_ran("storage"):
        return not_run(title, "storage", "disk_manager_bench and fio")
    lines = [title, "", "![storage](storage.png)", "",
             "Targets (ratios of median items/s). speedup = items/s of the first / items/s of the "
             "second; within = time of the first / time of the second.", ""]
    lines += targets_table(tr, [t for t in TARGETS if layer_of(t[1]) == "storage"])
    lines += ["", "Beside fio (benchmarks/fio/: the same 4 KiB I/O on a cached file of the same "
              "size, `--invalidate=0`; fio's iops over all its jobs, median of its repetitions; "
              "informational, no target):", ""]
    lines += informational_table(
        tr, [(label, a, b, "throughput", t, t) for label, a, b, t in FIO_COMPARISONS],
        notes=fio_notes)
    lines.append("")
    return lines


def fio_notes(run, name, threads):
    r = run.result(name, threads)
    if not r or not name.startswith("fio/"):
        return ""
    p50, p99 = r.median_counter("p50_us"), r.median_counter("p99_us")
    if p50 is None:
        return ""
    return f"fio latency p50 {fmt_us(p50)}, p99 {fmt_us(p99)}"


def buffer_section(run, tr):
    title = "## Buffer pool"
    if not tr.layer_ran("buffer"):
        return not_run(title, "buffer", "buffer_pool_bench")
    lines = [title, "", "![buffer](buffer.png)", "", "Targets (ratios of median items/s):", ""]
    lines += targets_table(tr, [t for t in TARGETS if layer_of(t[1]) == "buffer"])
    lines += ["", "Beside the baselines (informational, no target):", ""]
    lines += informational_table(tr, INFORMATIONAL, notes=counter_text)
    swap = run.result("pool_swap/pause", 1)
    if swap and swap.median_time_ns() is not None:
        lo = min(swap.rep_times) if swap.rep_times else None
        hi = max(swap.rep_times) if swap.rep_times else None
        longest = [c["max_swap_pause_us"] for c in swap.rep_counters if "max_swap_pause_us" in c]
        bg_max = [c["bg_max_read_us"] for c in swap.rep_counters if "bg_max_read_us" in c]
        bg_rate = swap.counters.get("bg_reads_per_s")
        lines += [
            "",
            f"pool_swap/pause (pread <-> mmap under a background reader, "
            f"{swap.counters.get('dirty_per_swap', 0):g} pages dirtied before each swap): "
            f"median {fmt_ns(swap.median_time_ns())} per swap (repetitions' means "
            f"{fmt_ns(lo)} – {fmt_ns(hi)}); longest single pause "
            f"{fmt_us(max(longest)) if longest else 'n/a'} (BufferPoolStats::max_swap_pause); "
            f"the background reader's longest read {fmt_us(max(bg_max)) if bg_max else 'n/a'}"
            f", its median rate {fmt_rate(bg_rate) if bg_rate else 'n/a'}.",
        ]
    elif tr.layer_ran("buffer"):
        tr.get("pool_swap/pause", 1)
    lines.append("")
    return lines


def wal_notes(run, name, threads):
    """bytes/s and the WAL counters worth reading beside one benchmark's items/s."""
    r = run.result(name, threads)
    if not r:
        return ""
    parts = []
    if r.median_bytes() is not None:
        parts.append(fmt_bytes(r.median_bytes()))
    c = r.counters
    if "commits_per_sync" in c:
        parts.append(f"{c['commits_per_sync']:.2f} commits/fdatasync")
    if c.get("log_bytes") and r.median_time_ns():
        # recovery/replay's bytes/s counts the segment file bytes it read (the preallocated zero
        # tail included); log_bytes is the log from the redo start to its end, per iteration.
        parts.append(f"{fmt_bytes(c['log_bytes'] / (r.median_time_ns() / 1e9))} of log "
                     f"from redo start to end")
    return ", ".join(parts)


def wal_section(run, tr):
    title = "## WAL"
    if not tr.layer_ran("wal"):
        return not_run(title, "wal", "wal_bench")
    lines = [title, "", "![wal](wal.png)", "",
             "Targets (ratios of median items/s: commits/s for commit/*, records/s for append/* "
             "and recovery/*):", ""]
    lines += targets_table(tr, WAL_TARGETS)
    lines += ["", "Beside the baselines (informational, no target); notes give the median bytes/s "
              "and how many commits shared each fdatasync.", ""]
    lines += informational_table(tr, WAL_INFORMATIONAL, notes=wal_notes)
    lines.append("")
    return lines


def index_notes(run, name, threads):
    """The tree or hash index shape and cost counters worth reading beside one index benchmark."""
    r = run.result(name, threads)
    if not r:
        return ""
    c = r.counters
    parts = []
    if "height" in c:
        parts.append(f"height {c['height']:g}")
    if "leaves" in c:
        parts.append(f"{c['leaves']:g} leaves")
    if "global_depth" in c:
        parts.append(f"global depth {c['global_depth']:g}")
    if "buckets" in c:
        parts.append(f"{c['buckets']:g} bucket{'' if c['buckets'] == 1 else 's'}")
    if "overflow_pages" in c:
        parts.append(f"{c['overflow_pages']:g} overflow pages")
    if "fill" in c:
        parts.append(f"fill {c['fill']:.2f}")
    if "log_bytes_per_key" in c:
        parts.append(f"{c['log_bytes_per_key']:.0f} log bytes/key")
    if c.get("pool_evictions"):
        parts.append(f"**{c['pool_evictions']:g} pool evictions** (data not all cached)")
    return ", ".join(parts)


def index_section(run, tr):
    title = "## Indexes"
    if not tr.layer_ran("index"):
        return not_run(title, "index", "index_bench")
    lines = [
        title, "", "![index](index.png)", "",
        "Our B+tree beside LMDB and absl::btree_map (the in-memory limit), our hash index beside "
        "our B+tree and absl::flat_hash_map (its in-memory limit): the same keys (16 bytes) and "
        "values (100 bytes), all cached, durability off on every side. Targets (ratios of median "
        "items/s: gets/s of all threads per second of wall time, inserts/s, deletes/s, keys/s "
        "scanned or bulk loaded):",
        "",
    ]
    lines += targets_table(tr, INDEX_TARGETS)
    lines += ["", "Beside each other (informational, no target); notes give the tree each insert "
              "or bulk load built, the hash index each insert built or the deletes left, and our "
              "log bytes per key.", ""]
    lines += informational_table(tr, INDEX_INFORMATIONAL, notes=index_notes)
    built = [(name, index_notes(run, name, 1))
             for name in ("btree_insert_random/pagestore", "btree_insert_random/lmdb",
                          "btree_bulk_load/pagestore", "hash_insert_random/pagestore",
                          "hash_delete/pagestore")]
    built = [(name, note) for name, note in built if note]
    if built:
        lines += ["", "Trees and hash indexes built, or left by hash_delete's deletes (median "
                  "repetition's counters; log bytes per key of the timed part):", ""]
        lines += [f"- {name}: {note}" for name, note in built]
    lines.append("")
    return lines
