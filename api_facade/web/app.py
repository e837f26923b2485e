"""``create_app(settings)``: the one FastAPI application of the facade.

Everything the app holds (database, event hub, run manager) is created in its
lifespan from ``settings`` and kept on ``app.state``; routes reach them
through dependencies, so two apps in one process never share anything.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from api_facade.data import ServiceDB
from api_facade.runs.hub import Hub
from api_facade.runs.manager import RunManager
from api_facade.settings import SCOPES, Settings
from api_facade.web import logredact
from api_facade.web.auth import has_scope, require_token
from api_facade.web.deps import ERRORS
from api_facade.web.errors import (
    BodyLimit,
    http_error_handler,
    store_busy_handler,
    validation_handler,
)
from api_facade.web.routers import benchmark, generator, test, workflow
from api_facade.web.schemas import Health, TokenScope
from pytest_ipfs_accel.store import StoreError

log = logging.getLogger("api_facade")

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"  # api_facade/static

DESCRIPTION = """Runs pytest sessions of the pytest-ipfs-accel plugin as subprocesses, streams their
events over WebSockets and serves results out of DuckDB.

Every `/api` route but `/api/health` needs `Authorization: Bearer <token>` (WebSockets: `?token=` or
the subprotocol `ipfs-accel.bearer.<token>`). Statuses: `queued running passed failed error
cancelled timeout interrupted`."""


def create_app(settings: Settings) -> FastAPI:
    """Build the app; nothing is opened until it starts (its lifespan)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        logredact.install()  # uvicorn has configured its loggers by now
        settings.runs_dir.mkdir(parents=True, exist_ok=True)
        db = ServiceDB(settings.db_path)
        hub = Hub(settings.runs_dir, settings.subscriber_queue, settings.events_in_memory)
        manager = RunManager(settings, db, hub)
        recovered = manager.recover()
        if recovered:
            log.warning("marked %d run(s) of the previous service interrupted: %s",
                        len(recovered), ", ".join(recovered))
        app.state.db, app.state.hub, app.state.manager = db, hub, manager
        try:
            yield
        finally:
            await manager.shutdown()
            hub.close()
            db.close()

    from pytest_ipfs_accel import __version__

    app = FastAPI(title="pytest-ipfs-accel facade", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan)
    app.state.settings = settings
    app.state.cache = {}
    app.add_exception_handler(RequestValidationError, validation_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(StoreError, store_busy_handler)  # the shared store stayed locked
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)

    @app.get("/api/health", response_model=Health, tags=["service"])
    async def health(request: Request) -> Health:
        """Liveness; needs no token and tells nothing about runs but how many there are."""
        manager: RunManager = request.app.state.manager
        return Health(status="ok", version=__version__, active_runs=manager.slots.used,
                      queued_runs=manager.slots.waiting)

    @app.get("/api/token", response_model=TokenScope, tags=["service"], responses=ERRORS)
    async def token_scope(scope: Annotated[str, Depends(require_token)]) -> TokenScope:
        """What the presented token may do (the dashboard hides the rest)."""
        return TokenScope(scope=scope, scopes=[s for s in SCOPES if has_scope(scope, s)])

    for module in (test, generator, benchmark, workflow):
        app.include_router(module.router)
        app.include_router(module.ws_router)

    @app.get("/", include_in_schema=False)
    async def dashboard():
        index = STATIC_DIR / "index.html"
        if not index.exists():
            return HTMLResponse("<!doctype html><title>ipfs-accel</title><p>No dashboard is installed; "
                                "the API is documented at <a href='docs'>/docs</a>.</p>")
        return FileResponse(index, media_type="text/html")

    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
