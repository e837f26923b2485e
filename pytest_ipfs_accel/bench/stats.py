"""Statistics of raw benchmark samples (seconds per call), computed with numpy.

Percentiles are numpy's default ``linear`` method, so figures agree with what
users compute themselves.  numpy is imported when samples are summarized, not
when the plugin loads (a session without benchmarks does not pay for it).
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


def _numpy():
    try:
        import numpy
    except ModuleNotFoundError as exc:
        if exc.name != "numpy":
            raise
        raise ImportError(
            "benchmark statistics need numpy: pip install 'pytest-ipfs-accel[bench]'"
        ) from None
    return numpy


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of values, linearly interpolated (numpy's default)."""
    if len(sorted_values) == 0:
        raise ValueError("percentile of no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    return float(_numpy().percentile(sorted_values, q))


def summarize(samples: Sequence[float]) -> Summary:
    """Statistics of ``samples``; raises ``ValueError`` for an empty sequence."""
    if len(samples) == 0:
        raise ValueError("no samples to summarize")
    np = _numpy()
    data = np.sort(np.asarray(samples, dtype=float))
    n = len(data)
    mean = float(math.fsum(data)) / n  # fsum: exact, as the samples are summed once
    stddev = float(data.std(ddof=1)) if n > 1 else 0.0
    q1, median, q3, p90, p95, p99 = (float(v) for v in np.percentile(data, [25, 50, 75, 90, 95, 99]))
    iqr = q3 - q1
    outliers = int(np.count_nonzero((data < q1 - 1.5 * iqr) | (data > q3 + 1.5 * iqr)))
    return Summary(
        rounds=n,
        mean_s=mean,
        median_s=median,
        p90_s=p90,
        p95_s=p95,
        p99_s=p99,
        min_s=float(data[0]),
        max_s=float(data[-1]),
        stddev_s=stddev,
        q1_s=q1,
        q3_s=q3,
        iqr_s=iqr,
        outliers=outliers,
    )
