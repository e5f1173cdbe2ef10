"""scripts/bench_report.py's report, one module per part: what it compares (config), reading the
results (results), text and the one table helper (text), comparisons (compare), then one module
per group of sections (machine, summary, layers, peers, ltm, overview) and the whole report with
its command line (report)."""
