"""One detector per backend, and the registry that knows them all.

The detectors live in modules by kind (torch devices, other runtimes,
browser APIs); this module is the one map from backend name to detector.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hardware_markers.base import BACKENDS, Detector, Registry

if TYPE_CHECKING:
    from hardware_markers.hardware import Hardware

#: backend name -> the module that detects it.  The detector modules are imported when a
#: backend is first detected, not when the plugin loads: a session that never detects (no
#: test takes ipfs_hw) does not pay for them (callgrind: about 4 M instructions of the
#: one-test session for these four modules; docs/store.md, "What a session costs").
_MODULES = {
    "cpu": "torch_backends", "cuda": "torch_backends", "rocm": "torch_backends", "mps": "torch_backends",
    "xpu": "torch_backends", "openvino": "runtimes", "qnn": "runtimes",
    "wasm": "browser", "webnn": "browser", "webgpu": "browser",
}


class _LazyDetector:
    """``detect_<name>`` of its module, imported at the first call."""

    __slots__ = ("name", "module")

    def __init__(self, name: str, module: str) -> None:
        self.name, self.module = name, module

    def __call__(self) -> Hardware:
        return _detector(self.name)()

    def __repr__(self) -> str:
        return f"<detector hardware_markers.{self.module}.detect_{self.name}>"


def _detector(name: str) -> Detector:
    module = importlib.import_module(f"hardware_markers.{_MODULES[name]}")
    return getattr(module, f"detect_{name}")


def __getattr__(attr: str) -> Any:
    """``detect_<name>`` for every backend, imported from its module on first use."""
    if attr.startswith("detect_") and attr.removeprefix("detect_") in _MODULES:
        return _detector(attr.removeprefix("detect_"))
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


#: backend name -> detector, for every name in ``BACKENDS``.
DETECTORS: dict[str, Detector] = {name: _LazyDetector(name, module) for name, module in _MODULES.items()}

__all__ = ["DETECTORS", *(f"detect_{name}" for name in BACKENDS), "default_registry"]


def default_registry() -> Registry:
    """A fresh registry with the built-in detectors; nothing is detected until asked."""
    return Registry(DETECTORS)
