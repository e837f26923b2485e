"""Pieces every router uses: checks of run requests, starting jobs, streaming, cancelling."""

from __future__ import annotations

import asyncio
import importlib.util
import re
from typing import Any

from fastapi import HTTPException, WebSocket

from api_facade.runs.context import Plan
from api_facade.runs.hub import Hub
from api_facade.runs.jobs import PREFIX, Job
from api_facade.runs.manager import RunManager
from api_facade.runs.slots import QueueFull
from api_facade.settings import Settings
from api_facade.web.schemas import RUN_ID_PATTERN, Accepted, Cancelled, HardwareInfo, HardwareList
from api_facade.web.ws import admit, deny, stream_events


def check_timeout(timeout_s: float | None, settings: Settings) -> None:
    if timeout_s is not None and timeout_s > settings.max_run_time_s:
        raise HTTPException(422, f"timeout_s: at most {settings.max_run_time_s:g} s is allowed on this service")


#: batch size x sequence length of the largest benchmark case a request may ask for
MAX_SHAPE_ELEMENTS = 1 << 18


def check_shape(batch_sizes: list[int], seq_lens: list[int]) -> None:
    """422 when the largest case asked for is too big to be a sane benchmark on any machine."""
    largest = max(batch_sizes) * max(seq_lens)
    if largest > MAX_SHAPE_ELEMENTS:
        raise HTTPException(422, f"batch size x sequence length may be at most {MAX_SHAPE_ELEMENTS}; "
                                 f"{max(batch_sizes)} x {max(seq_lens)} = {largest}")


def check_workers(workers: int, settings: Settings) -> None:
    if workers > settings.max_workers:
        raise HTTPException(422, f"workers: at most {settings.max_workers} are allowed on this service")
    if workers and importlib.util.find_spec("xdist") is None:
        raise HTTPException(422, "workers needs pytest-xdist, which is not installed here: "
                                 "pip install pytest-xdist, or send workers: 0")


#: what the ray executor needs on the service's machine
RAY_INSTALL_HINT = "pip install 'pytest-ipfs-accel[ray]'"


def check_executor(executor: str, hardware: list[str], workers: int, shards: int | None) -> None:
    """422 for an executor the request cannot use: Ray missing, hardware not explicit, local-only options."""
    if executor != "ray":
        if shards is not None:
            raise HTTPException(422, "shards: only a run with executor 'ray' is sharded; drop shards "
                                     "or send executor: 'ray'")
        return
    if importlib.util.find_spec("ray") is None:
        raise HTTPException(422, f"executor 'ray' needs Ray on the service's machine, which is not "
                                 f"installed: {RAY_INSTALL_HINT}, or send executor: 'local'")
    if not hardware or set(hardware) & {"auto", "all"}:
        raise HTTPException(422, "executor 'ray' needs explicit hardware (e.g. [\"cpu\", \"cuda\"]), not "
                                 "auto/all: every node must collect the same test ids")
    if workers:
        raise HTTPException(422, "workers: a ray run is split into shards, not xdist workers; send shards "
                                 "instead, or workers: 0")


async def start(manager: RunManager, kind: str, request: dict[str, Any], plan: Plan, *,
                hardware: list[str] | None = None, uses_slot: bool = True) -> Accepted:
    try:
        job = await manager.submit(kind, request, plan, hardware=hardware, uses_slot=uses_slot)
    except QueueFull as exc:
        raise HTTPException(429, str(exc)) from None
    ids = {"task_id": job.run_id} if kind == "generate" else {"run_id": job.run_id}
    return Accepted(**ids, status=job.status, queue_position=manager.queue_position(job.run_id),
                    events=f"{PREFIX[kind]}/ws/{job.run_id}")


async def start_timed(manager: RunManager, settings: Settings, kind: str, body: Any, plan: Plan) -> Accepted:
    """Start a run that generates and times benchmark cases (``benchmark``, ``workflow``): its timeout
    and its largest shape are checked first."""
    check_timeout(body.timeout_s, settings)
    check_shape(body.batch_sizes, body.seq_lens)
    return await start(manager, kind, body.model_dump(), plan, hardware=body.hardware)


async def cancel(manager: RunManager, job: Job) -> Cancelled:
    if not job.active:
        raise HTTPException(409, f"{job.run_id} has already ended ({job.status}); nothing to cancel")
    job = await manager.cancel(job.run_id) or job
    return Cancelled(run_id=job.run_id, status=job.status, reason=job.reason)


async def serve_events(websocket: WebSocket, run_id: str, kind: str) -> None:
    """The ``ws/{id}`` route of every area."""
    app = websocket.app
    since = await admit(websocket, app.state.settings)
    if since is None:
        return
    manager: RunManager = app.state.manager
    hub: Hub = app.state.hub
    job = await manager.get(run_id) if re.match(RUN_ID_PATTERN, run_id) else None
    if job is None or job.kind != kind:
        await deny(websocket, 404, f"no {kind} run or task with id {run_id!r}")
        return
    await stream_events(websocket, hub.get(run_id), since, app.state.settings.slow_close_wait_s)


async def detect_hardware() -> HardwareList:
    """Live detection, in a worker thread (detectors may import torch)."""
    from hardware_markers import default_registry

    found = await asyncio.to_thread(lambda: default_registry().detect_all())
    return HardwareList(hardware=[HardwareInfo(**hw.fingerprint()) for hw in found])
