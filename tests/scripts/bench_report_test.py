"""Unit tests of scripts/bench_report.py (and the charts of scripts/bench_charts.py) on the fixed
results in tests/scripts/data/run/: a small run of made-up figures whose ratios are known.

The fixture: read_random/pread repetitions 400, 600, 500 items/s (no aggregates, so the median and
spread come from the repetitions); read_random/raw_pread with Google Benchmark aggregates median
1000, min 900, max 1100; fio randread psync in three repetition files (800, 1000, 900 iops); a
write_random/mmap that failed; read_random/mmap absent; YCSB A on six engines (SQLite with mmap
absent); durable commits with latency counters; a larger-than-memory run with its series and a fio
file that starts with a warning line; a B+tree get with one failed repetition of three; a
failed larger-than-memory variant; a failed layer. data/smoke/: a smoke run of the
larger-than-memory layer alone (1 s per run) in which fio's mmap job filled its memory group at the
very end. Run: python3 -m unittest tests/scripts/bench_report_test.py
"""

import importlib.util
import json
import os
import re
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(HERE, "data", "run")
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import bench_report  # noqa: E402


def load():
    return bench_report.load_inputs([DATA])


def summary_row(run, workload):
    rows = bench_report.summary_rows(run, bench_report.Tracker(run))
    for row in rows:
        if row["workload"] == workload:
            return row
    raise AssertionError(f"no summary row {workload!r} in {[r['workload'] for r in rows]}")


def report_text(extra_args=()):
    args = bench_report.parse_args([DATA, "--no-charts", *extra_args])
    return bench_report.build_report(args, load())


class SpreadTest(unittest.TestCase):
    def test_median_and_spread_from_repetitions(self):
        r = load().result("read_random/pread", 1)
        self.assertEqual(r.reps, [400, 600, 500])
        self.assertEqual(r.median(), 500)
        self.assertEqual(r.spread(), (400, 600))
        self.assertAlmostEqual(r.spread_percent(), 40.0)
        self.assertEqual(r.repetitions(), 3)

    def test_aggregates_take_precedence(self):
        r = load().result("read_random/raw_pread", 1)
        self.assertEqual(r.median(), 1000)
        self.assertEqual(r.spread(), (900, 1100))
        self.assertAlmostEqual(r.spread_percent(), 20.0)

    def test_fio_repetition_files_are_one_benchmark(self):
        r = load().result("fio/randread_psync", 1)
        self.assertEqual(sorted(r.reps), [800, 900, 1000])
        self.assertEqual(r.median(), 900)
        self.assertEqual(r.repetitions(), 3)
        self.assertAlmostEqual(r.median_counter("p99_us"), 250)

    def test_fio_file_with_a_warning_line_first(self):
        r = load().result("ltm_read/fio_psync_direct", 2)
        self.assertIsNotNone(r, "fio_ltm_direct.json was not read")
        self.assertEqual(r.median(), 3750)

    def test_spread_text(self):
        run = load()
        self.assertEqual(bench_report.rate_with_spread(run.result("read_random/pread", 1)),
                         "500/s (spread 40%)")
        self.assertEqual(bench_report.rate_with_spread(None), "missing")
        self.assertEqual(bench_report.rate_with_spread(run.result("write_random/mmap", 1)),
                         "error")


class RatioTest(unittest.TestCase):
    def test_ratio_kinds(self):
        self.assertEqual(bench_report.ratio("speedup", 300, 100), 3.0)
        self.assertEqual(bench_report.ratio("throughput", 100, 400), 0.25)
        # within: a time ratio, the first's time over the second's.
        self.assertEqual(bench_report.ratio("within", 500, 1000), 2.0)
        self.assertIsNone(bench_report.ratio("within", None, 1000))
        self.assertIsNone(bench_report.ratio("speedup", 100, 0))

    def test_verdicts(self):
        self.assertEqual(bench_report.verdict("within", 1.1, 1.15), "met")
        self.assertEqual(bench_report.verdict("within", 1.2, 1.15), "**missed**")
        self.assertEqual(bench_report.verdict("speedup", 1.5, 1.5), "met")
        self.assertEqual(bench_report.verdict("throughput", 0.79, 0.8), "**missed**")
        self.assertIsNone(bench_report.verdict("speedup", None, 1.5))

    def test_summary_against_baseline_and_peer(self):
        row = summary_row(load(), "random 4 KiB reads, cached (pread manager)")
        self.assertEqual(row["ours"].median(), 500)
        self.assertAlmostEqual(row["vs_baseline"], 0.5)      # 500 / 1000
        self.assertAlmostEqual(row["vs_peer"], 500 / 900)    # fio's median of three files
        self.assertEqual(row["targets"][0][1:], ("2.00x the time", "**missed**"))

    def test_summary_takes_our_best_manager_and_the_best_peer(self):
        row = summary_row(load(), "YCSB A (50% read, 50% update)")
        self.assertEqual(row["ours"].name, "ycsb_a/pagestore_mmap")   # 150 beats pread's 100
        self.assertEqual(row["peer"].name, "ycsb_a/lmdb")             # 200 beats 120 and 50
        self.assertAlmostEqual(row["vs_baseline"], 0.5)               # absl::btree_map 300
        self.assertAlmostEqual(row["vs_peer"], 0.75)

    def test_durable_commit_row(self):
        row = summary_row(load(), "durable single-key commit, full sync")
        self.assertEqual(row["ours"].name, "durable_commit/pagestore_pread")
        self.assertAlmostEqual(row["vs_baseline"], 0.5)   # 2500 / 5000
        self.assertEqual(row["peer"].name, "durable_commit/rocksdb")
        self.assertAlmostEqual(row["vs_peer"], 0.625)

    def test_larger_than_memory_steady_state_from_the_series(self):
        run = load()
        # Second half of [9000, 5000, 3000, 1500, 1600, 1700]: median 1600.
        self.assertEqual(run.result("ltm_steady/mmap", 2).median(), 1600)
        self.assertEqual(run.result("ltm_steady/pool_pread_direct", 2).median(), 3200)
        self.assertEqual(run.result("ltm_steady/fio_psync_direct", 2).median(), 3900)
        row = summary_row(run, "larger than memory: random 4 KiB reads, steady state")
        goals = {t[0].split(" (")[0]: t[1:] for t in row["targets"]}
        self.assertEqual(goals[">= 1.5x faster"], ("2.00x faster", "met"))
        self.assertEqual(goals[">= 0.8x the items/s"], ("0.82x the items/s", "met"))

    def test_latency_percentiles_are_medians_over_repetitions(self):
        r = load().result("durable_commit/raw_fdatasync", 1)
        self.assertAlmostEqual(r.median_counter("p99_us"), 601)   # 600, 601, 602


