"""Detectors for inference runtimes that are not torch devices: OpenVINO and Qualcomm QNN.

Each runtime is imported or loaded only when its detector runs.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
from pathlib import Path
from typing import Any

from hardware_markers.base import Device, Hardware

# ---------------------------------------------------------------------- openvino


def _ov_property(core: Any, device: str, name: str) -> Any:
    """One device property, or ``None`` where that device does not support it."""
    try:
        return core.get_property(device, name)
    except Exception:  # OpenVINO raises RuntimeError for properties a plugin lacks
        return None


#: environment variable naming the OpenVINO device the openvino backend runs on (default CPU)
OPENVINO_DEVICE_ENV = "IPFS_ACCEL_OPENVINO_DEVICE"

#: OpenVINO optimization capability -> the inference precision it stands for
_PRECISION_CAPS = {"FP32": "float32", "BF16": "bfloat16", "FP16": "float16"}


def _selected(device: str, names: list[str]) -> str | None:
    """The available device ``device`` names: itself, or ``GPU`` for ``GPU.0``."""
    for name in names:
        if name == device or name.split(".", 1)[0] == device:
            return name
    return None


def detect_openvino() -> Hardware:
    """The devices OpenVINO's runtime offers (``Core().available_devices``: CPU, GPU.0, NPU...).

    The backend runs on ``$IPFS_ACCEL_OPENVINO_DEVICE`` (default ``CPU``); every
    device is listed in the fingerprint with its full name and the precisions it
    runs natively.
    """
    try:
        import openvino
    except ImportError:
        return Hardware("openvino", False, "openvino is not installed: pip install openvino")
    from hardware_markers.openvino_runtime import OpenVINORuntime

    version = openvino.get_version() if hasattr(openvino, "get_version") else openvino.__version__
    # "2026.4.1-22982-e213a147257-releases/2026/4": the release for people, the build in `driver`
    release = version.split('-')[0]
    runtime = f"openvino {release}"
    core = openvino.Core()
    names = list(core.available_devices)
    devices = []
    for index, ov_name in enumerate(names):
        memory = _ov_property(core, ov_name, "GPU_DEVICE_TOTAL_MEM_SIZE")
        caps = _ov_property(core, ov_name, "OPTIMIZATION_CAPABILITIES")
        device_type = _ov_property(core, ov_name, "DEVICE_TYPE")
        extra: dict[str, Any] = {"ov_device": ov_name}
        if caps is not None:
            extra["optimization_capabilities"] = [str(c) for c in caps]
            extra["precisions"] = [p for c, p in _PRECISION_CAPS.items() if c in extra["optimization_capabilities"]]
        if device_type is not None:
            extra["device_type"] = str(device_type)
        arch = _ov_property(core, ov_name, "DEVICE_ARCHITECTURE")
        devices.append(Device(
            name=str(_ov_property(core, ov_name, "FULL_DEVICE_NAME") or ov_name),
            index=index,
            memory_bytes=None if memory is None else int(memory),
            driver=version,
            capability=None if arch is None else str(arch),
            extra=extra,
        ))
    if not devices:
        return Hardware(
            "openvino", False,
            f"{runtime} is installed but reports no devices: its device plugins are missing",
            runtime=runtime,
        )
    wanted = os.environ.get(OPENVINO_DEVICE_ENV, "").strip() or "CPU"
    device = _selected(wanted, names)
    if device is None:
        return Hardware(
            "openvino", False,
            f"{OPENVINO_DEVICE_ENV}={wanted} but {runtime} offers only {', '.join(names)}: "
            "set it to one of those",
            tuple(devices), None, runtime,
        )
    full_name = devices[names.index(device)].name
    reason = f"{runtime} runs on {device} ({full_name}); offers {', '.join(names)}"
    engine = OpenVINORuntime(device, release, core)
    return Hardware("openvino", True, reason, tuple(devices), None, runtime, engine)


# --------------------------------------------------------------------------- qnn

#: QNN backend libraries, in the order devices are listed (the NPU first: it is why QNN exists).
QNN_BACKENDS: tuple[tuple[str, str], ...] = (
    ("QnnHtp", "Hexagon tensor processor (HTP)"),
    ("QnnDsp", "Hexagon DSP"),
    ("QnnGpu", "Adreno GPU"),
    ("QnnCpu", "CPU reference backend"),
)


def _qnn_host_patterns() -> list[str]:
    """Globs of the SDK's ``lib/<target>`` folders built for this host (the SDK ships one per target)."""
    machine = platform.machine().lower()
    arm = machine in ("aarch64", "arm64")
    if platform.system() == "Windows":
        return ["aarch64-windows-*", "arm64x-windows-*"] if arm else ["x86_64-windows-*"]
    if machine in ("x86_64", "amd64"):
        return ["x86_64-linux-*"]
    if arm:
        return ["aarch64-*linux*", "aarch64-ubuntu-*", "aarch64-oe-*"]
    return []


