"""Text: numbers with units, ratios, a result's median with its spread, and the one Markdown table
helper every section uses."""


def sig3(x):
    """x to three significant digits, never in exponent notation."""
    if x >= 100:
        return f"{x:.0f}"
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def scaled(x, units, base):
    """x in the largest of `units` ((suffix, scale), largest first) it reaches, else in `base`;
    "n/a" for None."""
    if x is None:
        return "n/a"
    for unit, scale in units:
        if x >= scale:
            return f"{sig3(x / scale)}{unit}"
    return f"{sig3(x)}{base}"


def fmt_rate(x):
    return scaled(x, (("G/s", 1e9), ("M/s", 1e6), ("k/s", 1e3)), "/s")


def fmt_ns(x):
    return scaled(x, ((" s", 1e9), (" ms", 1e6), (" µs", 1e3)), " ns")


def fmt_us(x):
    return "n/a" if x is None else fmt_ns(x * 1e3)


def fmt_bytes(x):
    return scaled(x, ((" GB/s", 1e9), (" MB/s", 1e6), (" kB/s", 1e3)), " B/s")


def fmt_ratio(x):
    return "n/a" if x is None else f"{x:.2f}x"


def rate_with_spread(r):
    """'1.10M/s (spread 4%)': the median and the min-max spread of the repetitions, as a percentage
    of the median ('1 rep' with one; failed repetitions counted beside)."""
    if r is None:
        return "missing"
    if r.median() is None:
        return "error" if r.errors else (r.note or "missing")
    pct = r.spread_percent()
    failed = f", {r.failed_repetitions()} failed" if r.errors else ""
    if pct is None or r.repetitions() <= 1:
        return f"{fmt_rate(r.median())} (1 rep{failed})"
    return f"{fmt_rate(r.median())} (spread {pct:.0f}%{failed})"


def table_row(cells):
    """One Markdown table row of cell texts."""
    return "| " + " | ".join(cells) + " |"


def table(header, rows=()):
    """A Markdown table as lines: the header row, its rule, then one line per row of `rows`
    (each a list of cell texts, as many as the header's)."""
    return [table_row(header), "|" + "---|" * len(header)] + [table_row(r) for r in rows]
