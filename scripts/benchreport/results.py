"""Reading one run's result files (Google Benchmark JSON, fio JSON, the larger-than-memory
series and metadata) into a Run of Results."""

import glob
import json
import math
import os
import re
import statistics

from .config import LAYERS


def base_name(run_name):
    return "/".join(run_name.split("/")[:2])


def layer_of(name):
    for layer, prefixes in LAYERS:
        if name.startswith(prefixes):
            return layer
    return None


class Result:
    """One benchmark instance (name, threads) across its repetitions."""

    def __init__(self, name, threads):
        self.name = name
        self.threads = threads
        self.reps = []          # items_per_second of each repetition
        self.byte_reps = []     # bytes_per_second of each repetition that reports it
        self.byte_aggs = {}     # aggregate name -> bytes_per_second
        self.rep_times = []     # real time per iteration of each repetition, in ns
        self.aggregates = {}    # aggregate name -> items_per_second
        self.agg_times = {}     # aggregate name -> real time in ns
        self.errors = []
        self.counters = {}      # user counters of the median (or only) row
        self.rep_counters = []  # user counters of each repetition
        self.order = ()
        self.declared_reps = 0  # the "repetitions" Google Benchmark ran
        # Why a benchmark that ran has no figure by design (only in a smoke run: see
        # SMOKE_NO_STEADY); such a result is not missing.
        self.note = None

    def median(self):
        if "median" in self.aggregates:
            return self.aggregates["median"]
        return statistics.median(self.reps) if self.reps else None

    def spread(self):
        lo = self.aggregates.get("min", min(self.reps) if self.reps else None)
        hi = self.aggregates.get("max", max(self.reps) if self.reps else None)
        return lo, hi

    def spread_percent(self):
        """(max - min) / median of the repetitions, in percent; None without a median."""
        med = self.median()
        lo, hi = self.spread()
        if not med or lo is None or hi is None:
            return None
        return (hi - lo) / med * 100

    def median_bytes(self):
        if "median" in self.byte_aggs:
            return self.byte_aggs["median"]
        return statistics.median(self.byte_reps) if self.byte_reps else None

    def repetitions(self):
        """The repetitions that produced a figure (failed ones excluded)."""
        return len(self.reps) or (1 if self.aggregates else 0)

    def failed_repetitions(self):
        return len(self.errors)

    def median_time_ns(self):
        if "median" in self.agg_times:
            return self.agg_times["median"]
        return statistics.median(self.rep_times) if self.rep_times else None

    def median_counter(self, key):
        """The median over repetitions of one user counter (None when no repetition has it)."""
        values = [c[key] for c in self.rep_counters if key in c]
        if values:
            return statistics.median(values)
        return self.counters.get(key)


TIME_TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

COUNTER_SKIP = {
    "name", "run_name", "run_type", "repetitions", "repetition_index", "threads", "iterations",
    "real_time", "cpu_time", "time_unit", "items_per_second", "bytes_per_second", "family_index",
    "per_family_instance_index", "aggregate_name", "aggregate_unit", "error_occurred",
    "error_message", "label",
}


class Run:
    """Everything one bench.sh run left: benchmark results, the files' contexts, the
    larger-than-memory series and metadata."""

    def __init__(self):
        self.results = {}   # (name, threads) -> Result
        self.contexts = []  # Google Benchmark contexts (plus "_path")
        self.fio_files = []
        self.series = []    # {"name", "repetition", "threads", "ops_per_s": [...]}
        self.interval_s = None
        self.ltm_meta = {}
        self.ltm_skipped = None
        self.failed = []    # "layer: why" of each layer whose program failed (failed.txt)
        self.smoke = False  # bench.sh --smoke: see SMOKE_NO_STEADY

    def result(self, name, threads=1):
        """The result of `name` at `threads` threads; threads None: at any count (the highest)."""
        if threads is not None:
            return self.results.get((name, threads))
        found = [r for (n, _), r in self.results.items() if n == name]
        return max(found, key=lambda r: r.threads) if found else None

    def layers_run(self):
        return {layer_of(name) for name, _ in self.results} - {None}

    def get_or_add(self, name, threads):
        key = (name, threads)
        r = self.results.get(key)
        if r is None:
            r = self.results[key] = Result(name, threads)
            r.order = (99, len(self.results))
        return r


