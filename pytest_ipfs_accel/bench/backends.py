"""Two backends of one run side by side: which is faster for the same case, and how sure.

A generated benchmark runs each case once per backend, so a run holds
``test_forward_latency[cpu-b1-s16-float32]`` and
``test_forward_latency[openvino-b1-s16-float32]``.  Their case key is the node id
with the backend's own part of the parameter id removed.  For each case both
backends measured: the ratio of medians (HEAD backend over BASE backend: below
1 the HEAD backend is faster), a 95% bootstrap interval of that ratio
(deterministic seed, resampling both sides' raw samples), and a two-sided
Mann-Whitney U test on the raw samples.  A difference is *significant* when
p < alpha and the interval excludes 1.
"""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pytest_ipfs_accel.bench.compare import CaseData, mann_whitney_u
from pytest_ipfs_accel.bench.summary import fmt_time, format_markdown, format_table

DEFAULT_RESAMPLES = 400
CONFIDENCE = 0.95


def case_key(nodeid: str, backend: str | None) -> str:
    """``t.py::test_x[openvino-b1-s16-float32]`` -> ``t.py::test_x[b1-s16-float32]``."""
    if not backend or "[" not in nodeid or not nodeid.endswith("]"):
        return nodeid
    head, params = nodeid[:-1].split("[", 1)
    parts = [p for p in params.split("-") if p != backend]
    return f"{head}[{'-'.join(parts)}]" if parts else head


@dataclass
class BackendComparison:
    """One case on two backends of the same run."""

    case: str
    model: str | None
    base_backend: str
    head_backend: str
    base_median_s: float | None = None
    head_median_s: float | None = None
    ratio: float | None = None  # head median / base median: < 1 means head is faster
    ratio_low: float | None = None
    ratio_high: float | None = None
    p_value: float | None = None
    significant: bool | None = None
    faster: str | None = None  # the significantly faster backend, else None
    base_rounds: int = 0
    head_rounds: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ratio_interval(
    base: Sequence[float], head: Sequence[float], resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """A percentile bootstrap interval (``CONFIDENCE``) of median(head) / median(base)."""
    rng = random.Random(seed)
    ratios = []
    for _ in range(resamples):
        b = statistics.median(rng.choices(base, k=len(base)))
        h = statistics.median(rng.choices(head, k=len(head)))
        if b > 0:
            ratios.append(h / b)
    ratios.sort()
    if not ratios:
        return float("nan"), float("nan")
    tail = (1 - CONFIDENCE) / 2
    low = ratios[int(tail * (len(ratios) - 1))]
    high = ratios[int((1 - tail) * (len(ratios) - 1) + 0.5)]
    return low, high


def compare_backends(
    cases: Mapping[str, CaseData], base_backend: str, head_backend: str, *, alpha: float = 0.01,
    resamples: int = DEFAULT_RESAMPLES,
) -> list[BackendComparison]:
    """Every case measured on both backends (and those measured on one only, without figures)."""
    sides: dict[str, dict[str, CaseData]] = {}
    for case in cases.values():
        if case.hardware in (base_backend, head_backend):
            sides.setdefault(case_key(case.nodeid, case.hardware), {})[case.hardware] = case
    results = []
    for key in sorted(sides):
        b, h = sides[key].get(base_backend), sides[key].get(head_backend)
        ref = h or b
        assert ref is not None
        row = BackendComparison(
            case=key, model=ref.model, base_backend=base_backend, head_backend=head_backend,
            base_median_s=b.median_s if b else None, head_median_s=h.median_s if h else None,
            base_rounds=len(b.samples) if b else 0, head_rounds=len(h.samples) if h else 0,
        )
        if b and h and b.median_s and h.median_s:
            row.ratio = h.median_s / b.median_s
        if b and h and b.samples and h.samples:
            row.ratio_low, row.ratio_high = ratio_interval(b.samples, h.samples, resamples)
            _, row.p_value = mann_whitney_u(b.samples, h.samples)
            excludes_one = row.ratio_high < 1 or row.ratio_low > 1
            row.significant = row.p_value < alpha and excludes_one
            if row.significant and row.ratio is not None:
                row.faster = head_backend if row.ratio < 1 else base_backend
        results.append(row)
    return results


def _verdict(c: BackendComparison) -> str:
    if c.ratio is None:
        return f"only on {c.base_backend if c.base_median_s is not None else c.head_backend}"
    if c.p_value is None:
        return "no raw samples"
    if not c.significant:
        return "no significant difference"
    speedup = 1 / c.ratio if c.faster == c.head_backend else c.ratio
    return f"{c.faster} {speedup:.2f}x faster"


def render(comparisons: Sequence[BackendComparison], fmt: str = "table", *, run_id: str = "",
           alpha: float = 0.01) -> str:
    """The comparison as ``table``, ``markdown`` or ``json``."""
    if fmt == "json":
        return json.dumps({"run_id": run_id, "alpha": alpha, "confidence": CONFIDENCE,
                           "cases": [c.as_dict() for c in comparisons]}, indent=2)
    if not comparisons:
        return f"run {run_id}: no benchmark case was measured on either backend"
    base, head = comparisons[0].base_backend, comparisons[0].head_backend
    columns = ("case", base, head, f"{head}/{base}", f"{CONFIDENCE:.0%} interval", "p", "verdict")
    rows = [
        (
            c.case, fmt_time(c.base_median_s), fmt_time(c.head_median_s),
            "-" if c.ratio is None else f"{c.ratio:.3f}",
            "-" if c.ratio_low is None else f"{c.ratio_low:.3f}-{c.ratio_high:.3f}",
            "-" if c.p_value is None else (f"{c.p_value:.2g}" if c.p_value >= 1e-4 else "<1e-4"),
            _verdict(c),
        )
        for c in comparisons
    ]
    legend = (
        f"run {run_id}: median time per call on {base} and on {head}; {head}/{base} < 1: {head} is "
        f"faster; interval: bootstrap of the ratio of medians; p: two-sided Mann-Whitney U on raw "
        f"samples; significant = p < {alpha:g} and the interval excludes 1"
    )
    if fmt == "markdown":
        return legend + "\n\n" + format_markdown(columns, rows)
    if fmt == "table":
        return legend + "\n" + format_table(columns, rows)
    raise ValueError(f"unknown format {fmt!r}; use table, json or markdown")
