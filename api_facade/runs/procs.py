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
    """Interrupt the run, give it ``grace_s`` to finish, then SIGKILL whatever is left of the group.

    SIGINT goes to the group's leader (pytest) alone, as Ctrl-C would: pytest ends
    as an interrupted session, so its final flush runs and the running test is
    recorded as interrupted (under xdist the controller stops its workers itself).
    """
    if signal_group_leader(pgid, signal.SIGINT) and process is not None:
        try:
            await asyncio.wait_for(process.wait(), grace_s)
        except asyncio.TimeoutError:
            pass
    await reap_group(pgid)
    if process is not None:
        await process.wait()


def signal_group_leader(pgid: int, sig: int) -> bool:
    """Send ``sig`` to the leader of group ``pgid`` (its pid); ``False`` when it is gone."""
    try:
        os.kill(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


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


def end_orphan_group(pgid: int, marker: str, grace_s: float) -> bool:
    """After a restart: end group ``pgid`` if its leader still runs our run ``marker``.

    The command line must mention ``marker`` (the run id), so a reused process id
    of some unrelated program is never touched.  Like a cancel: SIGINT to the
    leader, ``grace_s`` for pytest to record its end, then SIGKILL for the group;
    returns once no process of the group is left (or after a few seconds more).
    """
    try:
        leader = psutil.Process(pgid)
        if not any(marker in part for part in leader.cmdline()):
            return False
        leader.send_signal(signal.SIGINT)
        leader.wait(grace_s)
    except psutil.TimeoutExpired:
        pass
    except psutil.Error:
        return False
    signal_group(pgid, signal.SIGKILL)
    wait_group_gone(pgid)
    return True
