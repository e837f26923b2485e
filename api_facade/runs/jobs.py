"""What the service knows about one run or task, and how it follows a run's progress.

A *job* is anything the service starts and streams: a test run, a benchmark
run, a generator task or a workflow.  Its record persists in the
``facade_runs`` table; its progress is read from the run's own events.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

KINDS = ("test", "benchmark", "generate", "workflow")
STATUSES = ("queued", "running", "passed", "failed", "error", "cancelled", "timeout", "interrupted")
ACTIVE = ("queued", "running")
TERMINAL = tuple(s for s in STATUSES if s not in ACTIVE)

#: pytest exit codes other than 0/1 -> the reason a run is ``error``
EXIT_REASONS = {
    2: "pytest was interrupted",
    3: "pytest hit an internal error (see the run's log)",
    4: "pytest usage error",
    5: "no tests were collected",
}


#: each kind's id prefix (``run-...``) and the URL prefix of its routes: ids, routers,
#: their error messages and the client agree through these two tables
ID_PREFIX = {"test": "run", "benchmark": "bench", "generate": "gen", "workflow": "wf"}
PREFIX = {"test": "/api/test", "benchmark": "/api/benchmark", "generate": "/api/generator",
          "workflow": "/api/workflow"}


def new_id(kind: str) -> str:
    """A globally unique, sortable id (never a counter: shards from many services merge)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{ID_PREFIX.get(kind, kind)}-{stamp}-{secrets.token_hex(4)}"


def now() -> datetime:
    return datetime.now(timezone.utc)


def status_for_exit(code: int) -> tuple[str, str | None]:
    """A finished pytest's exit status -> (status, reason)."""
    if code == 0:
        return "passed", None
    if code == 1:
        return "failed", "some tests failed"
    if code < 0:
        return "error", f"pytest was killed by signal {-code}"
    return "error", EXIT_REASONS.get(code, f"pytest exited with status {code}")


@dataclass
class Progress:
    """Counts, collected total and current test, followed from a run's events.

    The plugin's ``TestResult`` events carry the recorder's final row of each
    item (the same row that lands in ``test_results``), so the live counts
    agree with the database.  Subtest rows refine an item and are not counted.
    A Ray run's events carry ``shard``/``attempt``; a ``ShardResult`` marked
    ``retried`` withdraws that attempt's results (its rows are not merged either).
    """

    collected: int | None = None
    done: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    current: str | None = None
    tests: list[dict[str, Any]] = field(default_factory=list)

    def observe(self, event: dict[str, Any]) -> None:
        """Update from one event; unknown types and keys are ignored (DESIGN.md)."""
        kind = event.get("$report_type")
        if kind == "TestResult":
            self._result(event)
        elif kind == "TestStart":
            self.current = _text(event.get("nodeid"))
        elif kind == "ShardResult" and event.get("retried") is True:
            self._withdraw((event.get("shard"), event.get("attempt")))
        elif kind == "CollectionFinished":
            count = event.get("count")
            if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
                # a workflow runs pytest more than once: totals add up
                self.collected = (self.collected or 0) + count

    def _result(self, event: dict[str, Any]) -> None:
        nodeid = _text(event.get("nodeid"))
        outcome = _text(event.get("outcome"))
        if not nodeid or not outcome or event.get("subtest") is not None:
            return
        if self.current == nodeid:
            self.current = None
        self._count(event.get("when"), outcome, +1)
        self.tests.append({
            "nodeid": nodeid,
            "outcome": outcome,
            "duration_s": _number(event.get("duration_s")),
            "hardware": _text(event.get("hardware")),
            "model": _text(event.get("model")),
            "message": _text(event.get("message")),
            **({"_attempt": (event["shard"], event.get("attempt"))} if "shard" in event else {}),
            **({"_when": "collect"} if event.get("when") == "collect" else {}),
        })

    def _count(self, when: Any, outcome: str, step: int) -> None:
        if when != "collect":
            self.done += step
        self.counts[outcome] = self.counts.get(outcome, 0) + step
        if not self.counts[outcome]:
            del self.counts[outcome]

    def _withdraw(self, attempt: tuple[Any, Any]) -> None:
        """Drop the results of a Ray shard attempt that was retried."""
        kept = []
        for row in self.tests:
            if row.get("_attempt") == attempt:
                self._count(row.get("_when"), row["outcome"], -1)
            else:
                kept.append(row)
        self.tests = kept

    def rows(self) -> list[dict[str, Any]]:
        """The results as the API shows them (without the bookkeeping keys)."""
        return [{k: v for k, v in row.items() if not k.startswith("_")} for row in self.tests]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass
class Job:
    """A run or task: its record (persisted) and its live state (not persisted)."""

    run_id: str
    kind: str
    request: dict[str, Any]
    status: str = "queued"
    reason: str | None = None
    created_at: datetime = field(default_factory=now)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    argv: list[str] = field(default_factory=list)
    pytest_run_ids: list[str] = field(default_factory=list)
    hardware: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    collected: int | None = None
    done: int = 0
    pgid: int | None = None
    progress: Progress = field(default_factory=Progress, repr=False)
    current_step: str | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def elapsed_s(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or now()
        return round((end - self.started_at).total_seconds(), 3)

    def live_counts(self) -> dict[str, int]:
        return dict(self.counts) if not self.active else dict(self.progress.counts)

    def to_row(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "status": self.status,
            "reason": self.reason,
            "created_at": _naive_utc(self.created_at),
            "started_at": _naive_utc(self.started_at),
            "finished_at": _naive_utc(self.finished_at),
            "exit_code": self.exit_code,
            "request": json.dumps(self.request),
            "argv": json.dumps(self.argv),
            "pytest_run_ids": json.dumps(self.pytest_run_ids),
            "hardware": json.dumps(self.hardware),
            "files": json.dumps(self.files),
            "steps": json.dumps(self.steps),
            "counts": json.dumps(self.counts if not self.active else self.progress.counts),
            "collected": self.collected if not self.active else self.progress.collected,
            "done": self.done if not self.active else self.progress.done,
            "pgid": self.pgid,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        def loads(key: str, default: Any) -> Any:
            try:
                return json.loads(row.get(key) or "null") or default
            except ValueError:
                return default

        return cls(
            run_id=row["run_id"],
            kind=row["kind"],
            request=loads("request", {}),
            status=row["status"],
            reason=row.get("reason"),
            created_at=_aware_utc(row["created_at"]),
            started_at=_aware_utc(row.get("started_at")),
            finished_at=_aware_utc(row.get("finished_at")),
            exit_code=row.get("exit_code"),
            argv=loads("argv", []),
            pytest_run_ids=loads("pytest_run_ids", []),
            hardware=loads("hardware", []),
            files=loads("files", []),
            steps=loads("steps", []),
            counts=loads("counts", {}),
            collected=row.get("collected"),
            done=row.get("done") or 0,
            pgid=row.get("pgid"),
        )


def _naive_utc(value: datetime | None) -> datetime | None:
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value is not None else None


def _aware_utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value is not None else None
