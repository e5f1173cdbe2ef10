#!/usr/bin/env python3
"""Writes scripts/bench.sh's report: every ratio from the results of one run, in Markdown.

Inputs (files, or directories whose files of these names are all read):
  *_bench.json        Google Benchmark JSON of pagestore's benchmark binaries (disk_manager_bench,
                      buffer_pool_bench, wal_bench, index_bench, ycsb_bench, ltm_bench).
  fio_<job>_<n>[.rep<r>].json   fio's JSON of benchmarks/fio/<job>.fio at n jobs, repetition r
                      (scripts/bench_fio.sh); read as benchmark "fio/<job>" at n threads.
  fio_ltm_<x>[.rep<r>].json   fio beside the larger-than-memory experiment (scripts/bench_ltm.sh);
                      read as "ltm_read/fio_<x>" ("direct" is named fio_psync_direct).
  ltm_series.json     throughput over time of the larger-than-memory runs (scripts/bench_ltm.sh).
  ltm_meta.json, ltm_skipped.txt   that experiment's sizes, or why it could not run.
  failed.txt          the layers whose programs failed in this run (scripts/bench.sh), one a line.

Everything is compared by items_per_second (operations per second of wall time, all threads
together), by the median over repetitions, with the min-max spread of the repetitions beside it.
A benchmark is found by its name's first two components ("read_random/pread"); what Google
Benchmark appends ("/real_time", "/threads:2", ...) is ignored except the thread count, taken from
the JSON. A comparison whose benchmark did not run where its layer did reads "missing" and is
listed under "Missing"; a layer with no results at all reads "not run".

--mode smoke (scripts/bench.sh --smoke: every benchmark once for about a second) checks that every
benchmark runs and that the report renders, not that a steady state was reached: a
larger-than-memory run that succeeded but whose cache filled so late that no throughput sample
fell after it reads "no steady state (smoke run)" instead of being listed under "Missing". A
benchmark that did not run, or failed, is still Missing, Errors or Failed in every mode.

The report: the machine and run; a summary table (ours against the raw baseline, the physical
limit, and against the best peer on the same workload); a section per layer with its targets and
informational comparisons; YCSB beside LMDB, SQLite and RocksDB; durable commits with latency
percentiles; the larger-than-memory experiment over time; thread scaling; our pread and mmap
figures beside the seed document's published ones (a labelled reference column, never a
measurement); every benchmark. PNG charts go beside the report (scripts/bench_charts.py, with
Debian's python3-matplotlib; without it the report says the charts were skipped).

  bench_report.py [--out report.md] [--summary-out summary.md] [--charts-dir DIR] [--no-charts]
                  [--bench-dir DIR] [--build-dir DIR] [--command CMD] [--mode MODE]
                  [--build-seconds N] [--run-seconds N] FILE_OR_DIR...

The code is the package beside this file, scripts/benchreport/: what is compared (config.py),
reading the results (results.py), text and the one table helper (text.py), comparisons
(compare.py), the sections (machine, summary, layers, peers, ltm, overview) and the whole report
with this command line (report.py).
"""

import sys

# The report is built by the package beside this file (benchreport/); these names are what
# bench_charts.py and tests/scripts/bench_report_test.py read from here.
from benchreport.compare import Tracker, ratio, verdict  # noqa: F401
from benchreport.config import (DURABLE_ENGINES, ENGINE_LABELS, OURS, PEERS,  # noqa: F401
                                PERCENTILES, REFERENCE_LABEL, YCSB_BASELINE, YCSB_WORKLOADS)
from benchreport.overview import scaling_groups  # noqa: F401
from benchreport.report import build_report, main, parse_args  # noqa: F401
from benchreport.results import layer_of, load_inputs  # noqa: F401
from benchreport.summary import summary_rows  # noqa: F401
from benchreport.text import rate_with_spread  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
