"""Detectors for the browser backends: wasm, WebGPU and WebNN, in headless Chromium.

Each asks the process's browser (``browser_page.session()``, launched on first
use) what it really offers: the browser's version, the WebGPU adapter (vendor,
architecture, fallback or not: a fallback adapter is a software renderer whose
timings are CPU timings), a WebNN context, or the browser's own error.  Without
Chromium or the onnxruntime-web assets they say what to install.
``detect_wgpu_native`` looks at WebGPU adapters through wgpu-native instead
(adapters only; it runs no models).
"""

from __future__ import annotations

from typing import Any

from hardware_markers.base import Device, Hardware

#: wgpu's adapter type for a software rasterizer (llvmpipe, SwiftShader, WARP).
SOFTWARE_ADAPTER = "CPU"


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


def detect_wgpu_native() -> Hardware:
    """WebGPU through wgpu-native (``pip install wgpu``) in this Python process: adapters only (it runs
    no models); what ``ipfs-accel hardware`` can say when there is no browser."""
    try:
        import wgpu
    except ImportError:
        return Hardware(
            "webgpu", False,
            "WebGPU runs inside a browser (see the webgpu backend); for native WebGPU adapters "
            "in this process: pip install wgpu",
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


# --------------------------------------------------------------------------- in the browser


def _browser() -> tuple[Any, dict[str, Any]] | str:
    """The process's browser session and its probe, or why there is none."""
    from hardware_markers.browser_page import BrowserUnavailable, session

    try:
        browser = session()
    except BrowserUnavailable as exc:
        return str(exc)
    return browser, _probe(browser)


_PROBES: dict[int, dict[str, Any]] = {}


def _probe(browser: Any) -> dict[str, Any]:
    if id(browser) not in _PROBES:
        _PROBES[id(browser)] = browser.probe()
    return _PROBES[id(browser)]


def _ort(browser: Any) -> str:
    from hardware_markers.browser_assets import ORT_WEB_VERSION

    return f"onnxruntime-web {ORT_WEB_VERSION} in Chromium {browser.version}"


def detect_wasm() -> Hardware:
    """onnxruntime-web's CPU path (WebAssembly, SIMD, threads when cross-origin isolated)."""
    from hardware_markers.browser_assets import ORT_WEB_VERSION
    from hardware_markers.browser_runtime import BrowserRuntime

    found = _browser()
    if isinstance(found, str):
        return Hardware("wasm", False, found)
    browser, probe = found
    threads = probe.get("hardwareConcurrency")
    isolated = probe.get("crossOriginIsolated")
    device = Device("WebAssembly SIMD", 0, driver=browser.version, capability="wasm",
                    extra={"crossOriginIsolated": isolated, "hardwareConcurrency": threads})
    reason = f"{_ort(browser)}: wasm on the CPU ({threads} logical cores, cross-origin isolated: {isolated})"
    engine = BrowserRuntime("wasm", browser, ORT_WEB_VERSION)
    return Hardware("wasm", True, reason, (device,), None, _ort(browser), engine)


def detect_webgpu() -> Hardware:
    """WebGPU in headless Chromium: usable when the browser gives an adapter (a software one is said so)."""
    from hardware_markers.browser_assets import ORT_WEB_VERSION
    from hardware_markers.browser_runtime import BrowserRuntime

    found = _browser()
    if isinstance(found, str):
        return Hardware("webgpu", False, found)
    browser, probe = found
    gpu = probe.get("webgpu") or {}
    if "error" in gpu:
        return Hardware("webgpu", False, f"Chromium {browser.version}: {gpu['error']}", runtime=_ort(browser))
    software = bool(gpu.get("isFallbackAdapter")) or gpu.get("architecture") == "swiftshader"
    extra = {k: gpu.get(k) for k in ("vendor", "architecture", "description", "isFallbackAdapter",
                                       "features", "maxBufferSize")}
    extra["software_renderer"] = software
    name = gpu.get("device") or gpu.get("description") or f"{gpu.get('vendor') or '?'} {gpu.get('architecture') or ''}".strip()
    device = Device(name, 0, driver=browser.version, capability=gpu.get("architecture") or None, extra=extra)
    reason = (f"{_ort(browser)}: WebGPU adapter {gpu.get('vendor') or '?'}/{gpu.get('architecture') or '?'}"
              f" (fallback adapter: {gpu.get('isFallbackAdapter')})")
    if software:
        reason += "; a software renderer: its timings are CPU timings, not a GPU's"
    engine = BrowserRuntime("webgpu", browser, ORT_WEB_VERSION)
    return Hardware("webgpu", True, reason, (device,), None, _ort(browser), engine)


def detect_webnn() -> Hardware:
    """WebNN in headless Chromium: usable when ``navigator.ml.createContext`` succeeds; else the browser's error."""
    from hardware_markers.browser_assets import ORT_WEB_VERSION
    from hardware_markers.browser_runtime import BrowserRuntime

    found = _browser()
    if isinstance(found, str):
        return Hardware("webnn", False, found)
    browser, probe = found
    webnn = probe.get("webnn") or {}
    if "error" in webnn:
        return Hardware("webnn", False, webnn["error"], runtime=_ort(browser))
    device_type = webnn["deviceType"]
    device = Device(f"WebNN {device_type}", 0, driver=browser.version, capability=device_type)
    engine = BrowserRuntime("webnn", browser, ORT_WEB_VERSION, {"name": "webnn", "deviceType": device_type})
    return Hardware("webnn", True, f"{_ort(browser)}: WebNN context on {device_type}", (device,), None,
                    _ort(browser), engine)
