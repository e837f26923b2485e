"""The driver's plan: collect the node ids once, split them into shards by hardware and history.

Collection runs ``python -m pytest --collect-only`` with the hardware explicit
(never ``auto``), so the driver and every node see the same ids; each item's
backend comes from the plugin's parametrization (items without one run on
``cpu``).  Shards hold one backend each and are balanced by the durations the
store already holds (longest first into the lightest bin); with no history at
all they are dealt round-robin.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pytest_ipfs_accel.distributed.select import COLLECT_OUT

#: backends that Ray schedules as GPUs; every other non-CPU backend is a custom resource of its name
GPU_BACKENDS = ("cuda", "rocm")
SELECT_PLUGIN = "pytest_ipfs_accel.distributed.select"


class PlanError(Exception):
    """Collection failed or the plan cannot be made; the message says why."""


@dataclass
class Shard:
    """One shard: its items (one backend) and the seconds history expects them to take."""

    index: int
    hardware: str
    ids: list[str] = field(default_factory=list)
    expected_s: float = 0.0


def collect(pytest_args: list[str], hw: str, cwd: Path) -> list[tuple[str, str]]:
    """``(nodeid, backend)`` of every item ``pytest <pytest_args> --ipfs-hw hw`` collects."""
    with tempfile.TemporaryDirectory(prefix="ipfs-accel-collect-") as tmp:
        out = Path(tmp) / "items.jsonl"
        env = {**os.environ, COLLECT_OUT: str(out)}
        cmd = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", SELECT_PLUGIN,
               f"--ipfs-hw={hw}", "--ipfs-no-db", *pytest_args]
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode not in (0, 5) or not out.exists():
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
            raise PlanError(f"collection failed (pytest exit {proc.returncode}): {' | '.join(tail)}")
        items = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line]
    return [(i["nodeid"], i["hardware"] or "cpu") for i in items]


def durations(db: Path, nodeids: list[str]) -> dict[str, float]:
    """Median recorded seconds of each of ``nodeids`` over the store's runs (absent: no history)."""
    if not db.exists() or not nodeids:
        return {}
    from pytest_ipfs_accel import store

    try:
        con = store.open_store(db, read_only=True, wait_s=5)
    except store.StoreError:
        return {}
    try:
        rows = con.execute(
            "SELECT nodeid, median(duration_s) FROM test_results WHERE subtest IS NULL "
            "AND duration_s IS NOT NULL AND nodeid IN (SELECT unnest($1::VARCHAR[])) GROUP BY nodeid",
            [nodeids],
        ).fetchall()
    finally:
        con.close()
    return {nodeid: float(seconds) for nodeid, seconds in rows}


def split(items: list[tuple[str, str]], history: dict[str, float], shards: int) -> list[Shard]:
    """``shards`` shards (at least one per backend present) of one backend each.

    Extra shards go to the backend with the most expected seconds per shard.
    Items without history count as the mean of those with it.
    """
    by_hw: dict[str, list[str]] = {}
    for nodeid, hw in items:
        by_hw.setdefault(hw, []).append(nodeid)
    if not by_hw:
        return []
    known = [history[n] for n, _ in items if n in history]
    default = sum(known) / len(known) if known else 1.0
    cost = {n: history.get(n, default) for n, _ in items}
    total = {hw: sum(cost[n] for n in ids) for hw, ids in by_hw.items()}
    count = {hw: 1 for hw in by_hw}
    for _ in range(max(shards, len(by_hw)) - len(by_hw)):
        hw = max((h for h in by_hw if count[h] < len(by_hw[h])),
                 key=lambda h: total[h] / count[h], default=None)
        if hw is None:
            break
        count[hw] += 1
    result: list[Shard] = []
    for hw, ids in by_hw.items():
        bins = [Shard(index=0, hardware=hw) for _ in range(count[hw])]
        if known:  # longest first into the lightest bin, then back in collection order
            order = {n: i for i, n in enumerate(ids)}
            for nodeid in sorted(ids, key=lambda n: -cost[n]):
                target = min(bins, key=lambda b: b.expected_s)
                target.ids.append(nodeid)
                target.expected_s += cost[nodeid]
            for b in bins:
                b.ids.sort(key=order.__getitem__)
        else:
            for i, nodeid in enumerate(ids):
                bins[i % len(bins)].ids.append(nodeid)
                bins[i % len(bins)].expected_s += cost[nodeid]
        result.extend(bins)
    for index, shard in enumerate(result):
        shard.index = index
    return result


def resources(hardware: str) -> dict[str, object]:
    """Ray task options that place a shard of ``hardware``: GPUs, a custom resource, or one CPU."""
    if hardware in GPU_BACKENDS:
        return {"num_cpus": 1, "num_gpus": 1}
    if hardware == "cpu":
        return {"num_cpus": 1}
    return {"num_cpus": 1, "resources": {hardware: 1}}


def missing_resources(shards: list[Shard], offered: dict[str, float]) -> list[str]:
    """The resources some shard needs that no node of the cluster offers (``ray.cluster_resources()``)."""
    missing = []
    for shard in shards:
        opts = resources(shard.hardware)
        needs = dict(opts.get("resources", {}))  # type: ignore[arg-type]
        if "num_gpus" in opts:
            needs["GPU"] = opts["num_gpus"]
        needs["CPU"] = opts["num_cpus"]
        for name, amount in needs.items():
            if offered.get(name, 0) < amount:  # type: ignore[operator]
                label = f"{name} (for {shard.hardware} shard {shard.index})"
                if label not in missing:
                    missing.append(label)
    return missing
