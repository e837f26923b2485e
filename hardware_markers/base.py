"""Backend names and the registry that caches what each detector answers (:class:`Hardware`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hardware_markers.hardware import Device, Hardware

__all__ = ["BACKENDS", "BROWSER_BACKENDS", "Detector", "Device", "Hardware", "Registry"]

#: The backends the product knows, in display order.
BACKENDS: tuple[str, ...] = (
    "cpu", "cuda", "rocm", "mps", "xpu", "openvino", "qnn", "wasm", "webnn", "webgpu")
#: backends that run in a browser: ``--ipfs-hw=auto`` leaves them out (detecting them launches
#: Chromium); name them, or use ``all``
BROWSER_BACKENDS: tuple[str, ...] = ("wasm", "webnn", "webgpu")


def __getattr__(attr: str) -> Any:
    """``Device`` and ``Hardware`` from :mod:`.hardware`, imported on first use: loading the
    plugin needs the registry and the names only (callgrind: ~10 M instructions less per
    one-test session; docs/store.md, "What a session costs")."""
    if attr in ("Device", "Hardware"):
        from hardware_markers import hardware

        return getattr(hardware, attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


Detector = Callable[[], "Hardware"]


class Registry:
    """Backend name -> detector, with each answer computed once (lazily) and cached."""

    def __init__(self, detectors: dict[str, Detector] | None = None) -> None:
        self._detectors: dict[str, Detector] = dict(detectors or {})
        self._cache: dict[str, Hardware] = {}
        self._lock = threading.Lock()

    def register(self, name: str, detector: Detector) -> None:
        """Add a backend or replace the detector of an existing one."""
        with self._lock:
            self._detectors[name] = detector
            self._cache.pop(name, None)

    def names(self) -> tuple[str, ...]:
        known = [n for n in BACKENDS if n in self._detectors]
        return tuple(known + sorted(n for n in self._detectors if n not in BACKENDS))

    def detect(self, name: str) -> Hardware:
        """The (cached) detection result of backend ``name``."""
        with self._lock:
            if name not in self._cache:
                if name not in self._detectors:
                    raise KeyError(f"unknown backend {name!r}; known: {', '.join(self.names())}")
                try:
                    self._cache[name] = self._detectors[name]()
                except Exception as exc:  # a broken runtime must not break the session
                    from hardware_markers.hardware import Hardware

                    self._cache[name] = Hardware(
                        name, False, f"detection failed: {type(exc).__name__}: {exc}"
                    )
            return self._cache[name]

    def detect_all(self) -> list[Hardware]:
        return [self.detect(n) for n in self.names()]

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
