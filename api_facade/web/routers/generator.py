"""``/api/generator``: write test modules for models under the suite root's generated folder."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, WebSocket
from fastapi.responses import PlainTextResponse

from api_facade.runs.jobs import PREFIX
from api_facade.runs.module_writer import template_names, test_types
from api_facade.runs.plans import generate_plan
from api_facade.web.auth import require_token
from api_facade.web.deps import (
    ERRORS,
    NOT_FOUND,
    RUN_SCOPE,
    HubDep,
    ManagerDep,
    SettingsDep,
    find_job,
)
from api_facade.web.requests import GenerateBatchRequest, GenerateRequest
from api_facade.web.routers.common import cancel, detect_hardware, serve_events, start
from api_facade.web.schemas import (
    RUN_ID_PATTERN,
    Accepted,
    ErrorBody,
    GeneratedFile,
    HardwareList,
    TaskCancelled,
    TaskResult,
    TaskStatus,
    Templates,
)
from api_facade.web.views import task_status

router = APIRouter(prefix=PREFIX["generate"], tags=["generator"], dependencies=[Depends(require_token)],
                   responses=ERRORS)
ws_router = APIRouter(prefix=PREFIX["generate"], tags=["generator"])

TaskId = Annotated[str, Path(pattern=RUN_ID_PATTERN, description="the id returned when the task was started")]


@router.post("/model", dependencies=RUN_SCOPE, status_code=202, response_model=Accepted, response_model_exclude_none=True)
async def generate_model(body: GenerateRequest, manager: ManagerDep) -> Accepted:
    """Generate the module of one model; its path is a target for ``POST /api/test/run``."""
    return await start(manager, "generate", body.model_dump(), generate_plan, uses_slot=False)


@router.post("/batch", dependencies=RUN_SCOPE, status_code=202, response_model=Accepted, response_model_exclude_none=True)
async def generate_batch(body: GenerateBatchRequest, manager: ManagerDep) -> Accepted:
    """Generate modules for several models in one task (it stops at the first that fails)."""
    return await start(manager, "generate", body.model_dump(), generate_plan, uses_slot=False)


@router.post("/cancel/{task_id}", dependencies=RUN_SCOPE, response_model=TaskCancelled,
             responses={**NOT_FOUND, 409: {"model": ErrorBody, "description": "the task has ended already"}})
async def cancel_task(task_id: TaskId, manager: ManagerDep) -> TaskCancelled:
    """Cancel a generator task; a module being written is finished first, the rest are not started."""
    done = await cancel(manager, await find_job(manager, task_id, "generate", "task"))
    return TaskCancelled(task_id=done.run_id, status=done.status, reason=done.reason)


@router.get("/status/{task_id}", response_model=TaskStatus, responses=NOT_FOUND)
async def status(task_id: TaskId, manager: ManagerDep, hub: HubDep) -> TaskStatus:
    job = await find_job(manager, task_id, "generate", "task")
    return task_status(job, hub)


@router.get("/result/{task_id}", response_model=TaskResult, responses=NOT_FOUND)
async def result(task_id: TaskId, manager: ManagerDep) -> TaskResult:
    """The files a task wrote (paths relative to the suite root)."""
    job = await find_job(manager, task_id, "generate", "task")
    return TaskResult(task_id=job.run_id, status=job.status, reason=job.reason,
                      files=[GeneratedFile(path=p) for p in job.files])


@router.get("/file/{task_id}", response_class=PlainTextResponse,
            responses={**NOT_FOUND, 200: {"content": {"text/x-python": {}}, "description": "the module's source"},
                       409: {"model": ErrorBody, "description": "the task has not written it yet"}})
async def file(
    task_id: TaskId,
    settings: SettingsDep,
    manager: ManagerDep,
    path: Annotated[str | None, Query(max_length=500, description="one of the task's files; "
                                      "may be left out when it wrote exactly one")] = None,
) -> PlainTextResponse:
    """The source of a generated module."""
    job = await find_job(manager, task_id, "generate", "task")
    if path is None:
        if len(job.files) != 1:
            raise HTTPException(409 if not job.files else 422,
                                "the task wrote no file yet" if not job.files
                                else f"the task wrote {len(job.files)} files: pass ?path= with one of them")
        path = job.files[0]
    if path not in job.files:
        raise HTTPException(404, f"{path!r} is not a file of task {task_id}; its files: {job.files}")
    target = settings.suite_root / path
    try:
        text = await asyncio.to_thread(target.read_text, encoding="utf-8")
    except OSError:
        raise HTTPException(404, f"{path} no longer exists under the suite root") from None
    return PlainTextResponse(text, media_type="text/x-python")


@router.get("/templates", response_model=Templates)
async def templates() -> Templates:
    """The test types and the Jinja2 templates modules are rendered from."""
    return Templates(test_types=list(test_types()), templates=template_names())


@router.get("/hardware", response_model=HardwareList)
async def hardware() -> HardwareList:
    return await detect_hardware()


@ws_router.websocket("/ws/{task_id}")
async def events(websocket: WebSocket, task_id: str) -> None:
    await serve_events(websocket, task_id, "generate")
