"""The benchmark options (``--ipfs-bench-*``, ``--ipfs-compare*``): their table, parsing and checks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_ipfs_accel.bench.option_table import _OPTIONS, add_options
from pytest_ipfs_accel.bench.settings import Settings
from pytest_ipfs_accel.options import option_value

__all__ = ["BenchOptions", "add_options", "parse_options"]


@dataclass(frozen=True)
class BenchOptions:
    """The parsed benchmark options of a session."""

    settings: Settings
    disabled: bool
    json_path: Path | None
    compare_base: str | None
    compare_fail_pct: float
    compare_alpha: float
    compare_confirm: int = 0
    #: the statistic a ``STAT:PCT`` threshold names (``None``: median and min both)
    compare_statistic: str | None = None


def _number(config: pytest.Config, option: str) -> Any:
    kind, default, _, _ = _OPTIONS[option]
    name = option.lstrip("-").replace("-", "_")
    value = option_value(config, name)
    if value is None:
        return default
    try:
        return kind(value)
    except (TypeError, ValueError):
        what = "an integer" if kind is int else "a number"
        raise pytest.UsageError(f"{option}={value}: expected {what}") from None


def parse_options(config: pytest.Config) -> BenchOptions:
    """Read and validate the benchmark options (``pytest.UsageError`` says what to fix)."""
    try:
        settings = Settings(
            max_time=_number(config, "--ipfs-bench-max-time"),
            min_rounds=_number(config, "--ipfs-bench-min-rounds"),
            max_rounds=_number(config, "--ipfs-bench-max-rounds"),
            min_time=_number(config, "--ipfs-bench-min-time"),
            warmup=_number(config, "--ipfs-bench-warmup"),
            precision=_number(config, "--ipfs-bench-precision"),
            pin_cpu=bool(option_value(config, "ipfs_bench_pin_cpu")),
        )
    except ValueError as exc:
        raise pytest.UsageError(f"ipfs-accel benchmark options: {exc}") from None
    raw_fail = option_value(config, "ipfs_compare_fail")
    fail_pct, statistic = float(_OPTIONS["--ipfs-compare-fail"][1]), None  # the default: median and min
    if raw_fail is not None:
        # the parser (a regex compiled at import, a dataclass) only when the option is given:
        # about 2 M instructions of every session otherwise (docs/store.md, "What a session costs")
        from pytest_ipfs_accel.bench.threshold import parse_threshold

        try:
            threshold = parse_threshold(raw_fail)
        except ValueError as exc:
            raise pytest.UsageError(f"--ipfs-compare-fail={raw_fail}: {exc}") from None
        fail_pct, statistic = threshold.pct, threshold.statistic
    alpha = _number(config, "--ipfs-compare-alpha")
    if not 0 < alpha < 1:
        raise pytest.UsageError(f"--ipfs-compare-alpha={alpha}: expected a probability in (0, 1)")
    confirm = _number(config, "--ipfs-compare-confirm")
    if confirm < 0:
        raise pytest.UsageError(f"--ipfs-compare-confirm={confirm}: expected a count >= 0")
    json_path = option_value(config, "ipfs_bench_json")
    compare_base = option_value(config, "ipfs_compare")
    if compare_base is not None and option_value(config, "ipfs_no_db"):
        raise pytest.UsageError(
            "--ipfs-compare needs the results database for its baseline; drop --ipfs-no-db"
        )
    return BenchOptions(
        settings=settings,
        disabled=bool(option_value(config, "ipfs_bench_disable")),
        json_path=Path(json_path).expanduser().absolute() if json_path else None,
        compare_base=str(compare_base) if compare_base is not None else None,
        compare_fail_pct=fail_pct,
        compare_statistic=statistic,
        compare_alpha=float(alpha),
        compare_confirm=int(confirm),
    )
