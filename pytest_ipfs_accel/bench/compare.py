"""Statistical comparison of the benchmarks of two runs.

Cases are matched by node id.  For each pair: the change of the median, of p90
and of the minimum (time per call: lower is better), of the throughput (higher
is better), and a two-sided Mann-Whitney U test on the raw samples.

A case is a *regression* only when the test is significant (p < alpha) **and**
both the median and the minimum got slower by more than the threshold.
Significance alone flags harmless shifts once there are thousands of samples; a
threshold on the median alone flags a busy machine: contention from other
processes (hyperthread siblings, other xdist workers) slows most rounds, which
moves the median, but some rounds still run undisturbed, so the minimum stays.
Code that does more work moves the whole distribution, minimum included
(docs/benchmarks.md gives the spreads measured).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_ipfs_accel.bench.summary import fmt_time, format_markdown, format_table
from pytest_ipfs_accel.store import StoreError, fetch_dicts, fetch_samples, resolve_run_id

DEFAULT_THRESHOLD_PCT = 10.0
DEFAULT_ALPHA = 0.01


@dataclass
class CaseData:
    """One benchmark case of one run, with its raw samples (seconds per call)."""

    nodeid: str
    name: str | None = None
    model: str | None = None
    hardware: str | None = None
    median_s: float | None = None
    p90_s: float | None = None
    min_s: float | None = None
    throughput: float | None = None
    throughput_unit: str | None = None
    samples: list[float] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: Mapping[str, Any], samples: Sequence[float] = ()) -> CaseData:
        return cls(
            nodeid=row["nodeid"],
            name=row.get("name"),
            model=row.get("model"),
            hardware=row.get("hardware"),
            median_s=row.get("median_s"),
            p90_s=row.get("p90_s"),
            min_s=min(samples) if samples else row.get("min_s"),
            throughput=row.get("throughput"),
            throughput_unit=row.get("throughput_unit"),
            samples=list(samples),
        )


@dataclass
class CaseComparison:
    """How one case changed from BASE to HEAD."""

    nodeid: str
    model: str | None
    hardware: str | None
    verdict: str  # regression improvement unchanged new missing
    base_median_s: float | None = None
    head_median_s: float | None = None
    median_change_pct: float | None = None  # + is slower
    base_p90_s: float | None = None
    head_p90_s: float | None = None
    p90_change_pct: float | None = None  # + is slower
    base_min_s: float | None = None
    head_min_s: float | None = None
    min_change_pct: float | None = None  # + is slower
    base_throughput: float | None = None
    head_throughput: float | None = None
    throughput_change_pct: float | None = None  # + is faster
    throughput_unit: str | None = None
    p_value: float | None = None
    significant: bool | None = None
    base_rounds: int = 0
    head_rounds: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mann_whitney_u(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Two-sided Mann-Whitney U test: (U of ``x``, p-value), by ``scipy.stats.mannwhitneyu``.

    scipy's ``auto`` method: the exact distribution for small samples without
    ties (at most 8 on a side), else the normal approximation with tie and
    continuity correction.  scipy is imported here, not when the plugin loads.
    """
    if len(x) == 0 or len(y) == 0:
        raise ValueError("Mann-Whitney U needs samples on both sides")
    try:
        from scipy.stats import mannwhitneyu
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "scipy":
            raise
        raise ImportError(
            "comparing benchmarks needs scipy: pip install 'pytest-ipfs-accel[bench]'"
        ) from None
    first = x[0]
    if all(v == first for v in x) and all(v == first for v in y):
        # every value equal: no evidence of any difference (scipy's approximation divides by 0)
        return len(x) * len(y) / 2, 1.0
    result = mannwhitneyu(x, y, alternative="two-sided", method="auto")
    return float(result.statistic), float(result.pvalue)


def _change_pct(base: float | None, head: float | None) -> float | None:
    if base is None or head is None or base == 0:
        return None
    return (head - base) / base * 100.0


