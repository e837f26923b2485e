"""``/api/workflow``: generate -> test -> benchmark a model with one status and one event stream."""

from __future__ import annotations

from fastapi import APIRouter, Depends, WebSocket

from api_facade import data
from api_facade.runs.jobs import PREFIX
from api_facade.runs.plans import failed_step, workflow_plan
from api_facade.web.auth import require_token
from api_facade.web.deps import (
    ERRORS,
    NOT_FOUND,
    RUN_SCOPE,
    DBDep,
    HubDep,
    ManagerDep,
    RunId,
    SettingsDep,
    find_job,
)
from api_facade.web.requests import WorkflowRequest
from api_facade.web.routers.benchmark import benchmark_rows
from api_facade.web.routers.common import cancel, check_shape, check_timeout, serve_events, start
from api_facade.web.schemas import (
    Accepted,
    Cancelled,
    ErrorBody,
    RunStatus,
    Step,
    TestRow,
    WorkflowResults,
)
from api_facade.web.views import run_status

router = APIRouter(prefix=PREFIX["workflow"], tags=["workflow"], dependencies=[Depends(require_token)],
                   responses=ERRORS)
ws_router = APIRouter(prefix=PREFIX["workflow"], tags=["workflow"])


@router.post("/run", dependencies=RUN_SCOPE, status_code=202, response_model=Accepted, response_model_exclude_none=True,
             responses={429: {"model": ErrorBody, "description": "too many runs queued"}})
async def start_workflow(body: WorkflowRequest, settings: SettingsDep, manager: ManagerDep) -> Accepted:
    """Generate tests and benchmarks for the model, run the tests, then the benchmarks."""
    check_timeout(body.timeout_s, settings)
    check_shape(body.batch_sizes, body.seq_lens)
    return await start(manager, "workflow", body.model_dump(), workflow_plan, hardware=body.hardware)


@router.get("/status/{run_id}", response_model=RunStatus, responses=NOT_FOUND)
async def status(run_id: RunId, manager: ManagerDep, hub: HubDep) -> RunStatus:
    """One status for the whole chain; ``steps`` says where it is or which step failed and why."""
    job = await find_job(manager, run_id, "workflow")
    return run_status(job, manager, hub)


@router.get("/results/{run_id}", response_model=WorkflowResults, responses=NOT_FOUND)
async def results(run_id: RunId, manager: ManagerDep, db: DBDep) -> WorkflowResults:
    job = await find_job(manager, run_id, "workflow")
    if job.active or not job.pytest_run_ids:
        rows = job.progress.rows()
    else:
        rows = await db.call(data.test_rows, job.pytest_run_ids)
    return WorkflowResults(
        run_id=job.run_id, status=job.status, reason=job.reason, failed_step=failed_step(job.steps),
        steps=[Step(**{k: v for k, v in s.items() if k in Step.model_fields}) for s in job.steps],
        counts=job.live_counts(),
        tests=[TestRow(**{k: r.get(k) for k in TestRow.model_fields}) for r in rows],
        benchmarks=await benchmark_rows(job, db), files=job.files,
    )


@router.post("/cancel/{run_id}", dependencies=RUN_SCOPE, response_model=Cancelled,
             responses={**NOT_FOUND, 409: {"model": ErrorBody, "description": "the run has ended already"}})
async def cancel_run(run_id: RunId, manager: ManagerDep) -> Cancelled:
    return await cancel(manager, await find_job(manager, run_id, "workflow"))


@ws_router.websocket("/ws/{run_id}")
async def events(websocket: WebSocket, run_id: str) -> None:
    await serve_events(websocket, run_id, "workflow")