def load_gbench(run, path):
    with open(path) as f:
        data = json.load(f)
    ctx = dict(data.get("context", {}))
    ctx["_path"] = path
    run.contexts.append(ctx)
    file_index = len(run.contexts)
    order = 0
    for row in data.get("benchmarks", []):
        run_name = row.get("run_name", row.get("name", ""))
        key = (base_name(run_name), int(row.get("threads", 1)))
        r = run.results.get(key)
        if r is None:
            r = run.results[key] = Result(*key)
            r.order = (file_index, order)
            order += 1
        if "family_index" in row:  # registration order, whatever order the runs had
            r.order = (file_index, int(row["family_index"]),
                       int(row.get("per_family_instance_index", 0)))
        r.declared_reps = max(r.declared_reps, int(row.get("repetitions", 0)))
        if row.get("error_occurred"):
            r.errors.append(row.get("error_message", "error"))
            continue
        ips = row.get("items_per_second")
        bps = row.get("bytes_per_second")
        t = row.get("real_time")
        t_ns = t * TIME_TO_NS.get(row.get("time_unit", "ns"), 1.0) if t is not None else None
        counters = {k: v for k, v in row.items()
                    if k not in COUNTER_SKIP and isinstance(v, (int, float))}
        if row.get("run_type") == "aggregate":
            agg = row.get("aggregate_name", "")
            if row.get("aggregate_unit", "time") != "time":
                continue  # cv: a percentage, not a rate
            if ips is not None:
                r.aggregates[agg] = ips
            if bps is not None:
                r.byte_aggs[agg] = bps
            if t_ns is not None:
                r.agg_times[agg] = t_ns
            if agg == "median":
                r.counters = counters
        else:
            if ips is not None:
                r.reps.append(ips)
            if bps is not None:
                r.byte_reps.append(bps)
            if t_ns is not None:
                r.rep_times.append(t_ns)
            r.rep_counters.append(counters)
            if not r.counters or "median" not in r.aggregates:
                r.counters = counters


FIO_FILE = re.compile(r"fio_(?P<job>[a-z0-9_]+?)_(?P<jobs>\d+)(?:\.rep(?P<rep>\d+))?\.json$")

FIO_LTM_FILE = re.compile(r"fio_ltm_(?P<variant>[a-z0-9_]+?)(?:\.rep(?P<rep>\d+))?\.json$")


def fio_jobs(job):
    opts = job.get("job options", {})
    try:
        return int(opts.get("numjobs", 1))
    except ValueError:
        return 1


def fio_rate(job):
    """(iops, bytes/s, {percentile: ns}) of one fio job: its reads, or its writes if none."""
    for side in ("read", "write"):
        s = job.get(side, {})
        if s.get("iops"):
            pct = s.get("clat_ns", {}).get("percentile", {})
            return s["iops"], s.get("bw_bytes"), {float(k): v for k, v in pct.items()}
    return None, None, {}


def load_fio(run, path, name, threads):
    with open(path) as f:
        text = f.read()
    # fio prints notes before the JSON when a job warns; the object starts at the first '{'.
    data = json.loads(text[text.index("{"):]) if "{" in text else {}
    run.fio_files.append(path)
    jobs = data.get("jobs", [])
    r = run.get_or_add(name, threads)
    if not jobs:
        r.errors.append(f"{os.path.basename(path)}: no jobs")
        return
    job = jobs[0]
    if job.get("error"):
        r.errors.append(f"{os.path.basename(path)}: fio error {job['error']}")
        return
    iops, bps, pct = fio_rate(job)
    if iops is None:
        r.errors.append(f"{os.path.basename(path)}: no I/O")
        return
    iops_total = sum(fio_rate(j)[0] or 0 for j in jobs)  # without group_reporting: one per job
    r.reps.append(iops_total)
    if bps is not None:
        r.byte_reps.append(bps * len(jobs))
    r.rep_times.append(1e9 / iops_total)  # wall time per I/O, as Google Benchmark's rows
    counters = {"fio_jobs": fio_jobs(job) * len(jobs)}
    for p, key in ((50.0, "p50_us"), (90.0, "p90_us"), (99.0, "p99_us"), (99.9, "p999_us")):
        if p in pct:
            counters[key] = pct[p] / 1e3
    r.rep_counters.append(counters)
    r.counters = counters
    r.declared_reps = len(r.reps)


def load_series(run, path):
    with open(path) as f:
        data = json.load(f)
    run.interval_s = data.get("interval_s", run.interval_s)
    run.series.extend(data.get("series", []))


SMOKE_NO_STEADY = "no steady state (smoke run)"