def compare_cases(
    base: Mapping[str, CaseData],
    head: Mapping[str, CaseData],
    *,
    threshold_pct: float = DEFAULT_THRESHOLD_PCT,
    alpha: float = DEFAULT_ALPHA,
    statistic: str | None = None,
) -> list[CaseComparison]:
    """Compare every case of ``head`` with the same node id in ``base`` (and list missing ones).

    ``statistic`` (``min``/``median``/``p90``): only its change is held against the threshold.
    """
    results: list[CaseComparison] = []
    for nodeid in sorted(set(base) | set(head)):
        b, h = base.get(nodeid), head.get(nodeid)
        ref = h or b
        assert ref is not None
        if b is None or h is None:
            results.append(
                CaseComparison(
                    nodeid=nodeid, model=ref.model, hardware=ref.hardware,
                    verdict="new" if b is None else "missing",
                    base_median_s=b.median_s if b else None,
                    head_median_s=h.median_s if h else None,
                    base_rounds=len(b.samples) if b else 0,
                    head_rounds=len(h.samples) if h else 0,
                )
            )
            continue
        median_change = _change_pct(b.median_s, h.median_s)
        min_change = _change_pct(b.min_s, h.min_s)
        p_value = None
        if b.samples and h.samples:
            _, p_value = mann_whitney_u(b.samples, h.samples)
        significant = None if p_value is None else p_value < alpha
        verdict = "unchanged"
        # the changes held against the threshold: median and min, or the one statistic named
        judged = [median_change, min_change] if statistic is None else [
            _change_pct(getattr(b, f"{statistic}_s"), getattr(h, f"{statistic}_s"))]
        if significant and None not in judged:
            if all(c > threshold_pct for c in judged):
                verdict = "regression"
            elif all(c < -threshold_pct for c in judged):
                verdict = "improvement"
        results.append(
            CaseComparison(
                nodeid=nodeid,
                model=h.model or b.model,
                hardware=h.hardware or b.hardware,
                verdict=verdict,
                base_median_s=b.median_s,
                head_median_s=h.median_s,
                median_change_pct=median_change,
                base_p90_s=b.p90_s,
                head_p90_s=h.p90_s,
                p90_change_pct=_change_pct(b.p90_s, h.p90_s),
                base_min_s=b.min_s,
                head_min_s=h.min_s,
                min_change_pct=min_change,
                base_throughput=b.throughput,
                head_throughput=h.throughput,
                throughput_change_pct=_change_pct(b.throughput, h.throughput)
                if b.throughput_unit == h.throughput_unit
                else None,
                throughput_unit=h.throughput_unit,
                p_value=p_value,
                significant=significant,
                base_rounds=len(b.samples),
                head_rounds=len(h.samples),
            )
        )
    return results


def regressions(comparisons: Iterable[CaseComparison]) -> list[CaseComparison]:
    return [c for c in comparisons if c.verdict == "regression"]


# ----------------------------------------------------------------------------- store access


def load_cases(con, run_id: str) -> dict[str, CaseData]:
    """The benchmark cases of ``run_id`` with their raw samples, keyed by node id."""
    rows = fetch_dicts(
        con,
        "SELECT nodeid, name, model, hardware, median_s, p90_s, throughput, throughput_unit "
        "FROM benchmark_results WHERE run_id = ?",
        [run_id],
    )
    samples = fetch_samples(con, run_id)
    return {row["nodeid"]: CaseData.from_row(row, samples.get(row["nodeid"], ())) for row in rows}


POOL_PREFIX = "latest:"
POOL_MAX = 100


def pool_size(ref: str) -> int | None:
    """N for ``latest:N`` (the N latest runs with benchmarks, pooled), None for any other ref.

    Raises :class:`~pytest_ipfs_accel.store.StoreError` for a malformed ``latest:...``.
    """
    if not ref.startswith(POOL_PREFIX):
        return None
    text = ref[len(POOL_PREFIX):]
    if not text.isdigit() or not 1 <= int(text) <= POOL_MAX:
        raise StoreError(
            f"{ref!r}: expected latest:N with N from 1 to {POOL_MAX} "
            "(the N latest runs with benchmarks, pooled into one baseline)"
        )
    return int(text)


def _runs_with_benchmarks(con, exclude: str | None, limit: int, offset: int = 0) -> list[str]:
    rows = con.execute(
        "SELECT r.run_id FROM runs r WHERE r.run_id IS DISTINCT FROM ? "
        "AND EXISTS (SELECT 1 FROM benchmark_results b WHERE b.run_id = r.run_id) "
        "ORDER BY r.started_at DESC NULLS LAST LIMIT ? OFFSET ?",
        [exclude, limit, offset],
    ).fetchall()
    return [row[0] for row in rows]


def resolve_baseline(con, ref: str, exclude: str | None) -> list[str]:
    """The run ids ``ref`` names for a baseline (empty: none yet).

    ``latest``/``previous`` mean the latest/second-latest run *with benchmarks*
    other than ``exclude`` (the run being judged); ``latest:N`` the N latest
    such runs, pooled by :func:`load_baseline`.  Anything else goes through
    :func:`pytest_ipfs_accel.store.resolve_run_id`.
    """
    pooled = pool_size(ref)
    if pooled is not None:
        return _runs_with_benchmarks(con, exclude, pooled)
    if ref in ("latest", "previous"):
        return _runs_with_benchmarks(con, exclude, 1, 1 if ref == "previous" else 0)
    return [resolve_run_id(con, ref)]


