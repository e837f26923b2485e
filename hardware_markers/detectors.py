"""One detector per backend, and the registry that knows them all.

The detectors live in modules by kind (torch devices, other runtimes,
browser APIs); this module is the one map from backend name to detector.
"""

from __future__ import annotations

from hardware_markers.base import BACKENDS, Detector, Registry
from hardware_markers.browser import detect_wasm, detect_webgpu, detect_webnn
from hardware_markers.runtimes import detect_openvino, detect_qnn
from hardware_markers.torch_backends import (
    detect_cpu,
    detect_cuda,
    detect_mps,
    detect_rocm,
    detect_xpu,
)

#: backend name -> detector, for every name in ``BACKENDS``.
DETECTORS: dict[str, Detector] = {
    "cpu": detect_cpu,
    "cuda": detect_cuda,
    "rocm": detect_rocm,
    "mps": detect_mps,
    "xpu": detect_xpu,
    "openvino": detect_openvino,
    "qnn": detect_qnn,
    "wasm": detect_wasm,
    "webnn": detect_webnn,
    "webgpu": detect_webgpu,
}

__all__ = ["DETECTORS", *(f"detect_{name}" for name in BACKENDS), "default_registry"]


def default_registry() -> Registry:
    """A fresh registry with the built-in detectors; nothing is detected until asked."""
    return Registry(DETECTORS)
