"""Process-group handling for run subprocesses: start, end, reap, and find orphans.

Each run's pytest starts a session of its own (``start_new_session=True``), so
its process group holds pytest and everything it spawned (xdist workers,
user subprocesses).  Ending a run always ends the whole group.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import psutil


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to the group; ``False`` when the group no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # the id was reused by a process we do not own: not ours to signal
    return True


def group_members(pgid: int) -> list[psutil.Process]:
    """Live (non-zombie) processes of group ``pgid``."""
    members = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (ProcessLookupError, psutil.Error, PermissionError):
            continue
    return members


async def end_group(pgid: int, process: asyncio.subprocess.Process | None, grace_s: float) -> None:
    """SIGTERM the group, give it ``grace_s`` to exit, then SIGKILL whatever is left."""
    if signal_group(pgid, signal.SIGTERM) and process is not None:
        try:
            await asyncio.wait_for(process.wait(), grace_s)
        except asyncio.TimeoutError:
            pass
    await reap_group(pgid)
    if process is not None:
        await process.wait()


async def reap_group(pgid: int, wait_s: float = 3.0) -> None:
    """SIGKILL every process left in the group and wait (briefly) until none is alive."""
    if not signal_group(pgid, signal.SIGKILL):
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while loop.time() < deadline:
        if not await asyncio.to_thread(group_members, pgid):
            return
        await asyncio.sleep(0.05)


def wait_group_gone(pgid: int, timeout: float = 5.0) -> bool:
    """Block until no live process is left in group ``pgid`` (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not group_members(pgid):
            return True
        time.sleep(0.05)
    return False


def kill_orphan_group(pgid: int, marker: str) -> bool:
    """After a restart: SIGKILL group ``pgid`` if its leader still runs our run ``marker``.

    The command line must mention ``marker`` (the run id), so a reused process
    id of some unrelated program is never touched.
    """
    try:
        leader = psutil.Process(pgid)
        if not any(marker in part for part in leader.cmdline()):
            return False
    except psutil.Error:
        return False
    return signal_group(pgid, signal.SIGKILL)
