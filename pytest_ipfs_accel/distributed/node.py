"""The node side: detect this node's usable backends and start or join Ray advertising exactly those.

``cpu`` is every node's (Ray's own ``CPU``); ``cuda``/``rocm`` become Ray GPUs
(one per device); every other usable backend (``openvino``, ``mps``, ``qnn``,
...) becomes a custom resource named after it, one unit per device, so a shard
asking for it lands only here.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from pytest_ipfs_accel.distributed.plan import GPU_BACKENDS


def detect(names: list[str] | None = None) -> tuple[int, dict[str, float], dict[str, Any]]:
    """``(num_gpus, custom resources, fingerprints)`` of the usable backends (all, or ``names``)."""
    from hardware_markers import default_registry

    registry = default_registry()
    found = [registry.detect(n) for n in names] if names else registry.detect_all()
    num_gpus = 0
    custom: dict[str, float] = {}
    fingerprints = {}
    for hw in found:
        if not hw.usable:
            continue
        fingerprints[hw.name] = hw.fingerprint()
        if hw.name in GPU_BACKENDS:
            num_gpus = max(num_gpus, len(hw.devices) or 1)
        elif hw.name != "cpu":
            custom[hw.name] = float(max(len(hw.devices), 1))
    return num_gpus, custom, fingerprints


def ray_start_command(address: str | None, num_gpus: int, custom: dict[str, float],
                      extra: list[str] | None = None) -> list[str]:
    """``ray start`` for a head (no address) or a joining node, advertising exactly these resources."""
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray") or "ray"
    cmd = [ray, "start"]
    if address:
        cmd.append(f"--address={address}")
    else:
        cmd += ["--head", "--include-dashboard=false"]
    cmd += [f"--num-gpus={num_gpus}", f"--resources={json.dumps(custom)}", *(extra or [])]
    return cmd
