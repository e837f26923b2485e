"""The benchmark options (``--ipfs-bench-*``, ``--ipfs-compare*``): their table, parsing and checks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_ipfs_accel.bench.settings import Settings
from pytest_ipfs_accel.options import add_option, option_value


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


_DEFAULTS = Settings()

#: option -> (type, default, metavar, help)
_OPTIONS: dict[str, tuple[type, Any, str | None, str]] = {
    "--ipfs-bench-max-time": (
        float, _DEFAULTS.max_time, "SECONDS",
        "time budget of a benchmark's timed rounds (they also run at least min-rounds times)",
    ),
    "--ipfs-bench-min-rounds": (int, _DEFAULTS.min_rounds, "N", "minimum number of timed rounds"),
    "--ipfs-bench-max-rounds": (
        int, _DEFAULTS.max_rounds, "N",
        "maximum number of timed rounds (raw samples stored per benchmark)",
    ),
    "--ipfs-bench-min-time": (
        float, _DEFAULTS.min_time, "SECONDS",
        "minimum duration of one round; short calls are repeated within a round to reach it",
    ),
    "--ipfs-bench-warmup": (
        int, _DEFAULTS.warmup, "N", "untimed warm-up rounds after calibration",
    ),
    "--ipfs-bench-precision": (
        float, _DEFAULTS.precision, "FRACTION",
        "stop early once the 95%% confidence half-width of the mean is within this fraction "
        "of it (0: off)",
    ),
    "--ipfs-compare-fail": (
        float, 10.0, "PCT",
        "with --ipfs-compare: fail on a statistically significant slowdown of both the median "
        "and the minimum beyond PCT percent (10 or 10%%; STAT:PCT such as median:10%% judges "
        "that statistic alone)",
    ),
    "--ipfs-compare-alpha": (
        float, 0.01, "P", "with --ipfs-compare: significance level of the Mann-Whitney U test",
    ),
    "--ipfs-compare-confirm": (
        int, 2, "N",
        "with --ipfs-compare: measure a case up to N more times while its median and minimum "
        "are both beyond the threshold against the baseline, and keep the fastest measurement "
        "(a slow spell of the machine passes, slower code does not; 0: off)",
    ),
}


def add_options(parser: pytest.Parser) -> None:
    """Add the benchmark options (and their ini keys) to ``parser``."""
    group = parser.getgroup("ipfs-accel-bench", "pytest-ipfs-accel: benchmarks (ipfs_bench)")

    def add(option: str, help: str, **kwargs: Any) -> None:
        add_option(group, parser, option, help, **kwargs)

    for option, (_, default, metavar, help_text) in _OPTIONS.items():
        add(option, f"{help_text}; default {default}", metavar=metavar)
    add("--ipfs-bench-disable", "run each ipfs_bench callable once, untimed", action="store_true")
    add(
        "--ipfs-bench-pin-cpu",
        "keep the measuring thread on one CPU during warm-up and timed rounds (Linux; see docs/benchmarks.md)",
        action="store_true",
    )
    add(
        "--ipfs-bench-json",
        "write the session's benchmarks as pytest-benchmark JSON to PATH",
        metavar="PATH",
    )
    add(
        "--ipfs-compare",
        "compare this session's benchmarks with run BASE of the results database "
        "(a run id; latest/previous: the latest/second-latest earlier run with benchmarks; "
        "latest:N: the N latest such runs pooled, which a slow or fast run cannot sway) "
        "and fail the session on a significant regression",
        metavar="BASE",
    )


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
