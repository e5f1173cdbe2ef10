"""The report's first section: the machine and the run."""

import datetime
import os
import platform
import subprocess


def run_cmd(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_total():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except (OSError, ValueError):
        pass
    return "unknown"


def build_type(build_dir):
    try:
        with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    return line.split("=", 1)[1].strip() or "(empty)"
    except OSError:
        pass
    return "unknown"


def machine_section(args, run):
    ctx = run.contexts[0] if run.contexts else {}
    fs = run_cmd(["findmnt", "-n", "-T", args.bench_dir, "-o", "SOURCE,FSTYPE,OPTIONS"])
    load_avg = ctx.get("load_avg")
    lines = [
        "## Machine and run",
        "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}"
        f" (first benchmark start: {ctx.get('date', 'unknown')})",
        f"- command: `{args.command}`" + (f" (mode: {args.mode})" if args.mode else ""),
        f"- kernel: {run_cmd(['uname', '-r'])}",
        f"- filesystem of {args.bench_dir}: `{fs}`",
        f"- CPUs: {os.cpu_count()} ({ctx.get('num_cpus', '?')} seen by the benchmark), "
        f"model: {cpu_model()}; memory: {memory_total()}",
        f"- build type: {build_type(args.build_dir)} ({args.build_dir}); Google Benchmark "
        f"library: {ctx.get('library_build_type', 'unknown')}",
        f"- host: {ctx.get('host_name', platform.node())}",
    ]
    if " tmpfs " in f" {fs} ":
        lines.insert(2, f"**Warning: {args.bench_dir} is a tmpfs: fdatasync does nothing there and "
                        f"nothing is larger than memory, so the durable and larger-than-memory "
                        f"rows measure memory, not a disk. Set PAGESTORE_BENCH_DIR to a directory "
                        f"on the disk under test.**")
        lines.insert(3, "")
    cpus = os.cpu_count() or 1
    if load_avg:
        lines.append("- load average (1, 5, 15 min) at the first benchmark's start: " +
                     ", ".join(f"{x:.2f}" for x in load_avg) + "; at the end: " +
                     ", ".join(f"{x:.2f}" for x in os.getloadavg()))
        if load_avg[0] >= 0.75 * cpus:
            lines.insert(2, f"**Warning: the machine looked busy when the run started (1-minute "
                            f"load average {load_avg[0]:.2f} on {cpus} CPUs, which includes any "
                            f"build just before it): if other processes competed "
                            f"for the CPUs or the disk, ratios, thread scaling above all, are "
                            f"unreliable. Check the spreads; rerun on an idle machine.**")
            lines.insert(3, "")
    knobs = {}
    for c in run.contexts:
        knobs.update({k: v for k, v in c.items() if k.startswith("pagestore_")})
    if knobs:
        lines.append("- settings: " + ", ".join(f"{k}={v}" for k, v in sorted(knobs.items())))
    sources = [f"{os.path.basename(c['_path'])} (start {c.get('date', 'unknown')})"
               for c in run.contexts]
    if run.fio_files:
        sources.append(f"{len(run.fio_files)} fio JSON files")
    if run.series:
        sources.append(f"ltm_series.json ({len(run.series)} series)")
    if sources:
        lines.append("- results read together (all from this run): " + ", ".join(sources))
    if args.build_seconds is not None or args.run_seconds is not None:
        lines.append(f"- wall time: build {args.build_seconds} s, benchmarks {args.run_seconds} s")
    lines.append("")
    return lines
