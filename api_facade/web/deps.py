"""Dependencies shared by the routers (tests may override any of them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request

from api_facade.data import ServiceDB
from api_facade.runs.hub import Hub
from api_facade.runs.jobs import PREFIX, Job
from api_facade.runs.manager import RunManager
from api_facade.settings import Settings
from api_facade.web.auth import get_settings, require_run
from api_facade.web.schemas import RUN_ID_PATTERN, ErrorBody

__all__ = ["get_settings", "get_manager", "get_db", "get_hub", "RunId", "ERRORS", "RUN_SCOPE", "find_job",
           "SettingsDep", "ManagerDep", "DBDep", "HubDep"]


def get_manager(request: Request) -> RunManager:
    return request.app.state.manager


def get_db(request: Request) -> ServiceDB:
    return request.app.state.db


def get_hub(request: Request) -> Hub:
    return request.app.state.hub


SettingsDep = Annotated[Settings, Depends(get_settings)]
ManagerDep = Annotated[RunManager, Depends(get_manager)]
DBDep = Annotated[ServiceDB, Depends(get_db)]
HubDep = Annotated[Hub, Depends(get_hub)]

RunId = Annotated[str, Path(pattern=RUN_ID_PATTERN, description="the id returned when the run was started")]

#: documented error responses of authenticated routes
ERRORS = {
    401: {"model": ErrorBody, "description": "missing or invalid bearer token"},
    403: {"model": ErrorBody, "description": "the token lacks the scope this route needs"},
    422: {"model": ErrorBody, "description": "invalid input; `detail` says what to fix"},
}
#: the dependency of routes that start, cancel or generate (a read token gets 403)
RUN_SCOPE = [Depends(require_run)]
NOT_FOUND = {404: {"model": ErrorBody, "description": "no such run or task"}}

async def find_job(manager: RunManager, run_id: str, kind: str, noun: str = "run") -> Job:
    """The job ``run_id`` of ``kind``; 404 naming the right route when it has another kind."""
    job = await manager.get(run_id)
    if job is None:
        raise HTTPException(404, f"no {noun} with id {run_id!r}")
    if job.kind != kind:
        raise HTTPException(404, f"{run_id!r} is a {job.kind} job: use {PREFIX[job.kind]}/...")
    return job
