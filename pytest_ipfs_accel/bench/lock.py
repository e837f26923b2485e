"""An inter-process lock per device, held around a benchmark's measured region.

Two benchmarks on one device at the same time disturb each other's figures
(shared SMs and memory bandwidth on a GPU, shared cores and caches on a CPU),
so whatever runs them (xdist workers, two pytest sessions on one machine) takes
this lock first.  It is an advisory ``fcntl.flock`` on a file named after the
backend and device under a per-user folder of the system temp dir: the kernel
releases it when the holder exits or crashes, so it never goes stale.  Only
the priming, calibration, warm-up and timed rounds run under it; the rest of a
test, and every test that does not benchmark, runs in parallel as usual.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; benchmarks there are not serialized across processes
    fcntl = None  # type: ignore[assignment]


#: environment variable naming another folder for the lock files (e.g. one per CI job)
LOCK_DIR_ENV = "IPFS_ACCEL_LOCK_DIR"


def default_lock_dir() -> Path:
    """``$IPFS_ACCEL_LOCK_DIR``, else ``<tmp>/pytest-ipfs-accel-locks-<uid>``: shared by all
    sessions of one user, so two pytest sessions on one machine do not overlap either."""
    override = os.environ.get(LOCK_DIR_ENV)
    if override:
        return Path(override)
    uid = os.getuid() if hasattr(os, "getuid") else os.getlogin()
    return Path(tempfile.gettempdir()) / f"pytest-ipfs-accel-locks-{uid}"


def lock_key(backend: str, torch_device: str | None) -> str:
    """A file-name-safe key for a device, e.g. ``cuda-cuda_0`` or ``cpu``."""
    device = (torch_device or "").replace(":", "_")
    key = backend if not device or device == backend else f"{backend}-{device}"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", key)


@contextmanager
def device_lock(key: str, lock_dir: Path | None = None) -> Iterator[float]:
    """Hold the lock for ``key``; yields the seconds spent waiting for it."""
    if fcntl is None:
        yield 0.0
        return
    folder = lock_dir or default_lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.lock"
    started = time.perf_counter()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield time.perf_counter() - started
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
