"""Backend detection: what each backend really offers on this machine.

Nothing here imports torch at import time; detectors import their runtime
when first asked, and answers are cached per registry.

Modules: ``base`` (names, ``Hardware``/``Device``, ``Registry``), ``detectors``
(the name -> detector map), ``torch_backends`` (cpu cuda rocm mps xpu),
``runtimes`` (openvino qnn), ``browser`` (wasm webnn webgpu in headless Chromium), ``system`` (OS probes),
``execution`` (the ``Runtime`` interface that runs models on a backend, the torch
device runtime and the per-module ``PreparationCache``), ``openvino_runtime``
(OpenVINO: convert, compile, infer), ``browser_assets`` (onnxruntime-web's files:
cache, install), ``browser_page`` (one Chromium per process, a page per backend,
the local server), ``browser_runtime`` (ONNX export, onnxruntime-web sessions).
"""

from hardware_markers.base import BACKENDS, Detector, Device, Hardware, Registry
from hardware_markers.detectors import default_registry
from hardware_markers.execution import (
    ConversionError,
    Outputs,
    PreparationCache,
    Prepared,
    Runtime,
    RuntimeUnavailable,
    TorchRuntime,
)

__all__ = [
    "BACKENDS", "ConversionError", "Detector", "Device", "Hardware", "Outputs", "PreparationCache",
    "Prepared", "Registry", "Runtime", "RuntimeUnavailable", "TorchRuntime", "default_registry",
]
