"""Statistics of raw benchmark samples (seconds per call), in plain Python.

Percentiles use linear interpolation between closest ranks (numpy's default
``linear`` method), so figures agree with what users compute themselves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Summary:
    """Statistics of one benchmark's samples."""

    rounds: int
    mean_s: float
    median_s: float
    p90_s: float
    p95_s: float
    p99_s: float
    min_s: float
    max_s: float
    stddev_s: float  # sample standard deviation (n - 1), 0 for one sample
    q1_s: float
    q3_s: float
    iqr_s: float
    outliers: int  # Tukey: outside [q1 - 1.5 IQR, q3 + 1.5 IQR]

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of already sorted values, linearly interpolated."""
    if not sorted_values:
        raise ValueError("percentile of no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    position = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def summarize(samples: Sequence[float]) -> Summary:
    """Statistics of ``samples``; raises ``ValueError`` for an empty sequence."""
    if not samples:
        raise ValueError("no samples to summarize")
    data = sorted(float(s) for s in samples)
    n = len(data)
    mean = math.fsum(data) / n
    if n > 1:
        variance = math.fsum((x - mean) ** 2 for x in data) / (n - 1)
        stddev = math.sqrt(variance)
    else:
        stddev = 0.0
    q1 = percentile(data, 25)
    q3 = percentile(data, 75)
    iqr = q3 - q1
    low_fence = q1 - 1.5 * iqr
    high_fence = q3 + 1.5 * iqr
    outliers = sum(1 for x in data if x < low_fence or x > high_fence)
    return Summary(
        rounds=n,
        mean_s=mean,
        median_s=percentile(data, 50),
        p90_s=percentile(data, 90),
        p95_s=percentile(data, 95),
        p99_s=percentile(data, 99),
        min_s=data[0],
        max_s=data[-1],
        stddev_s=stddev,
        q1_s=q1,
        q3_s=q3,
        iqr_s=iqr,
        outliers=outliers,
    )
