"""Response bodies and the vocabulary both directions share: the OpenAPI schema is the contract.

Request bodies are in :mod:`api_facade.web.requests`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
)

Status = Literal["queued", "running", "passed", "failed", "error", "cancelled", "timeout", "interrupted"]
TestType = Literal["basic", "comprehensive", "benchmark"]
Dtype = Literal["float32", "float16", "bfloat16"]
#: how a test run executes: one pytest subprocess here, or ``ipfs-accel run --ray`` (shards on a Ray cluster)
Executor = Literal["local", "ray"]
RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


# ---------------------------------------------------------------- responses


class ErrorBody(BaseModel):
    detail: str = Field(description="what went wrong and what to do about it")
    errors: list[dict[str, Any]] | None = None


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    active_runs: int
    queued_runs: int


class TokenScope(BaseModel):
    """The presented token's scope: ``read`` sees everything, ``run`` may also start, cancel, generate."""

    scope: Literal["read", "run"]
    scopes: list[str]


class Accepted(BaseModel):
    """A run or task was accepted (202)."""

    run_id: str | None = None
    task_id: str | None = None
    status: Status
    queue_position: int | None = None
    events: str = Field(description="WebSocket path of its event stream")


class RunOutcome(BaseModel):
    """Which run and where it stands: the head of every body about one run."""

    run_id: str
    status: Status
    reason: str | None


class TaskOutcome(BaseModel):
    """Which generate task and where it stands: the head of every body about one task."""

    task_id: str
    status: Status
    reason: str | None


class RunHead(BaseModel):
    """What a run's status and its line in a run list say alike, in this order."""

    run_id: str
    kind: str
    status: Status
    reason: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class Progress(BaseModel):
    collected: int | None
    done: int
    fraction: float | None


class Step(BaseModel):
    step: str
    status: str
    reason: str | None = None
    started_at: str | None = None
    finished_at: str | None = None


class RunStatus(RunHead):
    elapsed_s: float | None
    exit_code: int | None
    progress: Progress
    counts: dict[str, int]
    current_test: str | None
    current_step: str | None
    steps: list[Step]
    hardware: list[str]
    queue_position: int | None
    last_seq: int | None = Field(description="seq of the newest event (resume with ?since=)")
    pytest_run_ids: list[str]
    executor: Executor = "local"


class RunSummary(RunHead):
    duration_s: float | None
    counts: dict[str, int]
    hardware: list[str]
    targets: list[str]
    models: list[str]
    executor: Executor = "local"


class RunList(BaseModel):
    runs: list[RunSummary]


class TestRow(BaseModel):
    nodeid: str
    outcome: str
    duration_s: float | None
    hardware: str | None
    model: str | None
    message: str | None
    subtest: str | None = None


class TestResults(RunOutcome):
    counts: dict[str, int]
    source: Literal["database", "events"] = Field(
        description="database once the run finished; live events while it runs")
    tests: list[TestRow]


class Cancelled(RunOutcome):
    pass


class TaskCancelled(TaskOutcome):
    pass


class TaskStatus(TaskOutcome):
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    elapsed_s: float | None
    models: list[str]
    test_type: str
    files: list[str]
    last_seq: int | None


class GeneratedFile(BaseModel):
    path: str = Field(description="relative to the suite root; usable as a run target")
    model: str | None = None


class TaskResult(TaskOutcome):
    files: list[GeneratedFile]


class Templates(BaseModel):
    test_types: list[str]
    templates: list[str]


class HardwareInfo(BaseModel):
    backend: str
    usable: bool
    reason: str
    runtime: str | None
    torch_device: str | None
    devices: list[dict[str, Any]]


class HardwareList(BaseModel):
    hardware: list[HardwareInfo]


class ModelList(BaseModel):
    families: dict[str, list[str]]
    count: int


class MatrixTestRow(BaseModel):
    nodeid: str
    outcome: str
    duration_s: float | None
    when: str | None
    message: str | None


class MatrixCell(BaseModel):
    model: str
    hardware: str
    status: str
    counts: dict[str, int]
    total: int
    working: int
    run_id: str
    run_started_at: str | None
    tests: list[MatrixTestRow]
    service_run_id: str | None = Field(None, description="the service run (test, benchmark or workflow) behind "
                                       "run_id, when the service started it")
    service_kind: str | None = None


class MatrixBody(BaseModel):
    run_id: str | None
    models: list[str]
    hardware: list[str]
    statuses: list[str]
    cells: list[MatrixCell]


class BenchmarkRow(BaseModel):
    run_id: str
    nodeid: str
    name: str | None = None
    hardware: str | None
    device: str | None = None
    model: str | None
    kind: str | None = None
    batch_size: int | None
    seq_len: int | None
    dtype: str | None
    rounds: int | None = None
    mean_s: float | None
    median_s: float | None
    p50_s: float | None = None
    p90_s: float | None
    p95_s: float | None = None
    p99_s: float | None
    min_s: float | None = None
    max_s: float | None = None
    stddev_s: float | None = None
    throughput: float | None = None
    throughput_unit: str | None = None
    tokens_per_s: float | None = None
    peak_memory_bytes: int | None = None
    started_at: datetime | None = None
    git_commit: str | None = None


class BenchmarkResults(RunOutcome):
    counts: dict[str, int]
    results: list[BenchmarkRow]


class BenchmarkHistory(BaseModel):
    results: list[BenchmarkRow]


class WorkflowResults(RunOutcome):
    failed_step: str | None
    steps: list[Step]
    counts: dict[str, int]
    tests: list[TestRow]
    benchmarks: list[BenchmarkRow]
    files: list[str]
