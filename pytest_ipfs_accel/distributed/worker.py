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

The shard's spool is merged into its file here, and the file's bytes go back
to the driver (nodes share no file system with it).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
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


def run_shard(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one attempt of one shard; returns its exit, timing, node and shard file bytes."""
    from pytest_ipfs_accel import merge

    shard_dir = Path(spec["shard_dir"])
    shard_dir.mkdir(parents=True, exist_ok=True)
    ids_file = shard_dir / "ids.txt"
    ids_file.write_text("".join(f"{n}\n" for n in spec["ids"]), encoding="utf-8")
    db = shard_dir / "shard.duckdb"
    log = shard_dir / "pytest.log"
    started = time.time()
    timed_out = False
    with open(log, "wb") as out:
        child = subprocess.Popen(shard_command(spec, db), cwd=spec["cwd"], env=shard_env(spec, ids_file),
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 preexec_fn=_child_setup)
        try:
            exit_status = child.wait(timeout=spec.get("timeout_s"))
        except subprocess.TimeoutExpired:
            timed_out = True
            child.send_signal(signal.SIGINT)
            try:
                exit_status = child.wait(timeout=spec.get("grace_s", 15))
            except subprocess.TimeoutExpired:
                child.kill()
                exit_status = child.wait()
        except BaseException:
            child.kill()
            raise
    duration = time.time() - started
    if db.exists() or merge.has_pending(db):
        merge.settle(db)
        if timed_out:
            _note_timeout(db, spec)
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
    return result


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
