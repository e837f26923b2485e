"""Peak memory of a benchmark's timed rounds.

- CUDA/ROCm and XPU: the torch allocator's peak (``max_memory_allocated``) after
  ``reset_peak_memory_stats`` at the start of the timed rounds.  This is the
  absolute peak of tensor memory allocated on the device during the rounds
  (model weights included), which is what decides whether a batch fits.
- MPS: torch has no peak counter there; the larger of the allocated memory
  sampled before and after the rounds (a lower bound, labelled as such).
- CPU (and host-run backends): the growth of the process's peak resident set
  during the rounds.  On Linux the kernel's high-water mark ``VmHWM`` is reset
  through ``/proc/self/clear_refs`` (writing ``5``) at the start and read from
  ``/proc/self/status`` at the end, which is exact and costs nothing while the
  rounds run (no sampling thread competing with the benchmark).  Where that file
  cannot be written (other OSes, some sandboxes) it falls back to the change of
  ``getrusage().ru_maxrss``, the process-lifetime peak: that only shows growth
  beyond every earlier peak, so it can read 0 for a benchmark that allocates
  less than something before it did.

``method`` names which of these produced the figure; it is stored with the result.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Protocol


class PeakMemory(Protocol):
    method: str

    def start(self) -> None: ...

    def peak_bytes(self) -> int | None: ...


class TorchAllocatorPeak:
    """``reset_peak_memory_stats`` / ``max_memory_allocated`` of ``torch.cuda`` or ``torch.xpu``."""

    def __init__(self, module_name: str, device: str) -> None:
        import torch

        self._module = getattr(torch, module_name)
        self._device = torch.device(device)
        self.method = f"torch.{module_name}.max_memory_allocated"

    def start(self) -> None:
        self._module.synchronize(self._device)
        self._module.reset_peak_memory_stats(self._device)

    def peak_bytes(self) -> int | None:
        self._module.synchronize(self._device)
        return int(self._module.max_memory_allocated(self._device))


class MpsSampledPeak:
    """Allocated MPS memory sampled at the start and end (torch keeps no MPS peak)."""

    method = "torch.mps.current_allocated_memory (sampled start/end, lower bound)"

    def __init__(self) -> None:
        import torch

        self._mps = torch.mps
        self._before = 0

    def start(self) -> None:
        self._mps.synchronize()
        self._before = int(self._mps.current_allocated_memory())

    def peak_bytes(self) -> int | None:
        self._mps.synchronize()
        return max(self._before, int(self._mps.current_allocated_memory()))


_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(key: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _ru_maxrss_bytes() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak if sys.platform == "darwin" else peak * 1024


class RssPeakGrowth:
    """Growth of the process's peak RSS during the timed rounds (see the module docstring)."""

    def __init__(self) -> None:
        self._baseline = 0
        self._use_hwm = False
        self.method = "rss_peak_growth:ru_maxrss_delta"

    def start(self) -> None:
        self._use_hwm = False
        try:
            _CLEAR_REFS.write_text("5")  # resets VmHWM to the current RSS
            rss = _status_kib("VmRSS")
            if rss is not None and _status_kib("VmHWM") is not None:
                self._baseline = rss * 1024
                self._use_hwm = True
                self.method = "rss_peak_growth:VmHWM_reset"
                return
        except OSError:
            pass
        self.method = "rss_peak_growth:ru_maxrss_delta"
        self._baseline = _ru_maxrss_bytes()

    def peak_bytes(self) -> int | None:
        if self._use_hwm:
            hwm = _status_kib("VmHWM")
            if hwm is None:
                return None
            return max(0, hwm * 1024 - self._baseline)
        return max(0, _ru_maxrss_bytes() - self._baseline)


def tracker_for(torch_device: str | None) -> PeakMemory:
    """The peak-memory tracker for a torch device string (``None``: host RSS)."""
    if torch_device and torch_device.startswith("cuda"):
        return TorchAllocatorPeak("cuda", torch_device)
    if torch_device and torch_device.startswith("xpu"):
        return TorchAllocatorPeak("xpu", torch_device)
    if torch_device and torch_device.startswith("mps"):
        return MpsSampledPeak()
    return RssPeakGrowth()
