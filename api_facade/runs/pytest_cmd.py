"""Allow-listing of run targets and the command line a run executes (pytest, or ``ipfs-accel run --ray``).

The command is always a list (no shell), targets come after ``--`` so none
can be read as an option, and each target must name an existing path under
the suite root: not absolute, no ``..``, not starting with ``-``, no escape
through a symlink.
"""

from __future__ import annotations

import os
import re
import sys
from importlib import metadata
from pathlib import Path, PurePosixPath

import pytest_ipfs_accel
from api_facade.settings import TOKEN_VARIABLES

PLUGIN_MODULE = "pytest_ipfs_accel.plugin"
#: after the path a node id may hold any printable text (parametrize ids are free-form);
#: it is one argv element after ``--``, so it can never act as an option
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]*$")


class TargetError(ValueError):
    """A target that is not allowed; the message says what to fix."""


def check_target(target: str, suite_root: Path) -> str:
    """Return ``target`` when it is a path or node id under ``suite_root``; raise otherwise."""
    if not isinstance(target, str) or not target.strip():
        raise TargetError("a target is empty: give a path or node id relative to the suite root")
    if target != target.strip():
        raise TargetError(f"target {target!r} has surrounding whitespace")
    if target.startswith("-"):
        raise TargetError(f"target {target!r} starts with '-': targets are paths, not pytest options")
    try:
        target.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate (JSON allows "\ud800"): no file or argv holds it
        raise TargetError(f"target {target!r} is not valid Unicode (a lone surrogate at position {exc.start}): "
                          "send the path as UTF-8 text") from None
    path_part, _, node_part = target.partition("::")
    if not _PRINTABLE.match(path_part):
        raise TargetError(f"target {target!r} has control characters")
    if "\\" in path_part:
        raise TargetError(f"target {target!r}: use '/' as the path separator")
    pure = PurePosixPath(path_part)
    if pure.is_absolute() or re.match(r"^[A-Za-z]:", path_part):
        raise TargetError(f"target {target!r} is absolute: give it relative to the suite root")
    if ".." in pure.parts:
        raise TargetError(f"target {target!r} contains '..': targets must stay under the suite root")
    if node_part and not _PRINTABLE.match(node_part):
        raise TargetError(f"target {target!r} has control characters")
    resolved = (suite_root / pure).resolve()
    if not resolved.is_relative_to(suite_root):
        raise TargetError(f"target {target!r} leads outside the suite root (through a link)")
    if not resolved.exists():
        raise TargetError(f"target {path_part!r} does not exist under the suite root {suite_root}")
    return target


def plugin_installed() -> bool:
    """Whether pytest loads the plugin by itself (entry point) — then ``-p`` would load it twice."""
    try:
        entry_points = metadata.entry_points(group="pytest11")
    except Exception:  # a broken distribution's metadata must not stop runs
        return False
    return any(ep.value.split(":")[0] == PLUGIN_MODULE for ep in entry_points)


def pytest_command(
    targets: list[str],
    *,
    run_id: str,
    shard: Path,
    rootdir: Path,
    events: str,
    hardware: list[str] | None = None,
    workers: int = 0,
    extra: list[str] | None = None,
) -> list[str]:
    """The argv of one run: ``python -m pytest <options> -- <targets>``."""
    argv = [sys.executable, "-m", "pytest"]
    if not plugin_installed():
        argv += ["-p", PLUGIN_MODULE]
    argv += [f"--ipfs-db={shard}", f"--ipfs-run-id={run_id}", f"--ipfs-events={events}"]
    if hardware:
        argv.append(f"--ipfs-hw={','.join(hardware)}")
    if workers:
        argv += ["-n", str(workers)]
    # node ids relative to the suite root, whatever ini file pytest finds above it
    argv += [f"--rootdir={rootdir}", "-q", "-p", "no:cacheprovider", *(extra or []), "--", *targets]
    return argv


def ray_command(
    targets: list[str],
    *,
    run_id: str,
    db: Path,
    rootdir: Path,
    events: str,
    hardware: list[str],
    shards: int | None = None,
    address: str = "",
    extra: list[str] | None = None,
) -> list[str]:
    """The argv of a run sharded on Ray: ``ipfs-accel run --ray[=ADDRESS] --hw ... --db DB -- <pytest args>``.

    The driver sets ``--ipfs-hw``/``--ipfs-db``/``--ipfs-run-id`` on each shard itself (from
    its own ``--hw``/``--db``/``--run-id``) and writes the whole run's events, shard by shard
    tagged, to the ``--ipfs-events`` target given among pytest's arguments.
    """
    argv = [sys.executable, "-m", "pytest_ipfs_accel", "run", f"--ray={address}" if address else "--ray",
            "--hw", ",".join(hardware)]
    if shards:
        argv += ["--shards", str(shards)]
    argv += ["--db", str(db), "--run-id", run_id, "--"]
    if not plugin_installed():
        argv += ["-p", PLUGIN_MODULE]
    argv += [f"--ipfs-events={events}", f"--rootdir={rootdir}", "-q", "-p", "no:cacheprovider",
             *(extra or []), "--", *targets]
    return argv


def subprocess_env() -> dict[str, str]:
    """The environment of a run: ours, plus the package on ``PYTHONPATH`` when not installed."""
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)  # the service's own pytest options must not leak into runs
    for variable in TOKEN_VARIABLES:
        env.pop(variable, None)  # test code has no business with the API tokens
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_XDIST_WORKER_COUNT", None)
    env.pop("PYTEST_CURRENT_TEST", None)
    env["PYTHONUNBUFFERED"] = "1"
    if not plugin_installed():
        root = str(Path(pytest_ipfs_accel.__file__).resolve().parent.parent)
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        if root not in paths:
            env["PYTHONPATH"] = os.pathsep.join([root, *paths])
    return env