def steady_value(samples, filled_at_s=None, interval_s=None):
    """The steady-state throughput of one series: the median of its samples from the second half
    of the run on, and not before the cache (the cgroup's page cache or the pool) was full when the
    series says when that was. None when no sample is left."""
    start = len(samples) // 2
    if filled_at_s is not None and interval_s:
        start = max(start, math.ceil(filled_at_s / interval_s))
    tail = samples[start:]
    return statistics.median(tail) if tail else None


def series_variant(name):
    """'ltm_read/mmap' -> 'mmap', 'fio/psync_direct' -> 'fio_psync_direct'."""
    head, _, tail = name.partition("/")
    return f"fio_{tail}" if head == "fio" else tail


def add_ltm_steady(run):
    """ltm_steady/<variant>: per repetition, the steady-state throughput, from the series (for
    our variants and fio alike) or, without a series, from ltm_bench's steady_ops_per_s.

    In a smoke run, a variant that ran (a figure, no error) and has a series, none of whose
    repetitions left a sample after the cache filled, gets an ltm_steady result with no figure
    and the note SMOKE_NO_STEADY: a one-second run need not reach a steady state."""
    from_series = set()
    no_steady = {}  # variant -> threads, series with no sample after the fill
    failed = {name.split("/", 1)[1] for (name, _), r in run.results.items()
              if name.startswith("ltm_read/") and r.errors}
    for s in run.series:
        value = steady_value(s.get("ops_per_s", []), s.get("filled_at_s"), run.interval_s)
        variant = series_variant(s.get("name", ""))
        if variant in failed:
            continue  # a failed run's samples are not a measurement
        if value is None:
            no_steady[variant] = int(s.get("threads", 1))
            continue
        threads = int(s.get("threads", 1))
        r = run.get_or_add(f"ltm_steady/{variant}", threads)
        r.reps.append(value)
        r.declared_reps = len(r.reps)
        from_series.add(variant)
    for (name, threads), r in list(run.results.items()):
        if not name.startswith("ltm_read/"):
            continue
        variant = name.split("/", 1)[1]
        if variant in from_series or r.errors:
            continue
        values = [c["steady_ops_per_s"] for c in r.rep_counters if "steady_ops_per_s" in c]
        if values:
            s = run.get_or_add(f"ltm_steady/{variant}", threads)
            s.reps.extend(values)
            s.declared_reps = len(s.reps)
    if not run.smoke:
        return  # a full run that reached no steady state is missing it (listed under Missing)
    for variant, threads in no_steady.items():
        ran = run.result(f"ltm_read/{variant}", None)
        if variant in from_series or ran is None or ran.errors or ran.median() is None:
            continue  # a figure from another repetition, or the run itself is missing or failed
        if run.result(f"ltm_steady/{variant}", None) is None:
            run.get_or_add(f"ltm_steady/{variant}", threads).note = SMOKE_NO_STEADY


def load_inputs(paths, smoke=False):
    """The results in `paths`; `smoke`: a bench.sh --smoke run (see SMOKE_NO_STEADY)."""
    run = Run()
    run.smoke = smoke
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(glob.glob(os.path.join(p, "*")))
        else:
            files.append(p)
    for path in files:
        base = os.path.basename(path)
        if base == "ltm_series.json":
            load_series(run, path)
        elif base == "ltm_meta.json":
            with open(path) as f:
                run.ltm_meta = json.load(f)
        elif base == "failed.txt":
            with open(path) as f:
                run.failed += [line.strip() for line in f if line.strip()]
        elif base == "ltm_skipped.txt":
            with open(path) as f:
                run.ltm_skipped = f.read().strip() or "no reason given"
        elif FIO_LTM_FILE.match(base):
            variant = FIO_LTM_FILE.match(base).group("variant")
            variant = {"direct": "psync_direct", "uring": "uring_direct"}.get(variant, variant)
            with open(path) as f:
                text = f.read()
            try:
                data = json.loads(text[text.index("{"):])
                threads = sum(fio_jobs(j) for j in data.get("jobs", [])[:1]) or 1
            except (ValueError, IndexError):
                threads = 1
            load_fio(run, path, f"ltm_read/fio_{variant}", threads)
        elif FIO_FILE.match(base):
            m = FIO_FILE.match(base)
            if m.group("rep") is None and glob.glob(path[:-len(".json")] + ".rep*.json"):
                continue  # a copy of one repetition beside them: counting it would weigh it twice
            load_fio(run, path, f"fio/{m.group('job')}", int(m.group("jobs")))
        elif base.endswith("_bench.json"):
            load_gbench(run, path)
    add_ltm_steady(run)
    return run
