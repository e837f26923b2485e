"""``/api/benchmark``: benchmark runs of generated model benchmarks, their statistics and history."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from api_facade import data
from api_facade.data import ServiceDB
from api_facade.runs.jobs import PREFIX, Job
from api_facade.runs.plans import benchmark_plan
from api_facade.web.auth import require_token
from api_facade.web.deps import ERRORS, NOT_FOUND, DBDep, ManagerDep, SettingsDep
from api_facade.web.requests import BenchmarkRunRequest
from api_facade.web.routers.common import detect_hardware, start_timed
from api_facade.web.routers.run_routes import START_ROUTE, add_run_routes
from api_facade.web.routers.test import models as known_models
from api_facade.web.schemas import (
    RUN_ID_PATTERN,
    Accepted,
    BenchmarkHistory,
    BenchmarkResults,
    BenchmarkRow,
    HardwareList,
    ModelList,
)
from pytest_ipfs_accel.bench.threshold import parse_threshold

router = APIRouter(prefix=PREFIX["benchmark"], tags=["benchmark"], dependencies=[Depends(require_token)],
                   responses=ERRORS)
ws_router = APIRouter(prefix=PREFIX["benchmark"], tags=["benchmark"])


class CaseChange(BaseModel):
    nodeid: str
    model: str | None
    hardware: str | None
    verdict: str
    base_median_s: float | None
    head_median_s: float | None
    median_change_pct: float | None
    base_p90_s: float | None
    head_p90_s: float | None
    p90_change_pct: float | None
    base_throughput: float | None
    head_throughput: float | None
    throughput_change_pct: float | None
    throughput_unit: str | None
    p_value: float | None
    significant: bool | None
    base_rounds: int
    head_rounds: int


class Comparison(BaseModel):
    base: str
    head: str
    threshold_pct: float
    statistic: str | None = Field(None, description="the statistic a STAT:PCT threshold judged alone")
    alpha: float
    verdicts: dict[str, int]
    cases: list[CaseChange]


class BackendCase(BaseModel):
    case: str
    model: str | None
    base_backend: str
    head_backend: str
    base_median_s: float | None
    head_median_s: float | None
    ratio: float | None
    ratio_low: float | None
    ratio_high: float | None
    p_value: float | None
    significant: bool | None
    faster: str | None
    base_rounds: int
    head_rounds: int


class BackendComparison(BaseModel):
    run_id: str
    base: str
    head: str
    alpha: float
    confidence: float
    cases: list[BackendCase]


class HistoryFacets(BaseModel):
    models: list[str]
    hardware: list[str]
    batch_sizes: list[int]
    seq_lens: list[int]
    dtypes: list[str]


@router.post("/run", **START_ROUTE)
async def start_run(body: BenchmarkRunRequest, settings: SettingsDep, manager: ManagerDep) -> Accepted:
    """Generate benchmark modules for the models and run the cases of these shapes and dtype."""
    return await start_timed(manager, settings, "benchmark", body, benchmark_plan)


async def benchmark_results(job: Job, db: ServiceDB) -> BenchmarkResults:
    """Statistics per case (median/p50, p90, p95, p99, throughput, memory) of a benchmark run."""
    return BenchmarkResults(run_id=job.run_id, status=job.status, reason=job.reason,
                            counts=job.live_counts(), results=await benchmark_rows(job, db))


async def benchmark_rows(job: Job, db: ServiceDB) -> list[BenchmarkRow]:
    if job.active or not job.pytest_run_ids:
        return []  # cases arrive as BenchmarkResult events while the run goes on
    rows = await db.call(data.benchmark_rows, job.pytest_run_ids)
    return [BenchmarkRow(**r) for r in rows]


add_run_routes(router, ws_router, "benchmark", BenchmarkResults, benchmark_results,
               results_doc="Statistics per case (median/p50, p90, p95, p99, throughput, memory) of a benchmark run.")


@router.get("/models", response_model=ModelList)
async def models(request: Request) -> ModelList:
    """Model types benchmarks can be generated for."""
    return await known_models(request)


@router.get("/hardware", response_model=HardwareList)
async def hardware() -> HardwareList:
    return await detect_hardware()


@router.get("/facets", response_model=HistoryFacets)
async def facets(db: DBDep) -> HistoryFacets:
    """The models, backends, batch sizes, sequence lengths and dtypes the history holds."""
    return HistoryFacets(**await db.call(data.benchmark_models_and_hardware))


@router.get("/query", response_model=BenchmarkHistory)
async def query(
    db: DBDep,
    model: Annotated[str | None, Query(max_length=200)] = None,
    hardware: Annotated[str | None, Query(max_length=40)] = None,
    batch_size: Annotated[int | None, Query(ge=1, le=65536)] = None,
    seq_len: Annotated[int | None, Query(ge=1, le=1 << 20)] = None,
    dtype: Annotated[str | None, Query(max_length=20)] = None,
    kind: Annotated[str | None, Query(max_length=40, description="forward, generate, ...")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> BenchmarkHistory:
    """Benchmark history across runs (oldest first): per run and case its median/p50, p90, p99."""
    rows = await db.call(lambda con: data.benchmark_history(
        con, model=model, hardware=hardware, batch_size=batch_size, seq_len=seq_len, dtype=dtype,
        kind=kind, limit=limit))
    return BenchmarkHistory(results=[BenchmarkRow(**r) for r in rows])


@router.get("/compare", response_model=Comparison, responses=NOT_FOUND)
async def compare(
    db: DBDep,
    manager: ManagerDep,
    base: Annotated[str, Query(max_length=100, description="run id, 'latest' or 'previous'")] = "previous",
    head: Annotated[str, Query(max_length=100, description="run id, 'latest' or 'previous'")] = "latest",
    threshold_pct: Annotated[str, Query(max_length=40, description="10, 10% or STAT:PCT (min:10%, median:10%, "
                                         "p90:10%): a significant slowdown beyond it is a regression")] = "10",
    alpha: Annotated[float, Query(gt=0, lt=1)] = 0.01,
) -> Comparison:
    """Per case: median and p90 change, throughput change, Mann-Whitney p-value, verdict."""
    from pytest_ipfs_accel.store import StoreError

    try:
        threshold = parse_threshold(threshold_pct)
    except ValueError as exc:
        raise HTTPException(422, f"query parameter threshold_pct: {exc}") from None
    if threshold.pct > 1000:
        raise HTTPException(422, "query parameter threshold_pct: at most 1000%")
    refs = [await _plugin_run(manager, ref) for ref in (base, head)]
    try:
        body: dict[str, Any] = await db.call(data.compare_runs, refs[0], refs[1], threshold.pct, alpha,
                                             threshold.statistic)
    except StoreError as exc:
        raise HTTPException(404, str(exc)) from None
    return Comparison(**body)


BACKEND_NAME = r"^[a-z][a-z0-9_.-]{0,39}$"


@router.get("/backends", response_model=BackendComparison, responses=NOT_FOUND)
async def compare_backends(
    db: DBDep,
    manager: ManagerDep,
    run: Annotated[str, Query(max_length=100, description="run id or 'latest'")] = "latest",
    base: Annotated[str, Query(pattern=BACKEND_NAME, description="backend, e.g. cpu")] = "cpu",
    head: Annotated[str, Query(pattern=BACKEND_NAME, description="backend, e.g. openvino")] = "openvino",
    alpha: Annotated[float, Query(gt=0, lt=1)] = 0.01,
) -> BackendComparison:
    """Two backends of one run side by side (``ipfs-accel compare RUN --backends BASE,HEAD``):
    per case the median ratio HEAD/BASE, its bootstrap interval, Mann-Whitney p, the faster one."""
    from pytest_ipfs_accel.bench import backends
    from pytest_ipfs_accel.bench.compare import load_cases
    from pytest_ipfs_accel.store import StoreError, resolve_run_id

    if base == head:
        raise HTTPException(422, f"base and head are both {base!r}: name two different backends")
    ref = await _plugin_run(manager, run)

    def load(con):
        run_id = resolve_run_id(con, ref)
        return run_id, load_cases(con, run_id)

    try:
        run_id, cases = await db.call(load)
    except StoreError as exc:
        raise HTTPException(404, str(exc)) from None
    import asyncio

    # the bootstrap takes a moment per case: off the event loop
    rows = await asyncio.to_thread(backends.compare_backends, cases, base, head, alpha=alpha)
    return BackendComparison(run_id=run_id, base=base, head=head, alpha=alpha,
                             confidence=backends.CONFIDENCE, cases=[BackendCase(**r.as_dict()) for r in rows])


async def _plugin_run(manager, ref: str) -> str:
    """A facade run id -> the plugin run that holds its benchmarks; anything else unchanged."""
    if not re.match(RUN_ID_PATTERN, ref):
        raise HTTPException(422, f"{ref!r} is not a run id, 'latest' or 'previous'")
    job = await manager.get(ref)
    if job is not None and job.pytest_run_ids:
        return job.pytest_run_ids[-1]
    return ref
