"""Errors a client can act on: one-line messages, 4xx for bad input, never a 500 for it.

- :func:`validation_handler` turns Pydantic's error list into one line that
  names each bad field and what it needs.
- :class:`BodyLimit` refuses request bodies over the configured size with a 413
  before the application reads them, and JSON bodies that are not UTF-8 or
  nest deeper than :data:`MAX_JSON_DEPTH` with a 400 that says so.
- :func:`store_busy_handler` answers 503 with ``Retry-After`` when the shared
  store stayed locked past the wait.
- Messages are made safe to encode (a lone surrogate echoed back must not
  turn a 4xx into a 500).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pytest_ipfs_accel.store import StoreError

#: no request body of this API nests deeper than a few levels; deeper is an attack or a mistake
MAX_JSON_DEPTH = 32


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
    if kind == "string_unicode":
        return f"{where}: holds a lone surrogate (a \\ud800-\\udfff escape without its pair): send valid Unicode"
    if kind == "extra_forbidden":
        return f"unknown field '{where}': check its spelling against /docs"
    if kind == "model_attributes_type" or (kind == "dict_type" and where == "body"):
        return "the body must be a JSON object"
    message = str(error.get("msg", "is invalid"))
    message = message.removeprefix("Value error, ")
    return f"{where}: {message}"


def safe_text(text: str) -> str:
    """``text`` with anything UTF-8 cannot carry (lone surrogates) written as ``\\udXXX`` escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _safe_loc(loc: Any) -> list[Any]:
    return [safe_text(p) if isinstance(p, str) else p for p in loc]


async def validation_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    lines = list(dict.fromkeys(safe_text(describe(e)) for e in errors))
    detail = "; ".join(lines) if lines else "invalid request"
    slim = [{"loc": _safe_loc(e.get("loc", ())), "msg": safe_text(describe(e)), "type": e.get("type")}
            for e in errors]
    return JSONResponse({"detail": detail, "errors": slim}, status_code=422)


async def http_error_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """FastAPI's own answer to an ``HTTPException``, with a detail that can always be encoded."""
    detail = safe_text(exc.detail) if isinstance(exc.detail, str) else exc.detail
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))


def json_body_problem(body: bytes) -> str | None:
    """Why a JSON body cannot be read at all (not UTF-8, nested too deep), or ``None``.

    Other syntax errors are left to the app, whose 422 names the position.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (f"the body is not UTF-8 (byte 0x{body[exc.start]:02x} at position {exc.start}): "
                "send JSON encoded as UTF-8")
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return None  # cannot nest deeper than it has brackets (the common, small body)
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    return (f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels; "
                            "no request of this API needs more than a few")
        elif char in "]}":
            depth -= 1
    return None


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
        if body and _is_json(scope):
            problem = json_body_problem(body)
            if problem:
                await _reply(send, 400, problem)
                return
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


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


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


async def store_busy_handler(request: Any, exc: StoreError):
    """The store stayed locked past the wait (or is unusable): a 503 that says so, not a 500."""
    return JSONResponse({"detail": f"the results store is not available right now: {exc}"}, status_code=503,
                        headers={"Retry-After": "5"})
