"""pytest-benchmark JSON documents (what ``--benchmark-json`` writes and ``pytest-benchmark compare`` reads).

The statistics are recomputed from the raw samples, with the field names
pytest-benchmark uses; ``data`` holds the samples (seconds per call) so
``pytest-benchmark compare --histogram`` and friends work on them.
"""

from __future__ import annotations

import json
import platform
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_ipfs_accel.bench.stats import summarize
from pytest_ipfs_accel.store import fetch_dicts, fetch_samples

#: the pytest-benchmark JSON format version these documents follow
FORMAT_VERSION = "5.1.0"


def _param(name: str | None) -> str | None:
    match = re.search(r"\[(.*)\]$", name or "")
    return match.group(1) if match else None


def _extra(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {"value": value}
    return dict(value) if isinstance(value, Mapping) else {"value": value}


def benchmark_entry(row: Mapping[str, Any], samples: Sequence[float]) -> dict[str, Any]:
    """One ``benchmarks[]`` entry from a ``benchmark_results`` row (or payload) and its samples."""
    name = row.get("name") or str(row.get("nodeid", "")).rsplit("::", 1)[-1]
    extra = _extra(row.get("extra_info"))
    for key in ("model", "hardware", "device", "kind", "batch_size", "seq_len", "dtype", "timer",
                "throughput", "throughput_unit", "tokens_per_s", "peak_memory_bytes",
                "wall_median_s", "p90_s", "p95_s", "p99_s", "source"):
        if row.get(key) is not None:
            extra.setdefault(key, row[key])
    if samples:
        s = summarize(samples)
        data = [float(x) for x in samples]
        sorted_data = sorted(data)
        low = s.q1_s - 1.5 * s.iqr_s
        high = s.q3_s + 1.5 * s.iqr_s
        inside = [x for x in sorted_data if low <= x <= high] or sorted_data
        stddev_outliers = sum(1 for x in data if abs(x - s.mean_s) > s.stddev_s)
        stats: dict[str, Any] = {
            "min": s.min_s, "max": s.max_s, "mean": s.mean_s, "stddev": s.stddev_s,
            "rounds": s.rounds, "median": s.median_s, "iqr": s.iqr_s, "q1": s.q1_s, "q3": s.q3_s,
            "iqr_outliers": s.outliers, "stddev_outliers": stddev_outliers,
            "outliers": f"{stddev_outliers};{s.outliers}",
            "ld15iqr": inside[0], "hd15iqr": inside[-1],
            "ops": 1.0 / s.mean_s if s.mean_s > 0 else 0.0,
            "total": sum(data), "data": data,
        }
    else:  # a row without samples: keep what the row has
        median = row.get("median_s")
        iqr = row.get("iqr_s") or 0.0
        mean = row.get("mean_s") or median
        stats = {
            "min": row.get("min_s"), "max": row.get("max_s"), "mean": mean,
            "stddev": row.get("stddev_s") or 0.0, "rounds": row.get("rounds") or 0,
            "median": median, "iqr": iqr,
            "q1": median - iqr / 2 if median is not None else None,
            "q3": median + iqr / 2 if median is not None else None,
            "iqr_outliers": row.get("outliers") or 0, "stddev_outliers": 0,
            "outliers": f"0;{row.get('outliers') or 0}",
            "ld15iqr": row.get("min_s"), "hd15iqr": row.get("max_s"),
            "ops": 1.0 / mean if mean else 0.0,
            "total": (mean or 0.0) * (row.get("rounds") or 0),
        }
    stats["iterations"] = row.get("iterations") or 1
    return {
        "group": row.get("group"),
        "name": name,
        "fullname": row.get("nodeid") or name,
        "params": None,
        "param": _param(name),
        "extra_info": extra,
        "options": {
            "timer": row.get("timer"),
            "warmup": row.get("warmup"),
            "min_rounds": None,
            "max_time": None,
            "disable_gc": False,
        },
        "stats": stats,
    }


def machine_info(fingerprints: Mapping[str, Any] | None = None, *, host: str | None = None,
                 os_name: str | None = None, python: str | None = None) -> dict[str, Any]:
    """pytest-benchmark's ``machine_info`` keys, plus our device fingerprints under ``ipfs_accel``."""
    info: dict[str, Any] = {
        "node": host or platform.node(),
        "processor": platform.processor(),
        "machine": platform.machine(),
        "python_compiler": platform.python_compiler(),
        "python_implementation": platform.python_implementation(),
        "python_implementation_version": platform.python_version(),
        "python_version": python or platform.python_version(),
        "python_build": list(platform.python_build()),
        "release": platform.release(),
        "system": os_name or platform.system(),
        "cpu": {},
    }
    if fingerprints:
        info["ipfs_accel"] = {"hardware": dict(fingerprints)}
    return info


def commit_info(commit: str | None, branch: str | None, dirty: bool | None,
                project: str | None = None) -> dict[str, Any]:
    """pytest-benchmark's ``commit_info`` shape."""
    return {"id": commit, "branch": branch, "dirty": bool(dirty), "project": project}


def document(entries: Sequence[Mapping[str, Any]], *, machine: Mapping[str, Any],
             commit: Mapping[str, Any], when: datetime | None = None) -> dict[str, Any]:
    """A whole pytest-benchmark JSON document."""
    return {
        "machine_info": dict(machine),
        "commit_info": dict(commit),
        "benchmarks": list(entries),
        "datetime": (when or datetime.now(timezone.utc)).isoformat(),
        "version": FORMAT_VERSION,
    }


def write(doc: Mapping[str, Any], path: str | Path) -> None:
    """Write ``doc`` to ``path`` (``-``: stdout), creating the folder."""
    text = json.dumps(doc, indent=2, default=str)
    if str(path) == "-":
        sys.stdout.write(text + "\n")
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")


def from_run(con, run_id: str) -> dict[str, Any]:
    """The pytest-benchmark document of a recorded run."""
    # epoch seconds rather than TIMESTAMPTZ: fetching that needs pytz in the Python client
    runs = fetch_dicts(
        con,
        "SELECT hardware, host, os, python, git_commit, git_branch, git_dirty, "
        "epoch(started_at) AS started_epoch FROM runs WHERE run_id = ?",
        [run_id],
    )
    run = runs[0] if runs else {}
    rows = fetch_dicts(con, "SELECT * FROM benchmark_results WHERE run_id = ? ORDER BY nodeid", [run_id])  # no timestamps
    samples = fetch_samples(con, run_id)
    entries = [benchmark_entry(row, samples.get(row["nodeid"], ())) for row in rows]
    hardware = run.get("hardware")
    try:
        fingerprints = json.loads(hardware) if hardware else None
    except ValueError:
        fingerprints = {"raw": hardware}
    machine = machine_info(fingerprints, host=run.get("host"), os_name=run.get("os"),
                           python=run.get("python"))
    machine["ipfs_accel"] = {**machine.get("ipfs_accel", {}), "run_id": run_id}
    started = run.get("started_epoch")
    return document(
        entries,
        machine=machine,
        commit=commit_info(run.get("git_commit"), run.get("git_branch"), run.get("git_dirty")),
        when=datetime.fromtimestamp(started, timezone.utc) if started is not None else None,
    )
