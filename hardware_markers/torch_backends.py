"""Detectors for the backends torch drives itself: cpu, cuda, rocm, mps, xpu.

torch is imported inside each detector, never at module import, so a pytest
session that selects no model pays nothing for it.

A ROCm build of torch answers to the ``torch.cuda`` API (its GPUs are
``cuda:N`` devices), so the cuda and rocm detectors tell the two apart by
``torch.version.hip``: an AMD GPU is never reported as cuda, nor an NVIDIA one
as rocm.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from types import ModuleType
from typing import Any

from hardware_markers import system
from hardware_markers.base import Device, Hardware

INSTALL_TORCH = "torch is not installed: pip install torch"


def _torch() -> ModuleType | None:
    """The torch module, or ``None`` when it is not installed."""
    try:
        import torch
    except ImportError:  # a missing torch is an answer ("not usable"), not an error
        return None
    return torch


def _runtime(torch: ModuleType) -> str:
    """``torch 2.11.0+cu130 (CUDA 13.0)``-style description of the torch build."""
    if getattr(torch.version, "hip", None):
        return f"torch {torch.__version__} (HIP {torch.version.hip})"
    if getattr(torch.version, "cuda", None):
        return f"torch {torch.__version__} (CUDA {torch.version.cuda})"
    return f"torch {torch.__version__}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _props_extra(props: Any) -> dict[str, Any]:
    """The device properties worth keeping in a fingerprint, where torch reports them."""
    extra: dict[str, Any] = {}
    for attr, key in (
        ("multi_processor_count", "multiprocessors"),
        ("L2_cache_size", "l2_cache_bytes"),
        ("uuid", "uuid"),
        ("pci_bus_id", "pci_bus_id"),
    ):
        value = getattr(props, attr, None)
        if value is not None:
            extra[key] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return extra

_NO_DEVICES = "torch.cuda.is_available() is True but torch.cuda.device_count() is 0"


def _torch_cuda_devices(
    torch: Any, driver: str | None, runtime: dict[str, Any], capability: Callable[[Any], str | None]
) -> list[Device]:
    """The devices behind ``torch.cuda`` (NVIDIA on a CUDA build, AMD on a ROCm build)."""
    devices = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        devices.append(Device(
            name=props.name,
            index=index,
            memory_bytes=int(props.total_memory),
            driver=driver,
            capability=capability(props),
            extra={**_props_extra(props), **runtime},
        ))
    return devices



# --------------------------------------------------------------------------- cpu


def detect_cpu() -> Hardware:
    """The host CPU as torch uses it: model, cores, memory, SIMD level, torch threads."""
    torch = _torch()
    if torch is None:
        return Hardware("cpu", False, INSTALL_TORCH)
    cores = system.usable_cores()
    threads = torch.get_num_threads()
    capability = None
    if hasattr(torch.backends, "cpu") and hasattr(torch.backends.cpu, "get_cpu_capability"):
        capability = torch.backends.cpu.get_cpu_capability()  # e.g. "AVX512", "AVX2", "NEON"
    device = Device(
        name=system.cpu_model(),
        index=0,
        memory_bytes=system.total_memory_bytes(),
        driver=None,
        capability=capability,
        extra={
            "arch": platform.machine(),
            "usable_cores": cores,
            "logical_cores": os.cpu_count(),
            "physical_cores": system.physical_cores(),
            "torch_threads": threads,
            "torch_interop_threads": torch.get_num_interop_threads(),
        },
    )
    # the CPU backend is the same on every torch build: its runtime is torch's version alone
    runtime = f"torch {torch.__version__}"
    reason = f"{runtime} on {_plural(cores, 'usable core')}, {_plural(threads, 'thread')}"
    return Hardware("cpu", True, reason, (device,), "cpu", runtime)


# ------------------------------------------------------------------- cuda / rocm


def _nvidia_driver() -> str | None:
    return system.nvidia_driver_version() or system.nvml_driver_version()


def _hidden_by_env(*names: str) -> str:
    """A hint when a visibility variable hides every GPU (``CUDA_VISIBLE_DEVICES=""`` or ``-1``)."""
    for name in names:
        value = os.environ.get(name)
        if value is not None and value.strip() in ("", "-1"):
            return f"; {name}={value!r} hides every GPU: unset it"
    return ""


def detect_cuda() -> Hardware:
    """NVIDIA GPUs through a CUDA build of torch."""
    torch = _torch()
    if torch is None:
        return Hardware("cuda", False, INSTALL_TORCH)
    runtime = _runtime(torch)
    if getattr(torch.version, "hip", None):
        return Hardware(
            "cuda", False,
            f"torch {torch.__version__} is a ROCm build (HIP {torch.version.hip}): its AMD GPUs "
            "are reported by the rocm backend; for NVIDIA GPUs install a CUDA build of torch",
            runtime=runtime,
        )
    if not getattr(torch.version, "cuda", None):
        return Hardware(
            "cuda", False,
            f"torch {torch.__version__} was built without CUDA: install a CUDA build of torch",
            runtime=runtime,
        )
    driver = _nvidia_driver()
    if not torch.cuda.is_available():
        if driver is None:
            why = "no NVIDIA driver is loaded and torch.cuda.is_available() is False"
        else:
            why = (
                f"NVIDIA driver {driver} is loaded but torch.cuda.is_available() is False: "
                f"no GPU is visible, or the driver is too old for CUDA {torch.version.cuda}"
            )
        return Hardware("cuda", False, why + _hidden_by_env("CUDA_VISIBLE_DEVICES"),
                        runtime=runtime)
    devices = _torch_cuda_devices(
        torch, driver, {"cuda_runtime": torch.version.cuda},
        lambda props: f"{props.major}.{props.minor}",
    )
    if not devices:  # is_available() and device_count() disagree: say so rather than guess
        return Hardware("cuda", False, _NO_DEVICES, runtime=runtime)
    reason = f"{_plural(len(devices), 'NVIDIA GPU')} visible to {runtime}"
    return Hardware("cuda", True, reason, tuple(devices), "cuda:0", runtime)


def detect_rocm() -> Hardware:
    """AMD GPUs through a ROCm (HIP) build of torch, which torch addresses as ``cuda:N``."""
    torch = _torch()
    if torch is None:
        return Hardware("rocm", False, INSTALL_TORCH)
    runtime = _runtime(torch)
    hip = getattr(torch.version, "hip", None)
    if not hip:
        if getattr(torch.version, "cuda", None):
            why = (
                f"torch {torch.__version__} is a CUDA build (CUDA {torch.version.cuda}): its NVIDIA "
                "GPUs are reported by the cuda backend; for AMD GPUs install a ROCm build of torch"
            )
        else:
            why = f"torch {torch.__version__} was built without ROCm: install a ROCm build of torch"
        return Hardware("rocm", False, why, runtime=runtime)
    driver = system.amd_compute_driver()
    if not torch.cuda.is_available():
        if driver is None:
            why = (f"no AMD compute driver ({system.AMD_KFD} is missing) and "
                   "torch.cuda.is_available() is False: install the amdgpu/ROCm driver")
        else:
            why = (f"{driver} is loaded but torch.cuda.is_available() is False: no GPU is "
                   f"visible, or it is not supported by HIP {hip}")
        hint = _hidden_by_env("HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES")
        return Hardware("rocm", False, why + hint, runtime=runtime)
    devices = _torch_cuda_devices(
        torch, driver, {"hip_runtime": hip},
        lambda props: getattr(props, "gcnArchName", None) or None,  # e.g. "gfx90a:sramecc+:xnack-"
    )
    if not devices:  # is_available() and device_count() disagree: say so rather than guess
        return Hardware("rocm", False, _NO_DEVICES, runtime=runtime)
    reason = f"{_plural(len(devices), 'AMD GPU')} visible to {runtime}"
    return Hardware("rocm", True, reason, tuple(devices), "cuda:0", runtime)


# -------------------------------------------------------------------------- mps


def detect_mps() -> Hardware:
    """Apple-silicon GPUs through torch's Metal Performance Shaders backend."""
    torch = _torch()
    if torch is None:
        return Hardware("mps", False, INSTALL_TORCH)
    runtime = _runtime(torch)
    mps = getattr(torch.backends, "mps", None)
    if mps is None or not mps.is_built():
        return Hardware(
            "mps", False,
            f"torch {torch.__version__} was built without MPS: MPS needs macOS on Apple silicon "
            "with a macOS build of torch",
            runtime=runtime,
        )
    if not mps.is_available():
        return Hardware(
            "mps", False,
            f"torch {torch.__version__} has MPS but torch.backends.mps.is_available() is False: "
            "it needs macOS 12.3 or later on an Apple-silicon (or MPS-capable) Mac",
            runtime=runtime,
        )
    memory = None
    if hasattr(torch, "mps") and hasattr(torch.mps, "recommended_max_memory"):
        memory = int(torch.mps.recommended_max_memory())
    mac = platform.mac_ver()[0]
    device = Device(
        name=system.mac_chip() or "Apple GPU",
        index=0,
        memory_bytes=memory,  # what Metal recommends a process keep resident (unified memory)
        driver=f"macOS {mac}" if mac else None,
        capability=None,
    )
    return Hardware("mps", True, f"Apple GPU available to {runtime}", (device,), "mps", runtime)


