"""Facts the operating system tells without any ML runtime: CPU model, memory, GPU drivers.

Detectors use these to give richer fingerprints and to say *why* a backend is
missing (no driver at all is a different fix from a torch build without CUDA).
Paths are module constants so tests can point them at files they write.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
NVIDIA_DRIVER_VERSION = Path("/proc/driver/nvidia/version")
AMD_KFD = Path("/dev/kfd")  # the ROCm compute interface; present when amdgpu is loaded for compute
AMDGPU_MODULE_VERSION = Path("/sys/module/amdgpu/version")


def cpu_model() -> str:
    """The processor's marketing name, e.g. ``AMD EPYC 7B13``; falls back to the architecture."""
    try:
        text = CPUINFO.read_text(errors="replace")
    except OSError:
        text = ""
    # x86 says "model name"; some ARM kernels say "Model" or "Hardware" instead.
    for key in ("model name", "Model", "Hardware", "cpu model"):
        match = re.search(rf"^{re.escape(key)}\s*:\s*(.+)$", text, re.MULTILINE)
        if match and match.group(1).strip():
            return match.group(1).strip()
    return mac_chip() or platform.processor() or platform.machine() or "unknown CPU"


def usable_cores() -> int:
    """Cores this process may run on (affinity/cgroup cpuset aware where the OS says)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def physical_cores() -> int | None:
    """Physical cores, or ``None`` when the OS does not say."""
    import psutil

    return psutil.cpu_count(logical=False)


def total_memory_bytes() -> int:
    """Physical memory of the machine."""
    import psutil

    return int(psutil.virtual_memory().total)


def nvidia_driver_version() -> str | None:
    """The loaded NVIDIA kernel driver's version (e.g. ``580.159.04``), or ``None`` if none is loaded."""
    try:
        text = NVIDIA_DRIVER_VERSION.read_text(errors="replace")
    except OSError:
        return None
    match = re.search(r"Kernel Module(?: for [\w-]+)?\s+([0-9][0-9.]+)", text)
    if match:
        return match.group(1)
    # an unfamiliar format still proves a driver is loaded: keep its first line
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    return first_line or "unknown version"


def amd_compute_driver() -> str | None:
    """A description of the loaded AMD compute driver, or ``None`` when ``/dev/kfd`` is absent."""
    if not AMD_KFD.exists():
        return None
    try:
        version = AMDGPU_MODULE_VERSION.read_text().strip()
    except OSError:
        version = ""
    return f"amdgpu {version}" if version else "amdgpu (kfd present)"


def gib(n_bytes: int | None) -> str:
    """``n_bytes`` as a short human figure (``79.2 GiB``); ``?`` when unknown."""
    if n_bytes is None:
        return "?"
    return f"{n_bytes / 2**30:.1f} GiB"


def nvml_driver_version() -> str | None:
    """The NVIDIA driver version through NVML (``nvidia-ml-py``), where that package is installed.

    Sandboxes (gVisor, some containers) hide ``/proc/driver/nvidia`` but still
    answer NVML, so this is the second place to ask.
    """
    try:
        import pynvml
    except ImportError:  # optional source of a richer fingerprint, not a requirement
        return None
    try:
        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # NVML present but no driver behind it: same as not knowing
        return None
    return version.decode() if isinstance(version, bytes) else str(version)


def mac_chip() -> str | None:
    """The Apple chip's name (``Apple M2 Max``) on macOS, else ``None``."""
    if platform.system() != "Darwin":
        return None
    import subprocess

    try:
        out = subprocess.run(
            ["sysctl", "-n", "machdep.cpu.brand_string"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None
