"""pytest plugin (``-p pytest_ipfs_accel.distributed.select``): list or select a shard's items.

With ``IPFS_ACCEL_COLLECT_OUT=PATH`` it writes every collected item as a JSON
line ``{"nodeid", "hardware"}`` (the driver's collection); with
``IPFS_ACCEL_SHARD_IDS=PATH`` (a file of node ids, one a line) it keeps only
those items and deselects the rest, so a shard runs with exactly the user's
pytest arguments and still only its own items.
"""

from __future__ import annotations

import json
import os

import pytest

from pytest_ipfs_accel.options import PROP_HARDWARE

COLLECT_OUT = "IPFS_ACCEL_COLLECT_OUT"
SHARD_IDS = "IPFS_ACCEL_SHARD_IDS"


@pytest.hookimpl(trylast=True)  # after the plugin's own hook has tagged each item's hardware
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ids_path = os.environ.get(SHARD_IDS)
    if ids_path:
        with open(ids_path, encoding="utf-8") as fh:
            wanted = {line.rstrip("\n") for line in fh if line.strip()}
        keep = [item for item in items if item.nodeid in wanted]
        dropped = [item for item in items if item.nodeid not in wanted]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    out = os.environ.get(COLLECT_OUT)
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            for item in items:
                hardware = dict(item.user_properties).get(PROP_HARDWARE)
                fh.write(json.dumps({"nodeid": item.nodeid, "hardware": hardware}) + "\n")
