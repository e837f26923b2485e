"""The answer of a backend detector: :class:`Hardware` and its :class:`Device` list.

Apart from :mod:`.base` (names, the registry) so that loading the plugin, which
needs the registry's names but detects nothing until a test asks, does not
create these dataclasses (callgrind: creating them and importing
:mod:`.execution` was ~10 M instructions of every one-test session;
docs/store.md, "What a session costs").  :mod:`.base` re-exports both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from hardware_markers.execution import (
    PreparationCache,
    Prepared,
    Runtime,
    RuntimeUnavailable,
    TorchRuntime,
)


@dataclass(frozen=True)
class Device:
    """One device of a backend: its fingerprint."""

    name: str
    index: int = 0
    memory_bytes: int | None = None
    driver: str | None = None  # driver or runtime version
    capability: str | None = None  # e.g. CUDA compute capability "9.0", ROCm gfx arch
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hardware:
    """A backend as detected on this machine.

    ``usable`` says whether tests can run on it; ``reason`` says why, in words a
    user can act on (for an unusable backend: what is missing and how to get it).
    ``torch_device`` is the torch device string tests put tensors on (``None`` for
    backends that are not torch devices, such as openvino).  ``engine`` is the
    :class:`~hardware_markers.execution.Runtime` that runs models on it (a torch
    device gets a :class:`~hardware_markers.execution.TorchRuntime` by default);
    tests reach it through :meth:`prepare`, which ``preparations`` (set by the
    plugin per test module) caches.
    """

    name: str
    usable: bool
    reason: str
    devices: tuple[Device, ...] = ()
    torch_device: str | None = None
    runtime: str | None = None  # e.g. "torch 2.13.0+cu130", "openvino 2025.1"
    engine: Runtime | None = field(default=None, compare=False, repr=False)
    preparations: PreparationCache | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.engine is None and self.usable and self.torch_device:
            object.__setattr__(self, "engine", TorchRuntime(self.torch_device))

    def prepare(self, model: Any, example_inputs: Mapping[str, Any], precision: Any = None) -> Prepared:
        """``model`` made ready on this backend for inputs like ``example_inputs`` (cached when
        ``preparations`` is set); raises ``RuntimeUnavailable`` saying why it cannot run."""
        why = None
        if not self.usable:
            why = f"{self.name} not usable: {self.reason}"
        elif self.engine is None:
            why = (f"{self.name} is usable but runs no models: its detector gives it neither a torch "
                   "device nor an engine (a hardware_markers.Runtime)")
        if why is not None:
            if self.preparations is not None:
                self.preparations.unavailable(why)
            raise RuntimeUnavailable(why)
        if self.preparations is None:
            return self.engine.prepare(model, example_inputs, precision)
        return self.preparations.prepare(self.engine, model, example_inputs, precision)

    def precision_support(self, precision: Any) -> str | None:
        """``None`` when this backend can infer in ``precision``, else why not."""
        if self.engine is None:
            return f"{self.name} runs no models"
        return self.engine.precision_support(precision)

    def synchronize(self) -> None:
        """Wait for the work queued on this backend's device."""
        if self.engine is not None:
            self.engine.synchronize()

    def bind(self, preparations: PreparationCache | None) -> Hardware:
        """This backend with ``preparations`` as its cache of prepared models."""
        return replace(self, preparations=preparations)

    def fingerprint(self) -> dict[str, Any]:
        """A JSON-able description of this backend and its devices."""
        return {
            "backend": self.name,
            "usable": self.usable,
            "reason": self.reason,
            "runtime": self.runtime,
            "torch_device": self.torch_device,
            "engine": self.engine.fingerprint() if self.engine is not None else None,
            "count": len(self.devices),
            "devices": [asdict(d) for d in self.devices],
        }

    def __str__(self) -> str:
        return self.name
