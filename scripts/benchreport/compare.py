"""Comparisons of two benchmarks: ratios, verdicts against targets, the benchmarks a comparison
wanted and did not find, and the targets and informational tables of the layer sections."""

from .results import layer_of
from .text import rate_with_spread, table


class Tracker:
    """Remembers the benchmarks a comparison wanted and did not find in a layer that ran."""

    def __init__(self, run):
        self.run = run
        self.layers = run.layers_run()
        self.missing = {}  # (name, threads) -> the layer

    def get(self, name, threads):
        r = self.run.result(name, threads)
        if r is not None and r.note is not None and r.median() is None:
            return r  # ran, and has no figure by design (a smoke run): not missing
        if (r is None or r.median() is None) and layer_of(name) in self.layers:
            self.missing.setdefault((name, threads if threads is not None else "any"),
                                    layer_of(name))
        return r

    def layer_ran(self, layer):
        return layer in self.layers


def absent_text(run, sides):
    """What a comparison reads when it has no value: the note (SMOKE_NO_STEADY) when every one of
    `sides` ((name, threads) pairs) without a figure ran and has none by design, else "missing"."""
    notes = []
    for name, threads in sides:
        r = run.result(name, threads)
        if r is not None and r.median() is not None:
            continue
        if r is None or not r.note:
            return "missing"
        notes.append(r.note)
    return notes[0] if notes else "missing"


def ratio(kind, ma, mb):
    """A comparison's value from two medians of items/s: "within" is a time ratio (first's time
    over second's), "speedup" and "throughput" throughput ratios (first's items/s over second's)."""
    if not ma or not mb:
        return None
    return mb / ma if kind == "within" else ma / mb


def ratio_of(kind, ra, rb):
    """ratio() of two results' medians; None when either is missing or has no median."""
    return ratio(kind, ra.median() if ra else None, rb.median() if rb else None)


def compare(run, a, b, kind, ta, tb):
    """The value (or None) of one comparison of benchmarks by name and thread count."""
    return ratio_of(kind, run.result(a, ta), run.result(b, tb))


def verdict(kind, value, target):
    if value is None:
        return None
    ok = value <= target if kind == "within" else value >= target
    return "met" if ok else "**missed**"


def side_text(r, t, show_threads):
    text = rate_with_spread(r)
    if show_threads and r is not None and r.median() is not None:
        text += f" ({r.threads} thr)" if t is None else f" ({t} thr)"
    return text


def measured_text(kind, value):
    if value is None:
        return "n/a"
    if kind == "throughput":
        return f"{value:.2f}x the items/s"
    return f"{value:.2f}x faster" if kind == "speedup" else f"{value:.2f}x the time"


def target_text(kind, target):
    if kind == "throughput":
        return f">= {target:g}x the items/s"
    return f">= {target:g}x faster" if kind == "speedup" else f"within {target:g}x"


def targets_table(tr, targets):
    rows = []
    for label, a, b, kind, target, ta, tb in targets:
        ra, rb = tr.get(a, ta), tr.get(b, tb)
        value = ratio_of(kind, ra, rb)
        threads = ta != tb or (ta or 1) != 1
        result = verdict(kind, value, target)
        if result is None:
            result = absent_text(tr.run, [(a, ta), (b, tb)]) \
                if tr.layer_ran(layer_of(a)) or tr.layer_ran(layer_of(b)) else "not run"
        rows.append([label, side_text(ra, ta, threads), side_text(rb, tb, threads),
                     measured_text(kind, value), target_text(kind, target), result])
    return table(["comparison", "first: median (spread)", "second: median (spread)", "measured",
                  "target", "result"], rows)


def informational_table(tr, comparisons, notes=None):
    rows = []
    for label, a, b, kind, ta, tb in comparisons:
        ra, rb = tr.get(a, ta), tr.get(b, tb)
        value = ratio_of(kind, ra, rb)
        threads = ta != tb or (ta or 1) != 1
        note = ""
        if notes:
            na, nb = notes(tr.run, a, ta), notes(tr.run, b, tb)
            note = "; ".join(f"{side}: {n}" for side, n in (("first", na), ("second", nb)) if n)
        rows.append([label, side_text(ra, ta, threads), side_text(rb, tb, threads),
                     measured_text(kind, value), note])
    return table(["comparison", "first: median (spread)", "second: median (spread)", "measured",
                  "notes"], rows)


def best_of(tr, names, threads):
    """The result with the highest median among `names` (None when none ran)."""
    found = [tr.get(n, threads) for n in names]
    found = [r for r in found if r is not None and r.median() is not None]
    return max(found, key=lambda r: r.median()) if found else None


def target_context(a, b, ta, tb):
    """What a target compares, in a few words, for the summary's target column."""
    if a == b:
        return f" ({ta} vs {tb} threads)"
    return f" ({a.split('/', 1)[1]} vs {b.split('/', 1)[1]})"
