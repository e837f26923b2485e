"""Regression thresholds the way people write them: ``10``, ``10%``, ``median:10%``.

One parser for every place that asks for one (``ipfs-accel compare
--fail-threshold``, ``--ipfs-compare-fail``, the facade's ``threshold_pct``), so
they accept the same forms and refuse the rest with the same words.  The
``STAT:PCT`` form is pytest-benchmark's ``--benchmark-compare-fail``: only that
statistic must have slowed beyond the percentage; without it a regression needs
the median and the minimum both beyond it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

#: statistics a threshold may name (the columns each compared case carries)
STATISTICS = ("min", "median", "p90")
_FORM = re.compile(r"^(?:(?P<stat>[a-z0-9]+):)?(?P<pct>[^%]+?)\s*(?P<sign>%?)$")


@dataclass(frozen=True)
class Threshold:
    """A slowdown beyond ``pct`` percent of ``statistic`` (``None``: median and min both)."""

    pct: float
    statistic: str | None = None

    def __str__(self) -> str:
        return f"{self.statistic}:{self.pct:g}%" if self.statistic else f"{self.pct:g}%"


def parse_threshold(text: str | float) -> Threshold:
    """``10``, ``10%``, ``median:10%`` or ``min:5`` -> :class:`Threshold`; ``ValueError`` says what to write."""
    raw = str(text).strip()
    match = _FORM.match(raw)
    hint = "write a percentage like 10 or 10%, or STAT:PCT like median:10% (STAT: " + ", ".join(STATISTICS) + ")"
    if not match:
        raise ValueError(f"expected a percentage, got {raw!r}: {hint}")
    statistic = match["stat"]
    if statistic is not None and statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r} in {raw!r}; choose one of {', '.join(STATISTICS)}")
    try:
        pct = float(match["pct"])
    except ValueError:
        raise ValueError(f"expected a percentage, got {raw!r}: {hint}") from None
    if not math.isfinite(pct) or pct < 0:
        raise ValueError(f"expected a percentage >= 0, got {raw!r}")
    return Threshold(pct, statistic)
