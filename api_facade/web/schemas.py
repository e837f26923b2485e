"""Request and response bodies: the OpenAPI schema is the contract, so it is exact.

Requests forbid unknown fields, so a typo (``worker`` for ``workers``) is a
422 naming the field instead of a silently ignored option.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationInfo,
    field_validator,
)

from hardware_markers.base import BACKENDS

Status = Literal["queued", "running", "passed", "failed", "error", "cancelled", "timeout", "interrupted"]
TestType = Literal["basic", "comprehensive", "benchmark"]
Dtype = Literal["float32", "float16", "bfloat16"]
#: how a test run executes: one pytest subprocess here, or ``ipfs-accel run --ray`` (shards on a Ray cluster)
Executor = Literal["local", "ray"]
RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
#: model types, hub ids (org/name) and checkpoint folder names; no spaces, no leading '-'
MODEL_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,199}$"
HW_SPECIALS = ("auto", "all")


class RequestBody(BaseModel):
    """A request body: unknown fields are errors; shared checks apply to the fields present."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("hardware", check_fields=False)
    @classmethod
    def _hardware_names(cls, names: list[str]) -> list[str]:
        return _check_hardware(names)

    @field_validator("models", check_fields=False)
    @classmethod
    def _model_refs(cls, models: list[str]) -> list[str]:
        return _check_models(models)

    @field_validator("model", check_fields=False)
    @classmethod
    def _model_ref(cls, model: str) -> str:
        return _check_models([model])[0]

    @field_validator("batch_sizes", "seq_lens", check_fields=False)
    @classmethod
    def _shape_values(cls, values: list[int], info: ValidationInfo) -> list[int]:
        most = MAX_BATCH_SIZE if info.field_name == "batch_sizes" else MAX_SEQ_LEN
        bad = [v for v in values if not 1 <= v <= most]
        if bad:
            raise ValueError(f"each value must be between 1 and {most}; got {', '.join(map(str, bad))}")
        return sorted(set(values))


#: bounds of a benchmark shape: any batch size and sequence length within them may be asked for
MAX_BATCH_SIZE = 1024
MAX_SEQ_LEN = 16384


def _check_hardware(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in BACKENDS and n not in HW_SPECIALS]
    if unknown:
        raise ValueError(
            f"unknown backend(s) {', '.join(map(repr, unknown))}; valid: {', '.join((*HW_SPECIALS, *BACKENDS))}"
        )
    if any(n in HW_SPECIALS for n in names) and len(names) > 1:
        raise ValueError("'auto' and 'all' stand alone: give either one of them or a list of backends")
    return list(dict.fromkeys(names))


def _check_models(models: list[str]) -> list[str]:
    bad = [m for m in models if not re.match(MODEL_PATTERN, m) or ".." in m]
    if bad:
        raise ValueError(
            f"invalid model reference(s) {', '.join(map(repr, bad))}: use a model type (bert), "
            "a hub id (org/name) or a folder name, without spaces or '..'"
        )
    return list(dict.fromkeys(models))


class TestRunRequest(RequestBody):
    """Start a pytest run: targets under the suite root and/or models to generate tests for."""

    targets: list[str] = Field(default_factory=list, max_length=100,
                               description="paths or node ids relative to the suite root")
    models: list[str] = Field(default_factory=list, max_length=20,
                              description="generate tests for these models and run them")
    hardware: list[str] = Field(default_factory=list, max_length=len(BACKENDS),
                                description="backends (--ipfs-hw); empty = auto")
    test_type: TestType = "basic"
    workers: int = Field(0, ge=0, le=64, strict=True, description="pytest-xdist workers (-n); 0 = no xdist")
    timeout_s: float | None = Field(None, gt=0, strict=True, description="end the run after this many seconds")
    executor: Executor = Field("local", description="local: one pytest here; ray: ipfs-accel run --ray, "
                                                    "sharded across the service's Ray cluster (explicit hardware)")
    shards: int | None = Field(None, ge=1, le=256, strict=True,
                               description="executor ray: shards in all (--shards; default one per backend)")


class BenchmarkShape(RequestBody):
    """The benchmark sweep and budget a benchmark or workflow request asks for."""

    batch_sizes: list[StrictInt] = Field(default_factory=lambda: [1], min_length=1, max_length=16,
                                         description=f"any batch sizes from 1 to {MAX_BATCH_SIZE}")
    seq_lens: list[StrictInt] = Field(default_factory=lambda: [16], min_length=1, max_length=16,
                                      description=f"text lengths or audio samples, any from 1 to {MAX_SEQ_LEN}")
    dtype: Dtype = "float32"
    max_time_s: float | None = Field(None, gt=0, le=600, strict=True,
                                     description="time budget of each case's timed rounds (--ipfs-bench-max-time)")
    min_rounds: int | None = Field(None, ge=1, le=100000, strict=True, description="--ipfs-bench-min-rounds")
    max_rounds: int | None = Field(None, ge=1, le=100000, strict=True, description="--ipfs-bench-max-rounds")
    timeout_s: float | None = Field(None, gt=0, strict=True)


class BenchmarkRunRequest(BenchmarkShape):
    """Benchmark models: generated benchmark tests run with these shapes."""

    models: list[str] = Field(min_length=1, max_length=20)
    hardware: list[str] = Field(default_factory=list, max_length=len(BACKENDS))


class GenerateRequest(RequestBody):
    """Write a test module for one model under the suite root's generated folder."""

    model: str = Field(pattern=MODEL_PATTERN, max_length=200)
    test_type: TestType = "basic"
    force: bool = Field(False, strict=True, description="overwrite an existing module")


class GenerateBatchRequest(RequestBody):
    models: list[str] = Field(min_length=1, max_length=50)
    test_type: TestType = "basic"
    force: bool = Field(False, strict=True)


class WorkflowRequest(BenchmarkShape):
    """Generate tests for a model, run them, then benchmark it: one status, one event stream."""

    model: str = Field(pattern=MODEL_PATTERN, max_length=200)
    hardware: list[str] = Field(default_factory=list, max_length=len(BACKENDS))
    test_type: Literal["basic", "comprehensive"] = "basic"


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


class RunStatus(BaseModel):
    run_id: str
    kind: str
    status: Status
    reason: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
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


class RunSummary(BaseModel):
    run_id: str
    kind: str
    status: Status
    reason: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
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


class TestResults(BaseModel):
    run_id: str
    status: Status
    reason: str | None
    counts: dict[str, int]
    source: Literal["database", "events"] = Field(
        description="database once the run finished; live events while it runs")
    tests: list[TestRow]


class Cancelled(BaseModel):
    run_id: str
    status: Status
    reason: str | None


class TaskCancelled(BaseModel):
    task_id: str
    status: Status
    reason: str | None


class TaskStatus(BaseModel):
    task_id: str
    status: Status
    reason: str | None
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


class TaskResult(BaseModel):
    task_id: str
    status: Status
    reason: str | None
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


class BenchmarkResults(BaseModel):
    run_id: str
    status: Status
    reason: str | None
    counts: dict[str, int]
    results: list[BenchmarkRow]


class BenchmarkHistory(BaseModel):
    results: list[BenchmarkRow]


class WorkflowResults(BaseModel):
    run_id: str
    status: Status
    reason: str | None
    failed_step: str | None
    steps: list[Step]
    counts: dict[str, int]
    tests: list[TestRow]
    benchmarks: list[BenchmarkRow]
    files: list[str]
