"""The benchmark options' table and their registration, without their parsed form.

Every session loads this (``pytest_addoption``); :mod:`.options` (the parsed
:class:`~.options.BenchOptions`: two frozen dataclasses with :mod:`.settings`)
is imported only when a benchmark option is given or a benchmark runs
(callgrind: ~18 M instructions of every one-test session otherwise;
docs/store.md, "What a session costs").  The defaults here are
:class:`~.settings.Settings`' own (``tests/test_startup_cost.py`` checks that).
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_ipfs_accel.options import add_option, option_value

#: option -> (type, default, metavar, help)
_OPTIONS: dict[str, tuple[type, Any, str | None, str]] = {
    "--ipfs-bench-max-time": (
        float, 1.0, "SECONDS",
        "time budget of a benchmark's timed rounds (they also run at least min-rounds times)",
    ),
    "--ipfs-bench-min-rounds": (int, 5, "N", "minimum number of timed rounds"),
    "--ipfs-bench-max-rounds": (
        int, 10_000, "N",
        "maximum number of timed rounds (raw samples stored per benchmark)",
    ),
    "--ipfs-bench-min-time": (
        float, 20e-6, "SECONDS",
        "minimum duration of one round; short calls are repeated within a round to reach it",
    ),
    "--ipfs-bench-warmup": (
        int, 2, "N", "untimed warm-up rounds after calibration",
    ),
    "--ipfs-bench-precision": (
        float, 0.0, "FRACTION",
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


#: the options that are flags or paths (dest form), beside the numbers above
_OTHER = ("ipfs_bench_disable", "ipfs_bench_pin_cpu", "ipfs_bench_json", "ipfs_compare")


def dest(option: str) -> str:
    """``--ipfs-bench-max-time`` -> ``ipfs_bench_max_time`` (the dest and the ini key)."""
    return option.lstrip("-").replace("-", "_")


def any_given(config: pytest.Config) -> bool:
    """Whether the command line or the ini file sets any benchmark option (a flag: to true)."""
    return any(option_value(config, name) not in (None, False) for name in (*map(dest, _OPTIONS), *_OTHER))
