"""``ipfs-accel hardware`` through a real ``python -m pytest_ipfs_accel`` subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hardware_markers import BACKENDS, default_registry

ROOT = Path(__file__).resolve().parents[1]


def _ipfs_accel(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pytest_ipfs_accel", "hardware", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def test_json_lists_every_backend_as_this_process_detects_it():
    proc = _ipfs_accel("--json")
    assert proc.returncode == 0, proc.stderr
    fingerprints = json.loads(proc.stdout)
    assert [f["backend"] for f in fingerprints] == list(BACKENDS)
    here = {hw.name: hw.fingerprint() for hw in default_registry().detect_all()}
    for fingerprint in fingerprints:
        mine = here[fingerprint["backend"]]
        assert set(fingerprint) == set(mine)
        for key in ("usable", "reason", "runtime", "torch_device", "count"):
            assert fingerprint[key] == mine[key], (fingerprint["backend"], key)
        assert fingerprint["count"] == len(fingerprint["devices"])
        assert [d["name"] for d in fingerprint["devices"]] == [d["name"] for d in mine["devices"]]
    cpu = fingerprints[0]
    assert cpu["usable"] and cpu["torch_device"] == "cpu" and cpu["devices"][0]["memory_bytes"] > 0


def test_table_has_one_row_per_backend_with_usable_and_reason():
    proc = _ipfs_accel()
    assert proc.returncode == 0, proc.stderr
    header, rule, *rows = proc.stdout.splitlines()
    assert header.split() == ["backend", "usable", "devices", "reason"]
    assert set(rule.replace(" ", "")) == {"-"}
    by_name = {row.split()[0]: row for row in rows if row and not row.startswith(" ")}
    assert list(by_name) == list(BACKENDS)
    for hw in default_registry().detect_all():
        row = by_name[hw.name]
        assert row.split()[1] == ("yes" if hw.usable else "no")
        assert row.endswith(hw.reason)
        if hw.devices:
            assert hw.devices[0].name[:20] in row
        else:
            assert " - " in row


def test_chosen_backends_only_and_unknown_backend_is_one_line_error():
    # backends that need no torch: this subprocess stays cheap
    proc = _ipfs_accel("--json", "webnn", "qnn")
    assert proc.returncode == 0, proc.stderr
    assert [f["backend"] for f in json.loads(proc.stdout)] == ["webnn", "qnn"]

    proc = _ipfs_accel("gpu")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (
        "ipfs-accel hardware: error: unknown backend 'gpu'; choose from: "
        "cpu, cuda, rocm, mps, xpu, openvino, qnn, wasm, webnn, webgpu\n"
    )
