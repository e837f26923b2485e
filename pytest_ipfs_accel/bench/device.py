"""Which device a benchmark ran on: (backend, torch device, device name) of a test's hardware."""

from __future__ import annotations

from typing import Any

from hardware_markers.system import cpu_model


def device_of(hw: Any) -> tuple[str, str | None, str | None]:
    """(backend, torch device, device name) of a ``Hardware`` (None: the host CPU)."""
    if hw is None:
        return "cpu", None, cpu_model()
    torch_device = getattr(hw, "torch_device", None)
    devices = getattr(hw, "devices", ()) or ()
    index = 0
    if torch_device and ":" in torch_device:
        try:
            index = int(torch_device.rsplit(":", 1)[1])
        except ValueError:
            index = 0
    name = None
    if devices:
        device = devices[index] if index < len(devices) else devices[0]
        name = getattr(device, "name", None)
    return str(getattr(hw, "name", hw)), torch_device, name or torch_device
