"""The facade's test plumbing, in one place: a real service per test module, clients, helpers.

Registered as a plugin by the root ``conftest.py`` (``pytest_plugins``), so every
test module may ask for these fixtures; helpers are imported from here
(``from tests.facade_fixtures import ...``).  Not a test module (no ``test_`` prefix).

- ``facade``: a real uvicorn (:class:`api_facade.testing.ServiceProcess`) on
  127.0.0.1 for the module, with ``.root`` (its suite) and ``.data`` (its
  database, log and run folders).  A module shapes it by overriding
  ``facade_settings`` (``Settings`` fields, ``env``, ``log_level``) and
  ``facade_suite`` (the suite root it serves; default: the sample suite).
- ``facade_client`` (:class:`api_facade.client.Client`) and ``facade_http`` (a
  bare ``httpx.Client`` without a token, for auth checks) talk to it.
- :class:`ServeCommand`: ``ipfs-accel serve`` itself in a subprocess (the dashboard tests).
- Process helpers for cancel/timeout/restart checks: :func:`wait_for_marker`,
  :func:`process_group`, :func:`alive`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from api_facade.client import TERMINAL, Client
from api_facade.testing import ServiceProcess, free_port, make_suite

REPO = Path(__file__).resolve().parents[1]
#: the token of the module's service (``facade_settings`` may set another)
TOKEN = "facade-test-token"


def auth(token: str = TOKEN) -> dict[str, str]:
    """The Authorization header of ``token``."""
    return {"Authorization": f"Bearer {token}"}


def seqs(events: list[dict]) -> list[int]:
    """The ``seq`` of each event (a stream's numbering: 1, 2, 3, ... with no gap)."""
    return [e["seq"] for e in events]


# ------------------------------------------------------------------ one service per module


@pytest.fixture(scope="module")
def facade_settings() -> dict[str, Any]:
    """What the module's service differs in from the defaults (override it in a test module)."""
    return {}


@pytest.fixture(scope="module")
def facade_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite root the module's service runs (override it to add test modules)."""
    return make_suite(tmp_path_factory.mktemp("suite"))


@pytest.fixture(scope="module")
def facade(tmp_path_factory: pytest.TempPathFactory, facade_suite: Path,
           facade_settings: dict[str, Any]) -> Iterator[ServiceProcess]:
    """A real service for the module (uvicorn on 127.0.0.1), stopped gracefully after it."""
    data = tmp_path_factory.mktemp("data")
    settings = {"db_path": data / "service.duckdb", "suite_root": facade_suite, "token": TOKEN,
                "log_path": data / "service.log", **facade_settings}
    with ServiceProcess(**settings) as service:
        service.root = facade_suite
        service.data = data
        yield service


@pytest.fixture(scope="module")
def facade_client(facade: ServiceProcess) -> Iterator[Client]:
    """The Python client of the module's service, with its token."""
    with Client(facade.url, token=facade.token) as client:
        yield client


@pytest.fixture(scope="module")
def facade_http(facade: ServiceProcess) -> Iterator[httpx.Client]:
    """A bare HTTP client of the module's service: no token unless a request adds one."""
    with httpx.Client(base_url=facade.url, timeout=60) as client:
        yield client


# ------------------------------------------------------------------ processes of runs


def wait_for_marker(root: Path, before: Iterable[str] = (), timeout: float = 60.0) -> tuple[int, int, int]:
    """(pgid, pid, child pid) that the sample suite's slow test writes once it runs; markers named in
    ``before`` (file names under ``root/markers``) are older runs' and are skipped."""
    seen = set(before)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = {p.name for p in (root / "markers").glob("*.pids")} - seen
        for name in sorted(new):
            parts = (root / "markers" / name).read_text().split()
            if len(parts) == 3:
                return tuple(int(x) for x in parts)  # type: ignore[return-value]
        time.sleep(0.05)
    raise AssertionError("the slow test never started")


def markers(root: Path) -> set[str]:
    """The slow-test markers written so far (to pass as ``before``)."""
    return {p.name for p in (root / "markers").glob("*.pids")}


def alive(pids: Iterable[int]) -> list[int]:
    """Those of ``pids`` still running (zombies count as gone)."""
    found = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                found.append(pid)
        except psutil.NoSuchProcess:
            pass
    return found


def process_group(pgid: int) -> list[int]:
    """The live members of process group ``pgid``."""
    found = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except (ProcessLookupError, psutil.Error):
            pass
    return found


# ------------------------------------------------------------------ the dashboard's browser tests

#: Debian's Chromium (scripts/install_chromium.sh); IPFS_ACCEL_CHROMIUM points elsewhere
CHROMIUM = Path(os.environ.get("IPFS_ACCEL_CHROMIUM", "/usr/bin/chromium"))
#: flags for a headless Chromium that phones nowhere (no updates, sync or field trials)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# A sample suite the service runs (CPU work on hashes standing in for models,
# named sample/* so no screenshot passes it off as a real model): tests that
# pass on cpu, one real failure and one skip (so the matrix has every colour),
# and benchmarks over
# batch size x sequence length whose work grows with a factor read from
# work_factor.txt: raising the factor between two runs makes a real, measured
# regression for the history chart and the side-by-side comparison.
SUITE_FILES = {
    "workload.py": '''
import hashlib
from pathlib import Path

WORK_FACTOR = int((Path(__file__).parent / "work_factor.txt").read_text())


def digest_chain(n: int) -> bytes:
    """n chained sha256 rounds over 1 KiB: CPU work proportional to n."""
    data = b"\\x00" * 1024
    for _ in range(n):
        data = hashlib.sha256(data).digest() * 32
    return data
''',
    "test_models.py": '''
import pytest
from workload import digest_chain


@pytest.mark.ipfs_model("sample/encoder")
@pytest.mark.parametrize("layer", range(5))
def test_encoder_layer_is_deterministic(ipfs_hw, layer):
    assert digest_chain(60_000 + layer) == digest_chain(60_000 + layer)


@pytest.mark.ipfs_model("sample/decoder")
@pytest.mark.parametrize("step", range(3))
def test_decoder_step(ipfs_hw, step):
    assert len(digest_chain(120_000 + step)) == 1024


@pytest.mark.ipfs_model("sample/decoder")
def test_decoder_matches_recorded_digest(ipfs_hw):
    digest = digest_chain(2000).hex()[:16]
    assert digest == "0000000000000000", "digest differs from the recorded reference"


@pytest.mark.ipfs_model("sample/seq2seq")
def test_seq2seq_needs_sentencepiece(ipfs_hw):
    pytest.importorskip("sentencepiece_not_installed_here", reason="the seq2seq tokenizer needs sentencepiece")
''',
    "test_bench.py": '''
import pytest
from workload import WORK_FACTOR, digest_chain


@pytest.mark.ipfs_model("sample/encoder")
@pytest.mark.parametrize("seq_len", [8, 32])
@pytest.mark.parametrize("batch_size", [1, 2, 4, 8])
def test_encoder_forward_latency(ipfs_hw, ipfs_bench, batch_size, seq_len):
    ipfs_bench.set_case(kind="forward", batch_size=batch_size, seq_len=seq_len, dtype="float32")
    ipfs_bench.pedantic(digest_chain, args=(20 * batch_size * seq_len * WORK_FACTOR,), rounds=12, warmup_rounds=1)
''',
}


def write_suite(root: Path, work_factor: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in SUITE_FILES.items():
        (root / name).write_text(text.lstrip())
    set_work_factor(root, work_factor)


def set_work_factor(root: Path, factor: int) -> None:
    (root / "work_factor.txt").write_text(str(factor))


class ServeCommand:
    """``ipfs-accel serve`` (the command a user runs) in a subprocess on 127.0.0.1, with a known token."""

    def __init__(self, workdir: Path, suite: Path, token: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token
        self.log = workdir / "service.log"
        env = {**os.environ, "IPFS_ACCEL_TOKEN": token, "IPFS_ACCEL_READ_TOKEN": token + "-read",
               "PYTHONPATH": str(REPO)}
        with open(self.log, "wb") as log:
            # the command a user runs (python -m: the venv's, whatever PATH says)
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pytest_ipfs_accel", "serve", "--host", "127.0.0.1",
                 "--port", str(self.port), "--db", str(workdir / "results.duckdb"),
                 "--suite-root", str(suite), "--log-level", "warning"],
                cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                if self.client.get("/api/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the service did not answer /api/health in {timeout} s:\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def start_run(self, **body) -> str:
        response = self.client.post("/api/test/run", json=body)
        assert response.status_code == 202, response.text
        return response.json()["run_id"]

    def wait(self, run_id: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.client.get(f"/api/test/status/{run_id}").json()
            if status["status"] in TERMINAL:
                return status
            time.sleep(0.2)
        raise AssertionError(f"run {run_id} did not finish in {timeout} s:\n{self.log_text()}")

    def close(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
