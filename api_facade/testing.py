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

    def __init__(self, *, log_path: Path | None = None, env: dict[str, str] | None = None,
                 **settings: Any) -> None:
        self.settings = {k: str(v) if isinstance(v, Path) else v for k, v in settings.items()}
        self.settings.setdefault("port", free_port())
        self.port = self.settings["port"]
        self.token = self.settings["token"]
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> ServiceProcess:
        import httpx

        output = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api_facade.testing", json.dumps(self.settings)],
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True, env=self.env,
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

    from api_facade.settings import Settings
    from api_facade.web.app import create_app

    argv = sys.argv[1:] if argv is None else argv
    options = json.loads(argv[0])
    port = options.pop("port")
    log_level = options.pop("log_level", "warning")
    for key in ("allowed_origins",):
        if key in options:
            options[key] = tuple(options[key])
    settings = Settings(port=port, **options)
    os.environ.pop("PYTEST_ADDOPTS", None)
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level=log_level,
                timeout_graceful_shutdown=settings.kill_grace_s + 5)


if __name__ == "__main__":
    main()


#: pytest plugins that cost seconds of start-up per run and that the sample suite does not use
LEAN_ADDOPTS = "-p no:schemathesis -p no:hypothesispytest"

SAMPLE_SUITE: dict[str, str] = {
    "pytest.ini": f"[pytest]\naddopts = {LEAN_ADDOPTS}\n",
    "tests/__init__.py": "",
    "tests/test_fast.py": '''\
import time

import pytest


def test_ok():
    pass


def test_fail():
    assert 1 == 2, "one is not two"


@pytest.mark.parametrize("i", range(3))
def test_param(i):
    time.sleep(0.02)
''',
    "tests/test_many.py": '''\
import pytest


@pytest.mark.parametrize("i", range(60))
def test_many(i):
    assert i >= 0
''',
    "tests/test_slow.py": '''\
"""Sleeps, with a child process, and says where it runs (for cancel/timeout checks)."""
import os
import subprocess
import sys
import time
from pathlib import Path


def test_slow():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    marker = Path(os.environ["FACADE_MARKERS"]) / f"{os.getpid()}.pids"
    marker.write_text(f"{os.getpgid(0)} {os.getpid()} {child.pid}")
    time.sleep(120)
''',
    "tests/test_noise.py": '''\
"""Writes garbage and a burst of events into the run's own event stream (it is untrusted)."""
import os
import sys


def _event_fd():
    for arg in sys.argv:
        if arg.startswith("--ipfs-events=fd:"):
            return int(arg.split(":", 1)[1])
    raise AssertionError("not run by the facade")


def test_noise():
    fd = _event_fd()
    os.write(fd, b"this is not json\\n")
    os.write(fd, b'{"$report_type": "Big", "pad": "' + b"x" * 2_000_000 + b'"}\\n')
    os.write(fd, b"[1, 2, 3]\\n")
    burst = b"".join(b'{"$report_type": "Burst", "i": %d}\\n' % i for i in range(3000))
    os.write(fd, burst)
''',
    "tests/test_nothing.py": "# no tests here\n",
}


def make_suite(root: Path) -> Path:
    """Write :data:`SAMPLE_SUITE` under ``root`` (a suite root for a test service)."""
    for relative, text in SAMPLE_SUITE.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "markers").mkdir(exist_ok=True)
    return root
