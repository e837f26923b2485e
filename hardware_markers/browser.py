"""Detectors for the web backends, WebNN and WebGPU.

Both are browser APIs.  A Python process has no browser attached, so they are
reported as not usable and say so, unless a real runtime is present: for
WebGPU, the ``wgpu`` package (wgpu-native) with a hardware adapter.  A plugin
that drives a real browser can register its own detector through the
``pytest_ipfs_accel_register_backends`` hook.
"""

from __future__ import annotations

from typing import Any

from hardware_markers.base import Device, Hardware

_ATTACH_HINT = "a plugin can attach one through the pytest_ipfs_accel_register_backends hook"

#: wgpu's adapter type for a software rasterizer (llvmpipe, SwiftShader, WARP).
SOFTWARE_ADAPTER = "CPU"


def detect_webnn() -> Hardware:
    """WebNN exists only inside browsers; there is no runtime a Python process can load."""
    return Hardware(
        "webnn", False,
        f"WebNN runs inside a browser; no browser runtime is attached to this Python process "
        f"({_ATTACH_HINT})",
    )


def _adapters(wgpu: Any) -> list[Any]:
    """Every adapter wgpu offers, across the wgpu-py API generations."""
    gpu = wgpu.gpu
    if hasattr(gpu, "enumerate_adapters_sync"):  # wgpu >= 0.16
        return list(gpu.enumerate_adapters_sync())
    if hasattr(gpu, "enumerate_adapters"):
        return list(gpu.enumerate_adapters())
    request = getattr(gpu, "request_adapter_sync", None) or gpu.request_adapter
    adapter = request(power_preference="high-performance")
    return [adapter] if adapter is not None else []


def _adapter_info(adapter: Any) -> dict[str, Any]:
    info = getattr(adapter, "info", None)
    if info is None and hasattr(adapter, "request_adapter_info"):  # wgpu < 0.17
        info = adapter.request_adapter_info()
    return dict(info or {})


def _adapter_device(adapter: Any, index: int) -> Device:
    info = _adapter_info(adapter)
    limits = dict(getattr(adapter, "limits", {}) or {})
    features = getattr(adapter, "features", None) or ()
    extra: dict[str, Any] = {
        key: info[key]
        for key in ("vendor", "vendor_id", "device_id", "adapter_type", "backend_type")
        if info.get(key) not in (None, "")
    }
    for key in ("max-buffer-size", "max-storage-buffer-binding-size"):
        if key in limits:
            extra[key.replace("-", "_")] = limits[key]
    extra["features"] = sorted(str(f) for f in features)
    return Device(
        name=info.get("device") or info.get("description") or "WebGPU adapter",
        index=index,
        memory_bytes=None,  # WebGPU does not expose device memory
        driver=info.get("description") or None,
        capability=info.get("architecture") or None,
        extra=extra,
    )


def detect_webgpu() -> Hardware:
    """WebGPU through wgpu-native (``pip install wgpu``), usable with a hardware adapter."""
    try:
        import wgpu
    except ImportError:
        return Hardware(
            "webgpu", False,
            f"WebGPU runs inside a browser; no browser runtime is attached to this Python process "
            f"({_ATTACH_HINT}; for a native WebGPU runtime: pip install wgpu)",
        )
    runtime = f"wgpu {getattr(wgpu, '__version__', '?')}"
    try:
        adapters = _adapters(wgpu)
    except Exception as exc:  # wgpu-native failing to start is an answer with a reason
        return Hardware("webgpu", False, f"{runtime} could not list adapters: {exc}", runtime=runtime)
    devices = [_adapter_device(a, i) for i, a in enumerate(adapters)]
    # hardware adapters first: they are what a WebGPU test should run on
    devices.sort(key=lambda d: d.extra.get("adapter_type") == SOFTWARE_ADAPTER)
    devices = [
        Device(d.name, i, d.memory_bytes, d.driver, d.capability, d.extra)
        for i, d in enumerate(devices)
    ]
    if not devices:
        return Hardware(
            "webgpu", False,
            f"{runtime} found no adapter: install a GPU driver with Vulkan, Metal or D3D12",
            runtime=runtime,
        )
    hardware = [d for d in devices if d.extra.get("adapter_type") != SOFTWARE_ADAPTER]
    if not hardware:
        names = ", ".join(f"{d.name} via {d.extra.get('backend_type', '?')}" for d in devices)
        return Hardware(
            "webgpu", False,
            f"{runtime} found only software adapters ({names}): they measure a CPU rasterizer, "
            "not a GPU; install a GPU driver with Vulkan, Metal or D3D12",
            tuple(devices), None, runtime,
        )
    names = ", ".join(f"{d.name} via {d.extra.get('backend_type', '?')}" for d in hardware)
    return Hardware("webgpu", True, f"{runtime} adapters: {names}", tuple(devices), None, runtime)
