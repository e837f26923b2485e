"""The driver's one event stream for a whole Ray run: the shards' events, live, tagged, merged.

Same format as a plain run's ``--ipfs-events`` (pytest-reportlog compatible JSON
lines, DESIGN.md "Event stream"). Every event a shard's pytest writes reaches
the driver while the shard runs (the worker relays its lines through a Ray
streaming generator) and is written here with ``"shard": k, "attempt": a``
added. The run has exactly one ``SessionStart``/``RunInfo``/
``CollectionFinished``/``SessionFinish``, the driver's own (the last with the
merged exit status); a shard's own session-level events are renamed
``Shard<type>`` (``ShardSessionFinish`` holds that shard's pytest exit status).
After each attempt the driver writes ``ShardResult`` (its ``run_shards`` row)
with ``"retried": true`` when a later attempt replaces it: a reader drops every
event of that ``(shard, attempt)``, exactly as the store keeps only the last
attempt's rows.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from typing import IO, Any

import pytest

from pytest_ipfs_accel.events import Discard, open_target

OPTION = "--ipfs-events"
#: a shard's session-level events: renamed ``Shard<type>``, the run has one of each, the driver's
SESSION_TYPES = frozenset({"SessionStart", "RunInfo", "CollectionFinished", "SessionFinish"})


def split_target(pytest_args: list[str]) -> tuple[str | None, list[str]]:
    """``(--ipfs-events target or None, the other arguments)``: the driver writes the stream itself."""
    target = None
    rest: list[str] = []
    args = iter(pytest_args)
    for arg in args:
        if arg == OPTION:
            target = next(args, None)
            if target is None:
                raise ValueError(f"{OPTION} needs a value: a PATH or fd:N")
        elif arg.startswith(OPTION + "="):
            target = arg.split("=", 1)[1]
        elif arg == "--":  # what follows is pytest's file arguments, not options
            rest += [arg, *args]
        else:
            rest.append(arg)
    if target == "":
        raise ValueError(f"{OPTION}= needs a value: a PATH or fd:N")
    return target, rest


class RunStream:
    """The driver's writer: its own events, and the shards' lines relayed with their tags."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    @classmethod
    def open(cls, target: str) -> RunStream:
        """Open ``PATH`` or ``fd:N`` (ValueError with a one-line message when it cannot)."""
        stream = open_target(target)
        try:
            os.set_inheritable(stream.fileno(), False)  # Ray's and pytest's children keep out of it
        except (OSError, ValueError):
            pass
        return cls(stream)

    def emit(self, event: dict[str, Any]) -> None:
        """Write one of the driver's own events (stamped ``ipfs_ts`` like every line)."""
        event["ipfs_ts"] = time.time()
        self._write([json.dumps(event, default=str)])

    def relay(self, lines: Iterable[str], shard: int, attempt: int) -> int:
        """Write a shard's raw event lines, tagged; returns how many were written."""
        out = []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a torn line from a killed child: nothing a reader could use
            if not isinstance(event, dict):
                continue
            kind = event.get("$report_type")
            if kind in SESSION_TYPES:
                event["$report_type"] = f"Shard{kind}"
            event["shard"] = shard
            event["attempt"] = attempt
            out.append(json.dumps(event, default=str))
        self._write(out)
        return len(out)

    def session_start(self, run_id: str, info: dict[str, Any]) -> None:
        self.emit({"$report_type": "SessionStart", "pytest_version": pytest.__version__})
        self.emit({"$report_type": "RunInfo", "run_id": run_id, "executor": "ray", **info})

    def session_finish(self, exit_status: int, reason: str | None = None) -> None:
        """The run's one ``SessionFinish`` (``reason`` when it could not run to the end)."""
        event: dict[str, Any] = {"$report_type": "SessionFinish", "exitstatus": int(exit_status)}
        if reason:
            event["reason"] = reason
        self.emit(event)

    def _write(self, lines: list[str]) -> None:
        if not lines:
            return
        try:
            self._stream.write("".join(f"{line}\n" for line in lines))
            self._stream.flush()
        except (OSError, ValueError):
            # the reader went away (a closed pipe): the run is worth more than its events
            self._stream = Discard()

    def close(self) -> None:
        try:
            self._stream.close()
        except OSError:
            pass
