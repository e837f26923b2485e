"""``ipfs-accel serve``: the API facade and dashboard (FastAPI on uvicorn).

The facade owns its command; ``pytest_ipfs_accel.cli`` finds it by its module
path (``api_facade.command``) in its table and imports it only when chosen, so
the plugin package never imports the facade.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from pytest_ipfs_accel.cli import CommandError
from pytest_ipfs_accel.options import DEFAULT_DB


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument("--db", type=Path, default=DEFAULT_DB,
                        help=f"the service's DuckDB file (default: {DEFAULT_DB})")
    parser.add_argument("--suite-root", type=Path, default=Path("."),
                        help="runs may only target paths under this folder (default: the current folder)")
    parser.add_argument("--max-runs", type=int, default=2, help="runs at once; more queue (default 2)")
    parser.add_argument("--max-run-time", type=float, default=3600.0,
                        help="longest timeout_s a run may ask for, in seconds (default 3600)")
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from api_facade.settings import TOKEN_ENV, Settings
        from api_facade.web.app import create_app
    except ImportError as exc:
        raise CommandError(f"the facade needs its extras: pip install 'pytest-ipfs-accel[serve]' ({exc})") from None
    from pytest_ipfs_accel import store

    suite_root = args.suite_root.expanduser()
    if not suite_root.is_dir():
        raise CommandError(f"--suite-root {suite_root} is not a folder")
    if not 0 <= args.port <= 65535:
        raise CommandError(f"--port {args.port} is not a port number (0-65535)")
    if args.max_runs < 1:
        raise CommandError("--max-runs must be at least 1")
    if args.max_run_time <= 0:
        raise CommandError("--max-run-time must be positive")
    # fail now, in one line, if the database cannot be ours (locked, not DuckDB)
    store.open_store(args.db).close()
    try:
        settings = Settings.from_env(
            db_path=args.db, suite_root=suite_root, host=args.host, port=args.port,
            max_concurrent_runs=args.max_runs, max_run_time_s=args.max_run_time,
            default_run_time_s=min(1800.0, args.max_run_time),
        )
    except ValueError as exc:  # a bad token file or scope: say where, in one line
        raise CommandError(str(exc)) from None
    if not _is_loopback(args.host):
        print(f"ipfs-accel serve: warning: --host {args.host} lets other machines reach the API "
              "(they still need the token)", file=sys.stderr)
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    source = f"from {TOKEN_ENV}" if not settings.token_generated else f"generated; set {TOKEN_ENV} to choose one"
    print(f"ipfs-accel serve: suite root {settings.suite_root}, database {settings.db_path}", flush=True)
    if settings.token_generated:
        print(f"ipfs-accel serve: token ({source}): {settings.token}", flush=True)
        print(f"ipfs-accel serve: dashboard: http://{shown}:{args.port}/?token={settings.token}", flush=True)
    else:
        print(f"ipfs-accel serve: token {source}; dashboard: http://{shown}:{args.port}/", flush=True)
    if settings.scoped_tokens:
        scopes = [scope for scope, _ in settings.scoped_tokens]
        print(f"ipfs-accel serve: {scopes.count('read')} read and {scopes.count('run')} run token(s) "
              "besides the full-access one", flush=True)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level,
                ws_max_size=1 << 20, timeout_graceful_shutdown=settings.kill_grace_s + 5)
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
