"""Shared plumbing of the plugin's halves: option/ini-key pairs and the report keys.

Every ``--ipfs-*`` option has an ini key of the same name without the dashes
(``--ipfs-bench-max-time`` -> ``ipfs_bench_max_time``); the command line wins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

DEFAULT_DB = Path(".ipfs_accel/results.duckdb")

#: user_properties keys: how facts about an item travel with its reports (also from xdist workers)
PROP_HARDWARE = "ipfs_accel.hardware"
PROP_MODEL = "ipfs_accel.model"
PROP_BENCH = "ipfs_accel.bench"


def add_option(group: Any, parser: pytest.Parser, option: str, help: str, **kwargs: Any) -> None:
    """Add ``--ipfs-x-y`` to ``group`` and its ini key ``ipfs_x_y`` to ``parser``."""
    ini = option.lstrip("-").replace("-", "_")
    group.addoption(option, dest=ini, help=help + f" (ini: {ini})", **kwargs)
    ini_type = "bool" if kwargs.get("action") == "store_true" else "string"
    parser.addini(ini, help.replace("%%", "%"), type=ini_type)


def option_value(config: pytest.Config, name: str) -> Any:
    """The option ``name`` (dest form) from the command line, else its ini key, else None."""
    value = config.getoption(name)
    if value in (None, False):
        value = config.getini(name)
    return value if value not in ("", [], None) else None
