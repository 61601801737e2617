"""Small, dependency-free statistics for the benchmarks."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of unsorted values; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(values: Sequence[float], *, scale: float = 1.0, digits: int = 1) -> dict:
    """count, p50, p90, p99, max (and mean) of `values` times `scale`."""
    if not values:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None}

    def r(x: float | None) -> float | None:
        return None if x is None else round(x * scale, digits)

    return {
        "count": len(values),
        "p50": r(percentile(values, 50)),
        "p90": r(percentile(values, 90)),
        "p99": r(percentile(values, 99)),
        "max": r(max(values)),
        "mean": r(sum(values) / len(values)),
    }


def max_in_sliding_window(
    times: Sequence[float], weights: Sequence[int] | None = None, window: float = 1.0
) -> tuple[int, float | None]:
    """The most weight (segments) inside any half-open window (t - window, t] over the
    sorted `times` (seconds), and where that window ends. This is the simulator's own
    rule: a segment stays in the window until `window` seconds after it was taken."""
    if weights is None:
        weights = [1] * len(times)
    best, best_at, total, lo = 0, None, 0, 0
    for hi, t in enumerate(times):
        total += weights[hi]
        while times[lo] <= t - window:
            total -= weights[lo]
            lo += 1
        if total > best:
            best, best_at = total, t
    return best, best_at


def fmt(value, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value:,}{unit}"