# -------------------------------------------------------------------------- xpu


def detect_xpu() -> Hardware:
    """Intel GPUs through torch's XPU backend."""
    torch = _torch()
    if torch is None:
        return Hardware("xpu", False, INSTALL_TORCH)
    runtime = _runtime(torch)
    xpu = getattr(torch, "xpu", None)
    if xpu is None:
        return Hardware(
            "xpu", False,
            f"torch {torch.__version__} has no XPU backend: install torch 2.5 or later built for XPU",
            runtime=runtime,
        )
    compiled = getattr(xpu, "_is_compiled", None)
    if compiled is not None and not compiled():
        return Hardware(
            "xpu", False,
            f"torch {torch.__version__} was built without XPU: install an XPU build of torch",
            runtime=runtime,
        )
    if not xpu.is_available():
        return Hardware(
            "xpu", False,
            f"torch {torch.__version__} has XPU but torch.xpu.is_available() is False: no Intel GPU "
            "is visible; install the Intel GPU driver (Level Zero)",
            runtime=runtime,
        )
    devices = []
    for index in range(xpu.device_count()):
        props = xpu.get_device_properties(index)
        extra = _props_extra(props)
        for attr in ("platform_name", "gpu_eu_count", "max_compute_units", "has_fp64"):
            value = getattr(props, attr, None)
            if value is not None:
                extra[attr] = value
        arch = getattr(props, "architecture", None)
        devices.append(Device(
            name=props.name,
            index=index,
            memory_bytes=int(props.total_memory),
            driver=getattr(props, "driver_version", None),
            capability=None if arch is None else str(arch),
            extra=extra,
        ))
    if not devices:  # is_available() and device_count() disagree: say so rather than guess
        return Hardware("xpu", False, "torch.xpu.is_available() is True but torch.xpu.device_count() is 0",
                        runtime=runtime)
    reason = f"{_plural(len(devices), 'Intel GPU')} visible to {runtime}"
    return Hardware("xpu", True, reason, tuple(devices), "xpu:0", runtime)
