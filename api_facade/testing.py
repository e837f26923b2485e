"""A real facade server in a subprocess, for tests and benchmark scripts.

``ServiceProcess`` starts ``python -m api_facade.testing SETTINGS_JSON`` (a
uvicorn on 127.0.0.1 and a free port), waits until ``/api/health`` answers,
and stops it with SIGINT (a graceful shutdown) or SIGKILL (a crash) on request.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceProcess:
    """``with ServiceProcess(db_path=..., suite_root=..., token=...) as svc: svc.url``."""

    def __init__(self, *, log_path: Path | None = None, **settings: Any) -> None:
        self.settings = {k: str(v) if isinstance(v, Path) else v for k, v in settings.items()}
        self.settings.setdefault("port", free_port())
        self.port = self.settings["port"]
        self.token = self.settings["token"]
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> ServiceProcess:
        import httpx

        output = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api_facade.testing", json.dumps(self.settings)],
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )
        if self.log_path:
            output.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited with {self.process.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the service did not answer within {timeout} s; see {self.log_path}")

    def stop(self, crash: bool = False, timeout: float = 30.0) -> int | None:
        """SIGINT and wait (graceful), or SIGKILL at once (``crash``)."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGKILL if crash else signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Run uvicorn with ``Settings(**json.loads(argv[0]))``."""
    import uvicorn

    from api_facade.app import create_app
    from api_facade.settings import Settings

    argv = sys.argv[1:] if argv is None else argv
    options = json.loads(argv[0])
    port = options.pop("port")
    for key in ("allowed_origins",):
        if key in options:
            options[key] = tuple(options[key])
    settings = Settings(port=port, **options)
    os.environ.pop("PYTEST_ADDOPTS", None)
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                timeout_graceful_shutdown=settings.kill_grace_s + 5)


if __name__ == "__main__":
    main()
