"""Facts about a run that go into the ``runs`` table (nothing here imports torch)."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any


def new_run_id(now: datetime | None = None) -> str:
    """A globally unique, time-sortable run id, e.g. ``20261126T033100-3f2a9c1b4d5e``."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"


def package_version(name: str) -> str | None:
    """Installed version of ``name`` without importing it."""
    try:
        return importlib_metadata.version(name)
    except importlib_metadata.PackageNotFoundError:
        return None


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_info(root: Path) -> dict[str, Any]:
    """Commit, branch and dirty state of the git checkout holding ``root`` (None outside one).

    One ``git status --porcelain=v2 --branch`` answers all three (a process start
    is the expensive part, and every session pays it).
    """
    status = _git(root, "status", "--porcelain=v2", "--branch", "--untracked-files=no")
    if status is None:
        return {"git_commit": None, "git_branch": None, "git_dirty": None}
    headers = dict(line[2:].split(" ", 1) for line in status.splitlines() if line.startswith("# "))
    commit = headers.get("branch.oid")
    branch = headers.get("branch.head")
    return {
        "git_commit": None if commit in (None, "(initial)") else commit,
        "git_branch": "HEAD" if branch == "(detached)" else branch,  # what rev-parse --abbrev-ref says
        "git_dirty": any(line and not line.startswith("#") for line in status.splitlines()),
    }


def run_metadata(root: Path, argv: list[str]) -> dict[str, Any]:
    """The static columns of a ``runs`` row."""
    return {
        "argv": json.dumps(argv),
        "rootdir": str(root),
        **git_info(root),
        "host": socket.gethostname(),
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "python": platform.python_version(),
        "pytest_version": package_version("pytest"),
        "torch_version": package_version("torch"),
        "transformers_version": package_version("transformers"),
    }


def command_line() -> list[str]:
    """How this pytest was invoked, for the ``argv`` column."""
    return [os.path.basename(sys.executable), "-m", "pytest", *sys.argv[1:]]
