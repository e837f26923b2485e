"""The routes every run area has in one shape: ``run``, ``status``, ``results`` and ``cancel`` of a run, its ``ws``.

``/api/test``, ``/api/benchmark`` and ``/api/workflow`` differ only in the run kind they accept, the
results body and the words of their docs: :func:`add_run_routes` registers four routes for one
area, and :data:`START_ROUTE` is the route of each one's own ``POST /run`` (their checks differ).
A fix to how a run is started, looked up, cancelled or streamed lands in all three at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import BaseModel

from api_facade.data import ServiceDB
from api_facade.runs.jobs import Job
from api_facade.web.deps import NOT_FOUND, RUN_SCOPE, DBDep, HubDep, ManagerDep, RunId, find_job
from api_facade.web.routers.common import cancel, serve_events
from api_facade.web.schemas import Accepted, Cancelled, ErrorBody, RunStatus
from api_facade.web.views import run_status

#: the route of every area's ``POST /run``: 202 with :class:`Accepted`, a run token only, 429 when the queue is full
START_ROUTE: dict[str, Any] = {
    "dependencies": RUN_SCOPE, "status_code": 202, "response_model": Accepted, "response_model_exclude_none": True,
    "responses": {429: {"model": ErrorBody, "description": "too many runs queued"}},
}
#: a finished or running job -> the area's results body
ResultsLoader = Callable[[Job, ServiceDB], Awaitable[BaseModel]]


def add_run_routes(router: APIRouter, ws_router: APIRouter, kind: str, results_model: type[BaseModel],
                   load_results: ResultsLoader, *, status_doc: str | None = None, results_doc: str | None = None,
                   cancel_doc: str | None = None) -> None:
    """Register ``GET status/{run_id}``, ``GET results/{run_id}``, ``POST cancel/{run_id}`` on ``router``
    and ``ws/{run_id}`` on ``ws_router``, each for runs of ``kind`` only (another kind: 404 naming its route).
    The ``*_doc`` strings are the routes' OpenAPI descriptions."""

    async def status(run_id: RunId, manager: ManagerDep, hub: HubDep) -> RunStatus:
        job = await find_job(manager, run_id, kind)
        return run_status(job, manager, hub)

    async def results(run_id: RunId, manager: ManagerDep, db: DBDep) -> BaseModel:
        return await load_results(await find_job(manager, run_id, kind), db)

    async def cancel_run(run_id: RunId, manager: ManagerDep) -> Cancelled:
        return await cancel(manager, await find_job(manager, run_id, kind))

    async def events(websocket: WebSocket, run_id: str) -> None:
        await serve_events(websocket, run_id, kind)

    # the names above are FastAPI's operation ids (name + path + method): the same as the areas' own before
    router.add_api_route("/status/{run_id}", status, methods=["GET"], response_model=RunStatus,
                         responses=NOT_FOUND, description=status_doc)
    router.add_api_route("/results/{run_id}", results, methods=["GET"], response_model=results_model,
                         responses=NOT_FOUND, description=results_doc)
    router.add_api_route("/cancel/{run_id}", cancel_run, methods=["POST"], dependencies=RUN_SCOPE,
                         response_model=Cancelled, description=cancel_doc,
                         responses={**NOT_FOUND, 409: {"model": ErrorBody, "description": "the run has ended already"}})
    ws_router.add_api_websocket_route("/ws/{run_id}", events)