def _qnn_host_lib_dirs(root: Path) -> list[Path]:
    """The library folders of the SDK at ``root`` that this host can load."""
    found: list[Path] = []
    for pattern in _qnn_host_patterns():
        found.extend(p for p in sorted((root / "lib").glob(pattern)) if p.is_dir() and p not in found)
    return found


def _qnn_sdk_version(root: Path) -> str:
    """The SDK version from its ``sdk.yaml``, else the folder's name (SDKs unpack as ``<version>/``)."""
    manifest = root / "sdk.yaml"
    if manifest.is_file():
        match = re.search(r"^\s*version\s*:\s*['\"]?([^'\"\s]+)", manifest.read_text(errors="replace"),
                          re.MULTILINE)
        if match:
            return match.group(1)
    return root.name


def _not_local_hint() -> str:
    if importlib.util.find_spec("qai_hub") is not None:
        return ("; qai_hub is installed, but it runs models on Qualcomm's hosted devices, "
                "not in this process")
    return ""


def detect_qnn() -> Hardware:
    """Qualcomm AI Engine Direct (QNN): usable when its SDK's backend libraries load on this host."""
    env = os.environ.get("QNN_SDK_ROOT")
    if not env:
        return Hardware(
            "qnn", False,
            "Qualcomm AI Engine Direct (QNN) SDK not found: install it and set QNN_SDK_ROOT "
            "(source bin/envsetup.sh from the SDK)" + _not_local_hint(),
        )
    root = Path(env)
    if not root.is_dir():
        return Hardware("qnn", False, f"QNN_SDK_ROOT={env} is not a directory: point it at the QNN SDK")
    version = _qnn_sdk_version(root)
    runtime = f"QNN SDK {version}"
    lib_dirs = _qnn_host_lib_dirs(root)
    if not lib_dirs:
        return Hardware(
            "qnn", False,
            f"{runtime} at {root} has no libraries for this host "
            f"({platform.system()} {platform.machine()}) under {root / 'lib'}",
            runtime=runtime,
        )
    import ctypes  # here, not at import: loading the plugin should not pay for it

    suffix = ".dll" if platform.system() == "Windows" else ".so"
    prefix = "" if platform.system() == "Windows" else "lib"
    devices: list[Device] = []
    failures: list[str] = []
    for lib_name, description in QNN_BACKENDS:
        for lib_dir in lib_dirs:
            path = lib_dir / f"{prefix}{lib_name}{suffix}"
            if not path.is_file():
                continue
            try:
                ctypes.CDLL(str(path))  # a library that does not load is not a runtime
            except OSError as exc:
                failures.append(f"{path.name}: {exc}")
                continue
            devices.append(Device(
                name=description,
                index=len(devices),
                driver=version,
                capability=lib_name.removeprefix("Qnn").upper(),
                extra={"library": str(path), "target": lib_dir.name},
            ))
            break
    if not devices:
        detail = "; ".join(failures) if failures else f"no Qnn*{suffix} backend libraries found"
        return Hardware(
            "qnn", False,
            f"{runtime} at {root}: no backend library loads for this host ({detail})",
            runtime=runtime,
        )
    reason = f"{runtime} backends load: {', '.join(d.capability or d.name for d in devices)}"
    if platform.machine().lower() in ("x86_64", "amd64") and any(
        d.capability in ("HTP", "DSP") for d in devices
    ):
        # the x86-64 HTP/DSP libraries emulate the Hexagon processor: correct, but not its speed
        reason += " (on an x86-64 host HTP/DSP are Qualcomm's simulators, not the NPU)"
    return Hardware("qnn", True, reason, tuple(devices), None, runtime)
