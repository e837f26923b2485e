"""Bearer-token checks for HTTP routes and WebSockets, and the WebSocket Origin check.

Tokens are compared with :func:`hmac.compare_digest` so the time taken does not
reveal how much of a guess was right.  Browsers cannot set headers on a
WebSocket, so there the token may come as ``?token=`` or as a subprotocol
``ipfs-accel.bearer.<token>`` (offered next to ``ipfs-accel``, which the
server then selects).
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, WebSocket
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api_facade.settings import Settings

WS_PROTOCOL = "ipfs-accel"
WS_TOKEN_PREFIX = "ipfs-accel.bearer."

_bearer = HTTPBearer(auto_error=False, description="the token printed by `ipfs-accel serve` (or IPFS_ACCEL_TOKEN)")


def get_settings(request: Request) -> Settings:
    """The settings of the app serving this request (a dependency tests may override)."""
    return request.app.state.settings


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the expected one."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def require_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> None:
    """Dependency of every ``/api`` route but health: a valid ``Authorization: Bearer`` header."""
    if credentials is None:
        raise HTTPException(
            401,
            "missing bearer token: send 'Authorization: Bearer <token>' "
            "(printed by 'ipfs-accel serve', or set with IPFS_ACCEL_TOKEN)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not token_matches(credentials.credentials, settings.token):
        raise HTTPException(401, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"})


def websocket_denial(websocket: WebSocket, settings: Settings) -> tuple[int, str] | None:
    """Why this WebSocket handshake must be refused, as ``(http_status, message)``, or ``None``."""
    if not origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host"), settings):
        return 403, "cross-origin WebSocket refused: connect from the page served by this service"
    token = websocket.query_params.get("token")
    if token is None:
        token = next((p[len(WS_TOKEN_PREFIX):] for p in offered_subprotocols(websocket)
                      if p.startswith(WS_TOKEN_PREFIX)), None)
    if token is None:
        return 401, f"missing token: add ?token=<token> or offer the subprotocol '{WS_TOKEN_PREFIX}<token>'"
    if not token_matches(token, settings.token):
        return 401, "invalid token"
    return None


def offered_subprotocols(websocket: WebSocket) -> list[str]:
    header = websocket.headers.get("sec-websocket-protocol", "")
    return [p.strip() for p in header.split(",") if p.strip()]


def chosen_subprotocol(websocket: WebSocket) -> str | None:
    """The subprotocol to answer with: browsers fail a handshake that offered some and got none."""
    offered = offered_subprotocols(websocket)
    if WS_PROTOCOL in offered:
        return WS_PROTOCOL
    return offered[0] if offered else None


def origin_allowed(origin: str | None, host: str | None, settings: Settings) -> bool:
    """Same host (and port) as the service, or explicitly configured; no Origin = not a browser."""
    if origin is None:
        return True  # non-browser clients send none; they still need the token
    origin = origin.strip().rstrip("/")
    if origin in settings.allowed_origins:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc or not host:
        return False
    return _netloc(parts.netloc, parts.scheme) == _netloc(host.strip(), parts.scheme)


def _netloc(netloc: str, scheme: str) -> str:
    # "host" and "host:80" name the same place for http; compare them alike
    default = ":443" if scheme == "https" else ":80"
    netloc = netloc.lower()
    return netloc[: -len(default)] if netloc.endswith(default) else netloc
