"""The whole report from its sections, and the command line (scripts/bench_report.py)."""

import argparse
import os
import sys

from .compare import Tracker
from .layers import buffer_section, index_section, storage_section, wal_section
from .ltm import ltm_section
from .machine import machine_section
from .overview import all_section, problems_section, reference_section, scaling_section
from .peers import durable_section, ycsb_section
from .results import layer_of, load_inputs
from .summary import summary_section


# scripts/bench_report.py's --help, the first line of its docstring.
DESCRIPTION = ("Writes scripts/bench.sh's report: every ratio from the results of one run, in "
               "Markdown.")


def build_report(args, run, chart_note=None):
    """(the whole report, the summary section) as Markdown text."""
    tr = Tracker(run)
    summary = summary_section(run, tr)
    body = []
    body += storage_section(run, tr)
    body += buffer_section(run, tr)
    body += wal_section(run, tr)
    body += index_section(run, tr)
    body += ycsb_section(run, tr)
    body += durable_section(run, tr)
    body += ltm_section(run, tr)
    body += scaling_section(run, tr)
    body += reference_section(run, tr)
    body += all_section(run)
    lines = ["# pagestore benchmark report", ""]
    lines += machine_section(args, run)
    if run.failed:
        lines += ["## Failed", "", "These programs failed in this run; their results are not in "
                  "this report (bench.sh's output says why):", ""]
        lines += [f"- {f}" for f in run.failed]
        lines.append("")
    if chart_note:
        lines += [chart_note, ""]
    lines += summary + body + problems_section(run, tr)
    return "\n".join(lines), "\n".join(summary)


def parse_args(argv):
    p = argparse.ArgumentParser(description=DESCRIPTION)
    p.add_argument("inputs", nargs="+", help="result files, or directories of them")
    p.add_argument("--out", help="write the report here (default: stdout)")
    p.add_argument("--summary-out", help="also write the summary table here")
    p.add_argument("--charts-dir", help="write PNG charts here (default: beside --out)")
    p.add_argument("--no-charts", action="store_true")
    p.add_argument("--bench-dir", default=os.environ.get("PAGESTORE_BENCH_DIR", "/tmp"))
    p.add_argument("--build-dir", default="build/release")
    p.add_argument("--command", default="(unknown)")
    p.add_argument("--mode", default="")
    p.add_argument("--build-seconds", type=int)
    p.add_argument("--run-seconds", type=int)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    run = load_inputs(args.inputs, smoke=args.mode == "smoke")
    chart_note = None
    if not args.no_charts:
        charts_dir = args.charts_dir or (os.path.dirname(os.path.abspath(args.out)) if args.out
                                         else None)
        if charts_dir:
            # bench_charts.py is beside bench_report.py, one directory up.
            scripts = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            sys.path.insert(0, scripts)
            try:
                import bench_charts
                written = bench_charts.write_all(run, charts_dir, layer_of)
                chart_note = f"Charts: {', '.join(written)} (beside this file)." if written else None
            except ImportError as e:
                chart_note = (f"**Charts skipped: {e} (install Debian's python3-matplotlib and "
                              f"run with /usr/bin/python3).**")
    text, summary = build_report(args, run, chart_note)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    if args.summary_out:
        with open(args.summary_out, "w") as f:
            f.write(summary)
    return 0
