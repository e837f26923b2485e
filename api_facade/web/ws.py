"""Serving one run's event stream over a WebSocket.

The handshake is refused (HTTP 401/403/404 through the denial-response
extension, or close code 1008 where the server lacks it) before anything is
sent.  Then the socket gets every event after ``since`` — the replay first,
then live ones — each one JSON object with ``seq``; after ``RunFinished`` it is
closed normally (1000).  A subscriber that falls ``subscriber_queue`` events
behind is closed with :data:`~api_facade.runs.hub.SLOW_CONSUMER` and a reason that
says from which ``seq`` to resume.  That close frame queues behind what the
socket holds already, so it can only go out once the client reads again: the
server waits for that up to ``close_wait_s`` (a stalled client would otherwise
see its connection end without a close frame, 1006); so does the normal close.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect, WebSocketState

from api_facade.runs.hub import SLOW_CONSUMER, RunStream
from api_facade.settings import Settings
from api_facade.web.auth import chosen_subprotocol, websocket_denial


async def deny(websocket: WebSocket, status: int, detail: str) -> None:
    """Refuse the handshake with an HTTP status and a JSON reason when the server can."""
    extensions = websocket.scope.get("extensions") or {}
    if "websocket.http.response" in extensions:
        await websocket.send_denial_response(JSONResponse({"detail": detail}, status_code=status))
    else:
        await websocket.close(code=1008, reason=detail[:120])


def parse_since(raw: str | None) -> int | None:
    """``?since=N`` -> N (``None`` when malformed)."""
    if raw is None or raw == "":
        return 0
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


async def admit(websocket: WebSocket, settings: Settings) -> int | None:
    """Check origin, token and ``since``; returns ``since`` or ``None`` after refusing."""
    denial = websocket_denial(websocket, settings)
    if denial is not None:
        await deny(websocket, *denial)
        return None
    since = parse_since(websocket.query_params.get("since"))
    if since is None:
        await deny(websocket, 400, "since must be a non-negative integer (the last seq you received)")
        return None
    return since


async def stream_events(websocket: WebSocket, stream: RunStream, since: int, close_wait_s: float = 60.0) -> None:
    """Send the events of ``stream`` after ``since`` until ``RunFinished``, then close."""
    await websocket.accept(subprotocol=chosen_subprotocol(websocket))
    backlog, subscriber = stream.subscribe(since)
    cursor = _Cursor(since)
    try:
        sender = asyncio.ensure_future(_send_all(websocket, backlog, subscriber, cursor))
        listener = asyncio.ensure_future(_until_disconnect(websocket))
        waiters = {sender, listener}
        dropped = None
        if subscriber is not None:
            dropped = asyncio.ensure_future(subscriber.dropped.wait())
            waiters.add(dropped)
        done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if sender in done and sender.exception() is None:
            await _close(websocket, 1000, "run finished", close_wait_s)
        elif dropped is not None and dropped in done:
            await _close(websocket, SLOW_CONSUMER, f"too slow: reconnect with since={cursor.seq}", close_wait_s)
    finally:
        stream.unsubscribe(subscriber)


class _Cursor:
    """The seq of the last event handed to the socket."""

    def __init__(self, seq: int) -> None:
        self.seq = seq


async def _send_all(websocket: WebSocket, backlog, subscriber, cursor: _Cursor) -> None:
    for seq, text, last in backlog:
        await websocket.send_text(text)
        cursor.seq = seq
        if last:
            return
    if subscriber is None:
        return
    while True:
        seq, text, last = await subscriber.queue.get()
        await websocket.send_text(text)
        cursor.seq = seq
        if last:
            return


async def _until_disconnect(websocket: WebSocket) -> None:
    # clients send nothing we need; reading notices a closed socket at once
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


async def _close(websocket: WebSocket, code: int, reason: str, wait_s: float = 5.0) -> None:
    # the server sends a close only when the socket takes writes again (the client reads)
    if websocket.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(websocket.close(code=code, reason=reason), wait_s)
