"""``/api/workflow``: generate -> test -> benchmark a model with one status and one event stream."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api_facade.data import ServiceDB
from api_facade.runs.jobs import PREFIX, Job
from api_facade.runs.plans import failed_step, workflow_plan
from api_facade.web.auth import require_token
from api_facade.web.deps import ERRORS, ManagerDep, SettingsDep
from api_facade.web.requests import WorkflowRequest
from api_facade.web.routers.benchmark import benchmark_rows
from api_facade.web.routers.common import start_timed
from api_facade.web.routers.run_routes import START_ROUTE, add_run_routes
from api_facade.web.routers.test import test_rows
from api_facade.web.schemas import Accepted, WorkflowResults
from api_facade.web.views import job_steps

router = APIRouter(prefix=PREFIX["workflow"], tags=["workflow"], dependencies=[Depends(require_token)],
                   responses=ERRORS)
ws_router = APIRouter(prefix=PREFIX["workflow"], tags=["workflow"])


@router.post("/run", **START_ROUTE)
async def start_workflow(body: WorkflowRequest, settings: SettingsDep, manager: ManagerDep) -> Accepted:
    """Generate tests and benchmarks for the model, run the tests, then the benchmarks."""
    return await start_timed(manager, settings, "workflow", body, workflow_plan)


async def workflow_results(job: Job, db: ServiceDB) -> WorkflowResults:
    """The chain's steps (which failed and why), its test rows, its benchmark rows and generated files."""
    tests, _ = await test_rows(job, db)
    return WorkflowResults(
        run_id=job.run_id, status=job.status, reason=job.reason, failed_step=failed_step(job.steps),
        steps=job_steps(job),
        counts=job.live_counts(), tests=tests, benchmarks=await benchmark_rows(job, db), files=job.files,
    )


add_run_routes(router, ws_router, "workflow", WorkflowResults, workflow_results,
               status_doc="One status for the whole chain; ``steps`` says where it is or which step failed and why.")
