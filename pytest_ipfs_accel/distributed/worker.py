"""One shard on its node: ``python -m pytest`` in a subprocess, its own shard file, returned whole.

Runs inside a Ray task, but needs Ray only to name its node.  The child:

- gets SIGINT unblocked and at its default (Ray's task threads block it and a
  child inherits the mask, so pytest would never see a timeout's SIGINT);
- dies with the worker (``PR_SET_PDEATHSIG`` = SIGKILL on Linux), so a killed
  worker leaves no pytest holding a GPU;
- on timeout gets SIGINT alone (never the group: that would kill the recorder's
  merger before it writes), so pytest ends as an interrupted session, its
  final flush runs and the running test is recorded as ``error``; SIGKILL
  follows after a grace period.

The task is a Ray streaming generator: while pytest runs, its event lines
(``--ipfs-events=fd:N``, a pipe read here) go to the driver as they are
written; at the end the shard's spool is merged into its file here, and the
file's bytes go back to the driver (nodes share no file system with it).
"""

from __future__ import annotations

import ctypes
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

from pytest_ipfs_accel.distributed.plan import GPU_BACKENDS, SELECT_PLUGIN
from pytest_ipfs_accel.distributed.select import SHARD_IDS

_PR_SET_PDEATHSIG = 1
TIMEOUT_NOTE = "shard {shard} timed out after {timeout:g} s"


def _child_setup() -> None:  # pragma: no cover - runs in the forked child
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass


def shard_command(spec: dict[str, Any], db: Path) -> list[str]:
    """The pytest command line of a shard."""
    return [sys.executable, "-m", "pytest", "-p", SELECT_PLUGIN, f"--ipfs-hw={spec['hardware']}",
            f"--ipfs-db={db}", f"--ipfs-run-id={spec['run_id']}", *spec["pytest_args"]]


def shard_env(spec: dict[str, Any], ids_file: Path) -> dict[str, str]:
    """The child's environment: its id list, and no GPUs unless its backend needs them."""
    env = {**os.environ, SHARD_IDS: str(ids_file), **spec.get("env", {})}
    if spec["hardware"] not in GPU_BACKENDS:
        for name in ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"):
            env[name] = ""
    return env


def run_shard(spec: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Run one attempt of one shard, as a Ray streaming generator.

    Yields ``("events", [line, ...])`` while pytest runs, when ``spec["events"]``
    asks for them (pytest writes ``--ipfs-events=fd:N`` into a pipe read here,
    each batch forwarded as soon as it is read), then ``("result", {...})``:
    exit, timing, node and the shard file's bytes.
    """
    from pytest_ipfs_accel import merge, store

    shard_dir = Path(spec["shard_dir"])
    shard_dir.mkdir(parents=True, exist_ok=True)
    ids_file = shard_dir / "ids.txt"
    ids_file.write_text("".join(f"{n}\n" for n in spec["ids"]), encoding="utf-8")
    db = shard_dir / "shard.duckdb"
    log = shard_dir / "pytest.log"
    command = shard_command(spec, db)
    read_fd = write_fd = -1
    if spec.get("events"):
        read_fd, write_fd = os.pipe()
        command.append(f"--ipfs-events=fd:{write_fd}")
    started = time.time()
    with open(log, "wb") as out:
        try:
            child = subprocess.Popen(command, cwd=spec["cwd"], env=shard_env(spec, ids_file),
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                     preexec_fn=_child_setup, pass_fds=(write_fd,) if write_fd >= 0 else ())
        finally:
            if write_fd >= 0:
                os.close(write_fd)  # the child holds it now: end of file when it exits
        try:
            if read_fd >= 0:
                exit_status, timed_out = yield from _relay(child, read_fd, spec)
            else:
                exit_status, timed_out = _wait(child, spec)
        except BaseException:
            child.kill()
            raise
        finally:
            if read_fd >= 0:
                os.close(read_fd)
    duration = time.time() - started
    if db.exists() or merge.has_pending(db):
        merge.settle(db)
        if timed_out:
            _note_timeout(db, spec)
    if db.exists():
        # the session's detached merger deletes the spool once committed but may still hold the
        # file with the rows in its WAL: wait it out and checkpoint, or the bytes sent back lack them
        con = store.open_store(db)
        try:
            con.execute("CHECKPOINT")
        finally:
            con.close()
    result = {
        "host": socket.gethostname(),
        "node_id": _node_id(),
        "exit_status": exit_status,
        "timed_out": timed_out,
        "started_at": started,
        "duration_s": duration,
        "db_bytes": db.read_bytes() if db.exists() else None,
        "log_tail": log.read_text(encoding="utf-8", errors="replace")[-2000:],
    }
    shutil.rmtree(shard_dir, ignore_errors=True)  # its bytes travel back; a failed attempt's stay for harvest
    yield "result", result


def _wait(child: subprocess.Popen, spec: dict[str, Any]) -> tuple[int, bool]:
    """Wait for the child within the shard's timeout; ``(exit status, timed out)``."""
    try:
        return child.wait(timeout=spec.get("timeout_s")), False
    except subprocess.TimeoutExpired:
        return _interrupt(child, spec.get("grace_s", 15)), True


def _interrupt(child: subprocess.Popen, grace_s: float) -> int:
    """SIGINT alone (pytest records the running test and flushes), SIGKILL after the grace period."""
    child.send_signal(signal.SIGINT)
    try:
        return child.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait()


def _relay(child: subprocess.Popen, read_fd: int, spec: dict[str, Any]
           ) -> Generator[tuple[str, list[str]], None, tuple[int, bool]]:
    """Yield the child's event lines as they come (``select`` wakes on each write), to end of file.

    The shard's timeout runs meanwhile: past it pytest gets SIGINT and its last
    lines (the interrupted test's error) are still read during the grace period.
    """
    timeout = spec.get("timeout_s")
    grace_s = spec.get("grace_s", 15)
    deadline = time.monotonic() + timeout if timeout else None
    timed_out = killed = False
    partial = b""
    while True:
        wait = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        readable, _, _ = select.select([read_fd], [], [], wait)
        if not readable:  # the deadline passed
            if not timed_out:
                timed_out = True
                child.send_signal(signal.SIGINT)
            elif not killed:
                child.kill()
                killed = True
            else:
                break  # pytest is dead; whatever it handed the pipe to is not waited for
            deadline = time.monotonic() + grace_s
            continue
        chunk = os.read(read_fd, 1 << 16)
        if not chunk:
            break  # end of file: pytest (and anything it passed the pipe to) exited
        *lines, partial = (partial + chunk).split(b"\n")
        if lines:
            yield "events", [line.decode("utf-8", "replace") for line in lines if line]
    if killed:
        return child.wait(), timed_out
    try:
        return child.wait(timeout=grace_s), timed_out
    except subprocess.TimeoutExpired:  # it closed the pipe but lingers
        return _interrupt(child, grace_s), timed_out


def _note_timeout(db: Path, spec: dict[str, Any]) -> None:
    """Prefix the error rows of the test the timeout interrupted with the reason."""
    from pytest_ipfs_accel import store

    note = TIMEOUT_NOTE.format(shard=spec["shard"], timeout=spec["timeout_s"])
    con = store.open_store(db)
    try:
        con.execute("UPDATE test_results SET message = ? || ': ' || coalesce(message, '') "
                    "WHERE outcome = 'error' AND message LIKE '%session ended before this test finished%'",
                    [note])
    finally:
        con.close()


def _node_id() -> str | None:
    try:
        import ray

        return ray.get_runtime_context().get_node_id()
    except Exception:  # not inside Ray (the function is also usable on its own)
        return None
