"""Bearer-token checks for HTTP routes and WebSockets, and the WebSocket Origin check.

Tokens are compared with :func:`hmac.compare_digest` so the time taken does not
reveal how much of a guess was right.  Browsers cannot set headers on a
WebSocket, so there the token may come as ``?token=`` or as a subprotocol
``ipfs-accel.bearer.<token>`` (offered next to ``ipfs-accel``, which the
server then selects).

Tokens have scopes (:data:`~api_facade.settings.SCOPES`): ``read`` sees
everything, ``run`` may also start and cancel runs and generate modules; the
main token (``IPFS_ACCEL_TOKEN``) has every scope.  A valid token without the
scope a route needs gets 403 naming that scope.
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, WebSocket
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api_facade.settings import SCOPES, Settings

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
) -> str:
    """Dependency of every ``/api`` route but health: a valid ``Authorization: Bearer`` header.

    Returns the token's scope (any valid token may read).
    """
    if credentials is None:
        raise HTTPException(
            401,
            "missing bearer token: send 'Authorization: Bearer <token>' "
            "(printed by 'ipfs-accel serve', or set with IPFS_ACCEL_TOKEN)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    scope = settings.scope_of(credentials.credentials)
    if scope is None:
        raise HTTPException(401, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
    return scope


def require_run(scope: Annotated[str, Depends(require_token)]) -> None:
    """Dependency of the routes that change something: start or cancel runs, generate modules."""
    if not has_scope(scope, "run"):
        raise HTTPException(403, f"this token has the '{scope}' scope; starting, cancelling and generating "
                                 "need the 'run' scope (IPFS_ACCEL_RUN_TOKEN or IPFS_ACCEL_TOKEN)")


def has_scope(scope: str | None, needed: str) -> bool:
    """Whether ``scope`` includes ``needed`` (``run`` implies ``read``)."""
    return scope is not None and SCOPES.index(scope) >= SCOPES.index(needed)


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
    if settings.scope_of(token) is None:
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
