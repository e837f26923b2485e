"""``/api/test``: pytest runs of targets under the suite root and/or generated model tests."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from api_facade import data
from api_facade.data import ServiceDB
from api_facade.runs.jobs import PREFIX, Job
from api_facade.runs.module_writer import known_models
from api_facade.runs.plans import test_plan
from api_facade.runs.pytest_cmd import TargetError, check_target
from api_facade.web.auth import require_token
from api_facade.web.deps import ERRORS, NOT_FOUND, DBDep, ManagerDep, SettingsDep
from api_facade.web.requests import TestRunRequest
from api_facade.web.routers.common import (
    check_executor,
    check_timeout,
    check_workers,
    detect_hardware,
    start,
)
from api_facade.web.routers.run_routes import START_ROUTE, add_run_routes
from api_facade.web.schemas import (
    RUN_ID_PATTERN,
    Accepted,
    HardwareList,
    MatrixBody,
    ModelList,
    RunList,
    Status,
    TestResults,
    TestRow,
)
from api_facade.web.views import run_summary

router = APIRouter(prefix=PREFIX["test"], tags=["test"], dependencies=[Depends(require_token)], responses=ERRORS)
ws_router = APIRouter(prefix=PREFIX["test"], tags=["test"])

RUN_KINDS = ("test", "benchmark", "workflow")


@router.post("/run", **START_ROUTE)
async def start_run(body: TestRunRequest, settings: SettingsDep, manager: ManagerDep) -> Accepted:
    """Start a pytest run; it queues when the service runs its maximum already."""
    if not body.targets and not body.models:
        raise HTTPException(422, "give at least one of targets (paths under the suite root, e.g. "
                                 "[\"tests\"]) or models (e.g. [\"bert\"])")
    try:
        targets = [check_target(t, settings.suite_root) for t in body.targets]
    except TargetError as exc:
        raise HTTPException(422, str(exc)) from None
    check_timeout(body.timeout_s, settings)
    check_workers(body.workers, settings)
    check_executor(body.executor, body.hardware, body.workers, body.shards)
    request = body.model_dump()
    request["targets"] = list(dict.fromkeys(targets))
    return await start(manager, "test", request, test_plan, hardware=body.hardware)


async def test_results(job: Job, db: ServiceDB) -> TestResults:
    """Per-test outcomes: from the database once the run ended, from its events while it runs."""
    tests, source = await test_rows(job, db)
    return TestResults(run_id=job.run_id, status=job.status, reason=job.reason,
                       counts=job.live_counts(), source=source, tests=tests)


async def test_rows(job: Job, db: ServiceDB) -> tuple[list[TestRow], Literal["database", "events"]]:
    """A run's test rows and where they came from (a workflow's results use them too)."""
    if job.active or not job.pytest_run_ids:
        rows, source = job.progress.rows(), "events"
    else:
        rows, source = await db.call(data.test_rows, job.pytest_run_ids), "database"
    return [TestRow(**{k: r.get(k) for k in TestRow.model_fields}) for r in rows], source


add_run_routes(router, ws_router, "test", TestResults, test_results,
               status_doc="Status, progress (collected vs done), counts so far, elapsed time and the current test.",
               results_doc="Per-test outcomes: from the database once the run ended, from its events while it runs.",
               cancel_doc="Cancel a queued or running run; its whole process group ends before this answers.")


@router.get("/runs", response_model=RunList)
async def runs(
    db: DBDep,
    manager: ManagerDep,
    status: Annotated[Status | None, Query(description="only runs with this status")] = None,
    kind: Annotated[Literal["test", "benchmark", "workflow"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> RunList:
    """Runs, newest first: status, counts, duration, hardware, start time."""
    kinds = (kind,) if kind else RUN_KINDS
    jobs = await db.call(data.list_jobs, kinds, status, limit)
    # live jobs carry live counts; the stored rows only get them at state changes
    jobs = [manager.live(j.run_id) or j for j in jobs]
    return RunList(runs=[run_summary(j) for j in jobs])


@router.get("/models", response_model=ModelList)
async def models(request: Request) -> ModelList:
    """Model types tests can be generated for, by architecture family."""
    cache = request.app.state.cache
    if "models" not in cache:
        cache["models"] = await asyncio.to_thread(known_models)
    families = cache["models"]
    return ModelList(families=families, count=sum(len(v) for v in families.values()))


@router.get("/hardware", response_model=HardwareList)
async def hardware() -> HardwareList:
    """What each backend offers on this machine right now, with reasons."""
    return await detect_hardware()


@router.get("/matrix", response_model=MatrixBody, responses=NOT_FOUND)
async def matrix(
    db: DBDep,
    manager: ManagerDep,
    run_id: Annotated[str | None, Query(description="one run only (a service run id or a plugin run id); "
                                        "default: latest run per cell")] = None,
) -> MatrixBody:
    """Model x hardware: the latest outcome of each cell, with the tests and run behind it."""
    from pytest_ipfs_accel.matrix import build_matrix
    from pytest_ipfs_accel.store import StoreError, resolve_run_id

    if run_id is not None:
        job = await manager.get(run_id) if re.match(RUN_ID_PATTERN, run_id) else None
        if job is not None and job.pytest_run_ids:
            run_id = job.pytest_run_ids[0]  # a workflow's tests are in its first pytest run

    def build(con):
        ref = resolve_run_id(con, run_id) if run_id else None
        return build_matrix(con, ref).to_dict()

    try:
        body = await db.call(build)
    except StoreError as exc:
        raise HTTPException(404, str(exc)) from None
    await link_cells(manager, body["cells"])
    return MatrixBody(**body)


async def link_cells(manager, cells: list[dict]) -> None:
    """Give each cell the service run behind its plugin run (a workflow's ``<id>-test`` is ``<id>``)."""
    found: dict[str, tuple[str, str] | None] = {}
    for cell in cells:
        plugin_run = cell["run_id"]
        if plugin_run not in found:
            found[plugin_run] = None
            for candidate in dict.fromkeys((plugin_run, plugin_run.rsplit("-", 1)[0])):
                job = await manager.get(candidate) if re.match(RUN_ID_PATTERN, candidate) else None
                if job is not None and plugin_run in job.pytest_run_ids:
                    found[plugin_run] = (job.run_id, job.kind)
                    break
        link = found[plugin_run]
        cell["service_run_id"], cell["service_kind"] = link if link else (None, None)

