"""One detector per backend.  (Helper A fills these in; cpu works already.)"""

from __future__ import annotations

import platform

from hardware_markers.base import BACKENDS, Device, Hardware, Registry


def detect_cpu() -> Hardware:
    try:
        import torch
    except ImportError:
        return Hardware("cpu", False, "torch is not installed: pip install torch")
    return Hardware(
        "cpu", True, "torch CPU backend",
        (Device(name=platform.processor() or platform.machine()),), "cpu",
        f"torch {torch.__version__}",
    )


def _not_yet(name: str):
    return lambda: Hardware(name, False, "detector not implemented yet")


def default_registry() -> Registry:
    detectors = {name: _not_yet(name) for name in BACKENDS}
    detectors["cpu"] = detect_cpu
    return Registry(detectors)