class MissingTest(unittest.TestCase):
    def test_missing_benchmarks_are_reported_not_dropped(self):
        text, summary = report_text()
        self.assertIn("| storage | random 4 KiB reads, cached (mmap manager) | missing |", summary)
        missing = text.split("## Missing")[1].split("\n## ")[0]
        for name in ("read_random/mmap", "ycsb_a/sqlite_mmap", "durable_commit/pagestore_mmap",
                     "write_random/mmap"):
            self.assertIn(f"- {name} (", missing)
        self.assertIn("fixture.pages: disk full", missing)
        # The YCSB table keeps the engine's column and says it is missing.
        ycsb = text.split("## YCSB")[1].split("\n## ")[0]
        self.assertRegex(ycsb, r"\| A: 50% read, 50% update \| 1 \|( [^|]+ \|){4} [^|]+ \| "
                               r"missing \|")

    def test_layers_not_run_say_so(self):
        text, summary = report_text()
        for title in ("## Buffer pool", "## WAL"):
            section = text.split(title)[1].split("\n## ")[0]
            self.assertIn("Not run: no results of the", section)
        self.assertNotIn("| buffer |", summary)

    def test_failed_repetitions_are_counted_not_hidden(self):
        r = load().result("btree_get/pagestore", 1)
        self.assertEqual(r.reps, [1000, 1200])
        self.assertEqual(r.median(), 1100)
        self.assertEqual(r.repetitions(), 2)
        self.assertEqual(bench_report.rate_with_spread(r), "1.10k/s (spread 18%, 1 failed)")
        text, _ = report_text()
        self.assertIn("- btree_get/pagestore (threads 1): btree: page 7: checksum mismatch",
                      text.split("## Errors")[1])

    def test_failed_layers_are_named_at_the_top(self):
        text, _ = report_text()
        self.assertLess(text.index("## Failed"), text.index("## Summary"))
        self.assertIn("- wal: wal_bench exited with status 1", text)

    def test_a_failed_run_gives_no_steady_state(self):
        run = load()
        self.assertIsNone(run.result("ltm_steady/pool_mmap", None))
        self.assertTrue(run.result("ltm_read/pool_mmap", 2).errors)

    def test_ltm_skipped_reason(self):
        with tempfile.TemporaryDirectory() as d:
            skipped = os.path.join(d, "ltm_skipped.txt")
            with open(skipped, "w") as f:
                f.write("no cgroup v1 memory controller at /sys/fs/cgroup/memory\n")
            run = bench_report.load_inputs([os.path.join(DATA, "disk_manager_bench.json"),
                                            skipped])
            args = bench_report.parse_args([d, "--no-charts"])
            text, _ = bench_report.build_report(args, run)
            self.assertIn("Skipped: no cgroup v1 memory controller", text)

    def test_reference_column_is_labelled_and_separate(self):
        text, summary = report_text()
        self.assertNotIn("1078", summary)
        ref = text.split("## pread vs mmap beside the reference")[1].split("\n## ")[0]
        self.assertIn(bench_report.REFERENCE_LABEL, ref)
        self.assertIn("1078 vs 748 ns", ref)


SMOKE = os.path.join(HERE, "data", "smoke")


