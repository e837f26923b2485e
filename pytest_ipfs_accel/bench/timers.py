"""Timers per device: each times one round of a callable correctly for where its work runs.

``perf_counter`` for work that is done when the call returns (CPU, OpenVINO);
on CUDA (and ROCm, which torch drives through the same API) a pair of CUDA
events around each round, recorded on the current stream, with the device
synchronized before the round starts and after it ends, plus the round's wall
time; XPU and MPS synchronize their device around a ``perf_counter`` round.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Protocol

_perf_counter = time.perf_counter


class Timer(Protocol):
    """Times one round: ``run_round(body)`` returns (timer seconds, wall seconds, body's result)."""

    name: str
    resolution: float  # the smallest interval the timer can tell apart, seconds

    def run_round(self, body: Callable[[], Any]) -> tuple[float, float, Any]: ...


def _measure_perf_counter_resolution(tries: int = 2000) -> float:
    """The smallest non-zero step between two perf_counter reads (its effective resolution).

    ``time.get_clock_info`` reports the clock's nominal 1 ns on Linux, but a read
    costs tens of nanoseconds; that cost is what limits short rounds.
    """
    best = math.inf
    for _ in range(tries):
        t0 = _perf_counter()
        t1 = _perf_counter()
        while t1 == t0:
            t1 = _perf_counter()
        best = min(best, t1 - t0)
    return best


_RESOLUTION: float | None = None


def perf_counter_resolution() -> float:
    """The (cached) effective resolution of ``time.perf_counter``."""
    global _RESOLUTION
    if _RESOLUTION is None:
        _RESOLUTION = _measure_perf_counter_resolution()
    return _RESOLUTION


class PerfCounterTimer:
    """Host wall-clock timer for work that is finished when the call returns (CPU)."""

    name = "perf_counter"

    def __init__(self) -> None:
        self.resolution = perf_counter_resolution()

    def run_round(self, body: Callable[[], Any]) -> tuple[float, float, Any]:
        t0 = _perf_counter()
        result = body()
        t1 = _perf_counter()
        return t1 - t0, t1 - t0, result


class SyncTimer:
    """``perf_counter`` around a round, with the device synchronized on both sides (XPU, MPS)."""

    def __init__(self, name: str, synchronize: Callable[[], None]) -> None:
        self.name = name
        self._synchronize = synchronize
        self.resolution = perf_counter_resolution()

    def run_round(self, body: Callable[[], Any]) -> tuple[float, float, Any]:
        sync = self._synchronize
        sync()  # queued work from before the round must not be billed to it
        t0 = _perf_counter()
        result = body()
        sync()  # the round is over only when the device is done
        t1 = _perf_counter()
        return t1 - t0, t1 - t0, result


class CudaEventTimer:
    """CUDA events on the current stream around a round, plus the round's wall time.

    The events are created before the round (creating them is not free), the
    device is synchronized before the start event so earlier work does not leak
    into the round, and after the end event so the round's wall time covers all
    the work it queued (also on other streams).
    """

    name = "cuda_event"
    resolution = 0.5e-6  # CUDA documents event timing resolution of about half a microsecond

    def __init__(self, device: str = "cuda") -> None:
        import torch

        self._torch = torch
        self._device = torch.device(device)
        if self._device.index is None:
            self._device = torch.device("cuda", torch.cuda.current_device())

    def run_round(self, body: Callable[[], Any]) -> tuple[float, float, Any]:
        torch = self._torch
        with torch.cuda.device(self._device):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            stream = torch.cuda.current_stream()
            torch.cuda.synchronize()
            w0 = _perf_counter()
            start.record(stream)
            result = body()
            end.record(stream)
            torch.cuda.synchronize()
            w1 = _perf_counter()
            device_s = start.elapsed_time(end) / 1000.0  # elapsed_time is in milliseconds
        return device_s, w1 - w0, result


def timer_for(torch_device: str | None) -> Timer:
    """The right timer for a torch device string (``None``/``cpu``/non-torch: perf_counter)."""
    if not torch_device or torch_device.startswith("cpu"):
        return PerfCounterTimer()
    if torch_device.startswith("cuda"):
        return CudaEventTimer(torch_device)
    if torch_device.startswith("xpu"):
        import torch

        return SyncTimer("perf_counter+xpu_sync", torch.xpu.synchronize)
    if torch_device.startswith("mps"):
        import torch

        return SyncTimer("perf_counter+mps_sync", torch.mps.synchronize)
    # Backends whose calls return finished work (openvino, ...) are timed on the host.
    return PerfCounterTimer()