def load_baseline(con, run_ids: Sequence[str]) -> dict[str, CaseData]:
    """The baseline cases of one run, or of several runs pooled.

    Pooled, a case's median, p90, minimum and throughput are the medians of the
    runs' own figures (one slow or fast run does not move them) and its samples
    are all the runs' samples together, for the Mann-Whitney U test.
    """
    if len(run_ids) == 1:
        return load_cases(con, run_ids[0])
    per_run = [load_cases(con, run_id) for run_id in run_ids]
    pooled: dict[str, CaseData] = {}
    for nodeid in sorted({n for cases in per_run for n in cases}):
        cases = [cases[nodeid] for cases in per_run if nodeid in cases]
        first = cases[0]
        pooled[nodeid] = CaseData(
            nodeid=nodeid, name=first.name, model=first.model, hardware=first.hardware,
            median_s=_median_of_present(c.median_s for c in cases),
            p90_s=_median_of_present(c.p90_s for c in cases),
            min_s=_median_of_present(c.min_s for c in cases),
            throughput=_median_of_present(c.throughput for c in cases),
            throughput_unit=first.throughput_unit,
            samples=[x for c in cases for x in c.samples],
        )
    return pooled


def _median_of_present(values: Iterable[float | None]) -> float | None:
    """The median of the values that are present (None when none is)."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def baseline_label(ref: str, run_ids: Sequence[str]) -> str:
    """How a baseline is named in tables and messages."""
    if len(run_ids) == 1:
        return run_ids[0]
    return f"{ref} ({len(run_ids)} runs pooled: {run_ids[-1]} .. {run_ids[0]})"


# ----------------------------------------------------------------------------- rendering


def _fmt_pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}%"


def _fmt_p(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2g}" if value >= 1e-4 else "<1e-4"


COLUMNS = ("case", "base median", "head median", "median", "p90", "min", "throughput", "p", "verdict")


def table_rows(comparisons: Sequence[CaseComparison]) -> list[tuple[str, ...]]:
    rows = []
    for c in comparisons:
        rows.append(
            (
                c.nodeid,
                fmt_time(c.base_median_s),
                fmt_time(c.head_median_s),
                _fmt_pct(c.median_change_pct),
                _fmt_pct(c.p90_change_pct),
                _fmt_pct(c.min_change_pct),
                _fmt_pct(c.throughput_change_pct),
                _fmt_p(c.p_value),
                c.verdict.upper() if c.verdict == "regression" else c.verdict,
            )
        )
    return rows


def render(
    comparisons: Sequence[CaseComparison],
    fmt: str = "table",
    *,
    base: str = "BASE",
    head: str = "HEAD",
    threshold_pct: float = DEFAULT_THRESHOLD_PCT,
    alpha: float = DEFAULT_ALPHA,
) -> str:
    """The comparison as ``table`` (aligned text), ``markdown`` or ``json``."""
    if fmt == "json":
        return json.dumps(
            {
                "base": base,
                "head": head,
                "threshold_pct": threshold_pct,
                "alpha": alpha,
                "regressions": len(regressions(comparisons)),
                "cases": [c.as_dict() for c in comparisons],
            },
            indent=2,
        )
    legend = (
        f"{base} -> {head}: change of median, p90 and min time per call (+ is slower), of throughput "
        f"(+ is faster); p: two-sided Mann-Whitney U on raw samples; regression = p < {alpha:g} "
        f"and median and min both slower by more than {threshold_pct:g}%"
    )
    rows = table_rows(comparisons)
    if fmt == "markdown":
        return legend + "\n\n" + format_markdown(COLUMNS, rows)
    if fmt == "table":
        return legend + "\n" + format_table(COLUMNS, rows)
    raise ValueError(f"unknown format {fmt!r}; use table, json or markdown")


@dataclass
class GateOutcome:
    """What the ``--ipfs-compare`` gate found (or why it could not run); here rather than in
    :mod:`.session`, which every session loads, so that only a gate creates this dataclass."""

    base: str | None
    head: str | None
    comparisons: list[Any] = field(default_factory=list)
    error: str | None = None  # the gate could not run; why
    note: str | None = None  # the gate had nothing to compare with

    @property
    def regressions(self) -> list[Any]:
        return [c for c in self.comparisons if c.verdict == "regression"]