def smoke_report(paths=(SMOKE,), smoke=True):
    """The report of the fixed smoke run in data/smoke/ (only the ltm layer, every variant run
    for 1 s; fio's mmap job filled its memory group at 1.0 s, when the run ended), as bench.sh
    --smoke makes it (smoke=True) or as a full run would read the same figures."""
    args = bench_report.parse_args([*paths, "--no-charts", "--mode", "smoke" if smoke else "full"])
    return bench_report.build_report(args, bench_report.load_inputs(list(paths), smoke=smoke))


def problem_titles(text):
    """The problem sections scripts/test.sh fails a smoke run on."""
    return re.findall(r"^## (Failed|Errors|Missing)", text, re.M)


class SmokeTest(unittest.TestCase):
    def test_no_sample_after_the_fill_is_no_steady_state_not_missing(self):
        text, summary = smoke_report()
        self.assertEqual(problem_titles(text), [])
        run = bench_report.load_inputs([SMOKE], smoke=True)
        steady = run.result("ltm_steady/fio_mmap", None)
        self.assertIsNotNone(steady)
        self.assertIsNone(steady.median())
        self.assertEqual(steady.note, "no steady state (smoke run)")
        ltm = text.split("## Larger than memory")[1].split("\n## ")[0]
        self.assertRegex(ltm, r"\| mmap manager vs fio mmap, steady state \| [^|]+ \| "
                              r"no steady state \(smoke run\) \|")
        self.assertRegex(ltm, r"\| fio_mmap \| 2 \| 1 \| 3.90k/s \(1 rep\) \| "
                              r"no steady state \(smoke run\) \|")
        # The pool's late fill falls back to ltm_bench's own steady counter: a figure.
        self.assertEqual(run.result("ltm_steady/pool_pread_direct", 2).median(), 3100)
        self.assertIn("| ltm |", summary)

    def test_a_full_run_still_names_the_missing_steady_state(self):
        text, _ = smoke_report(smoke=False)
        self.assertEqual(problem_titles(text), ["Missing"])
        missing = text.split("## Missing")[1].split("\n## ")[0]
        self.assertIn("- ltm_steady/fio_mmap (", missing)
        self.assertNotIn("smoke run", text)

    def test_a_smoke_run_still_names_what_did_not_run_or_failed(self):
        with tempfile.TemporaryDirectory() as d:
            for name in os.listdir(SMOKE):
                with open(os.path.join(SMOKE, name)) as f:
                    data = json.load(f)
                if name == "ltm_bench.json":
                    rows = []
                    for row in data["benchmarks"]:
                        if "/pool_pread_buffered/" in row["name"]:
                            continue  # did not run at all
                        if "/pool_mmap/" in row["name"]:
                            row = {k: v for k, v in row.items() if k != "items_per_second"}
                            row.update(error_occurred=True, error_message="read page 9: EIO")
                        rows.append(row)
                    data["benchmarks"] = rows
                if name == "ltm_series.json":
                    data["series"] = [s for s in data["series"]
                                      if s["name"] != "ltm_read/pool_pread_buffered"]
                    # The failed run's series with no sample after the fill: still no note.
                    for s in data["series"]:
                        if s["name"] == "ltm_read/pool_mmap":
                            s["filled_at_s"] = 1.0
                with open(os.path.join(d, name), "w") as f:
                    json.dump(data, f)
            # fio's mmap job failed: no figure, so no note for its steady state either.
            with open(os.path.join(d, "fio_ltm_mmap.rep0.json"), "w") as f:
                json.dump({"jobs": [{"jobname": "j", "error": 5}]}, f)
            text, _ = smoke_report((d,))
        self.assertEqual(problem_titles(text), ["Missing", "Errors"])
        missing = text.split("## Missing")[1].split("\n## ")[0]
        for name in ("ltm_read/pool_pread_buffered", "ltm_steady/pool_mmap",
                     "ltm_steady/fio_mmap"):
            self.assertIn(f"- {name} (", missing)
        self.assertIn("read page 9: EIO", text.split("## Errors")[1])
        self.assertNotIn("no steady state (smoke run)", text)


class EndToEndTest(unittest.TestCase):
    def test_main_writes_report_summary_and_charts(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "report.md")
            summary = os.path.join(d, "summary.md")
            argv = [DATA, "--out", out, "--summary-out", summary, "--command", "fixture"]
            has_mpl = importlib.util.find_spec("matplotlib") is not None
            if not has_mpl:
                argv.append("--no-charts")
            self.assertEqual(bench_report.main(argv), 0)
            with open(out) as f:
                text = f.read()
            for title in ("## Machine and run", "## Summary", "## Storage", "## YCSB",
                          "## Durable single-key commits", "## Larger than memory",
                          "## Every benchmark", "## Missing", "## Errors"):
                self.assertIn(title, text)
            with open(summary) as f:
                self.assertTrue(f.read().startswith("## Summary"))
            if has_mpl:
                for png in ("storage.png", "ycsb.png", "durable_latency.png",
                            "ltm_over_time.png", "scaling.png"):
                    path = os.path.join(d, png)
                    self.assertTrue(os.path.getsize(path) > 1000, png)
                    with open(path, "rb") as f:
                        self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


if __name__ == "__main__":
    unittest.main()
