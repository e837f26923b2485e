"""Errors a client can act on: one-line messages, 4xx for bad input, never a 500 for it.

- :func:`validation_handler` turns Pydantic's error list into one line that
  names each bad field and what it needs.
- :class:`BodyLimit` refuses request bodies over the configured size with a 413
  before the application reads them.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _where(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    if parts and parts[0] in ("query", "path", "header"):
        kind, rest = parts[0], parts[1:]
        return f"{kind} parameter {'.'.join(rest)}" if rest else kind
    return ".".join(parts) if parts else "body"


def describe(error: dict[str, Any]) -> str:
    """One Pydantic error -> ``where: what to fix``."""
    kind = error.get("type", "")
    where = _where(error.get("loc", ()))
    if kind == "json_invalid":
        ctx = error.get("ctx") or {}
        return f"the body is not valid JSON ({ctx.get('error', 'parse error')}): send a JSON object"
    if kind == "missing":
        if where == "body":
            return "a JSON body is required (Content-Type: application/json)"
        return f"{where} is required"
    if kind == "extra_forbidden":
        return f"unknown field '{where}': check its spelling against /docs"
    if kind == "model_attributes_type" or (kind == "dict_type" and where == "body"):
        return "the body must be a JSON object"
    message = str(error.get("msg", "is invalid"))
    message = message.removeprefix("Value error, ")
    return f"{where}: {message}"


async def validation_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    lines = list(dict.fromkeys(describe(e) for e in errors))
    detail = "; ".join(lines) if lines else "invalid request"
    slim = [{"loc": list(e.get("loc", ())), "msg": describe(e), "type": e.get("type")} for e in errors]
    return JSONResponse({"detail": detail, "errors": slim}, status_code=422)


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets 413, read no further."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _reply(send, 400, "the Content-Length header is not a number")
            return
        if declared is not None and declared > self.max_bytes:
            await _reply(send, 413, self._too_large())
            return
        # buffer the (small) body so an oversized stream is refused before the app sees any of it
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _reply(send, 413, self._too_large())
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return f"the request body exceeds {self.max_bytes} bytes; send a smaller request"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


async def _reply(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")],
    })
    await send({"type": "http.response.body", "body": body})
