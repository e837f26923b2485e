"""Backend detection: what each backend really offers on this machine.

Nothing here imports torch at import time; detectors import their runtime
when first asked, and answers are cached per registry.

Modules: ``base`` (names, ``Registry``), ``hardware`` (``Hardware``/``Device``), ``detectors``
(the name -> detector map), ``torch_backends`` (cpu cuda rocm mps xpu),
``runtimes`` (openvino qnn), ``browser`` (wasm webnn webgpu in headless Chromium), ``system`` (OS probes),
``execution`` (the ``Runtime`` interface that runs models on a backend, the torch
device runtime and the per-module ``PreparationCache``), ``openvino_runtime``
(OpenVINO: convert, compile, infer), ``browser_assets`` (onnxruntime-web's files:
cache, install), ``browser_page`` (one Chromium per process, a page per backend,
the local server), ``browser_runtime`` (ONNX export, onnxruntime-web sessions).
"""

from typing import Any

from hardware_markers.base import BACKENDS, Detector, Registry
from hardware_markers.detectors import default_registry

#: the names imported when first used: loading the plugin needs the registry only, and
#: ``hardware`` (two dataclasses) with ``execution`` cost ~10 M instructions (callgrind) of
#: every one-test session (docs/store.md, "What a session costs")
_LAZY = {
    "Device": "hardware", "Hardware": "hardware",
    **dict.fromkeys(("ConversionError", "Outputs", "PreparationCache", "Prepared", "Runtime",
                     "RuntimeUnavailable", "TorchRuntime"), "execution"),
}

__all__ = [
    "BACKENDS", "ConversionError", "Detector", "Device", "Hardware", "Outputs", "PreparationCache",
    "Prepared", "Registry", "Runtime", "RuntimeUnavailable", "TorchRuntime", "default_registry",
]


def __getattr__(attr: str) -> Any:
    if attr in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"hardware_markers.{_LAZY[attr]}"), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
