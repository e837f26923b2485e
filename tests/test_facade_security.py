"""Auth, origin checks and bad input against a real facade; schemathesis over its OpenAPI schema."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

TOKEN = "sec-token-123"


@pytest.fixture(scope="module")
def facade_suite(facade_suite: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample suite with a symlink that leads outside it."""
    (facade_suite / "outside_link").symlink_to(tmp_path_factory.mktemp("outside"))
    return facade_suite


@pytest.fixture(scope="module")
def facade_settings() -> dict:
    """Small request bodies, a known run-time limit, info logs (to check what they hold)."""
    return {"token": TOKEN, "max_request_bytes": 4096, "max_run_time_s": 600, "log_level": "info"}


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_what_needs_no_token_holds_no_data(facade_http: httpx.Client):
    assert facade_http.get("/api/health").json()["status"] == "ok"
    assert facade_http.get("/").status_code == 200
    assert facade_http.get("/docs").status_code == 200
    schema = facade_http.get("/openapi.json").json()
    assert "/api/test/run" in schema["paths"]
    assert "access-control-allow-origin" not in facade_http.get("/api/health", headers={"Origin": "http://evil"}).headers


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"},
                                     {"Authorization": f"Bearer {TOKEN}x"}])
def test_every_api_route_needs_the_token(facade_http: httpx.Client, headers):
    for method, path in [("GET", "/api/test/runs"), ("POST", "/api/test/run"), ("GET", "/api/test/matrix"),
                         ("GET", "/api/benchmark/query"), ("POST", "/api/generator/model"),
                         ("GET", "/api/workflow/status/wf-1"), ("POST", "/api/test/cancel/run-1")]:
        answer = facade_http.request(method, path, headers=headers, json={})
        assert answer.status_code == 401, (method, path)
        assert "token" in answer.json()["detail"]
        assert answer.headers["www-authenticate"] == "Bearer"


def _ws(facade, path: str, **kwargs):
    return connect(f"{facade.ws_url}{path}", open_timeout=10, **kwargs)


def test_websocket_auth_and_origin(facade, facade_http: httpx.Client):
    run_id = facade_http.post("/api/test/run", headers=AUTH, json={"targets": ["tests/test_fast.py::test_ok"]}).json()["run_id"]
    for path, kwargs, status in [
        (f"/api/test/ws/{run_id}", {}, 401),
        (f"/api/test/ws/{run_id}?token=nope", {}, 401),
        (f"/api/test/ws/{run_id}?token={TOKEN}", {"origin": "http://evil.example"}, 403),
        (f"/api/test/ws/{run_id}?token={TOKEN}&since=-1", {}, 400),
        (f"/api/test/ws/run-nope?token={TOKEN}", {}, 404),
        (f"/api/benchmark/ws/{run_id}?token={TOKEN}", {}, 404),  # a test run is not a benchmark run
    ]:
        with pytest.raises(InvalidStatus) as info:
            with _ws(facade, path, **kwargs):
                pass
        assert info.value.response.status_code == status, path
    # the token as a subprotocol (what browsers use), from the service's own origin
    with _ws(facade, f"/api/test/ws/{run_id}", subprotocols=["ipfs-accel", f"ipfs-accel.bearer.{TOKEN}"],
             origin=facade.url) as socket:
        assert socket.subprotocol == "ipfs-accel"
        first = socket.recv(timeout=30)
    assert '"seq": 1' in first
    log = (facade.data / "service.log").read_text()
    assert "token=***" in log and TOKEN not in log  # URLs are logged, tokens are not


BAD_RUNS = [
    ({}, "give at least one of targets"),
    ({"targets": ["../etc"]}, "contains '..'"),
    ({"targets": ["/etc/passwd"]}, "is absolute"),
    ({"targets": ["-p", "evil"]}, "starts with '-'"),
    ({"targets": ["--rootdir=/"]}, "starts with '-'"),
    ({"targets": ["outside_link"]}, "leads outside the suite root"),
    ({"targets": ["tests/missing.py"]}, "does not exist under the suite root"),
    ({"targets": [""]}, "empty"),
    ({"targets": "tests"}, "targets: Input should be a valid list"),
    ({"targets": ["tests"], "hardware": ["gpu"]}, "unknown backend(s) 'gpu'; valid: auto, all, cpu"),
    ({"targets": ["tests"], "hardware": ["all", "cpu"]}, "stand alone"),
    ({"targets": ["tests"], "workers": -1}, "workers: Input should be greater than or equal to 0"),
    ({"targets": ["tests"], "timeout_s": 100000}, "timeout_s: at most 600 s"),
    ({"targets": ["tests"], "timeout_s": 0}, "timeout_s: Input should be greater than 0"),
    ({"targets": ["tests"], "test_type": "fast"}, "test_type: Input should be 'basic', 'comprehensive' or 'benchmark'"),
    ({"target": ["tests"]}, "unknown field 'target'"),
    ({"models": ["../../etc"]}, "invalid model reference(s) '../../etc'"),
    ({"models": ["-rf"]}, "invalid model reference(s)"),
    ({"targets": ["tests"], "executor": "dask"}, "executor: Input should be 'local' or 'ray'"),
    ({"targets": ["tests"], "shards": 2}, "shards: only a run with executor 'ray' is sharded"),
    ({"targets": ["tests"], "executor": "ray", "shards": 0}, "shards: Input should be greater than or equal to 1"),
]


@pytest.mark.parametrize(("body", "message"), BAD_RUNS)
def test_bad_run_requests_say_what_to_fix(facade_http: httpx.Client, body, message):
    answer = facade_http.post("/api/test/run", headers=AUTH, json=body)
    assert answer.status_code == 422
    assert message in answer.json()["detail"]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "message"), [
    ("POST", "/api/test/run", {"content": b"{not json", "headers": {"content-type": "application/json"}},
     422, "not valid JSON"),
    ("POST", "/api/test/run", {"json": ["tests"]}, 422, "must be a JSON object"),
    ("POST", "/api/test/run", {"content": b"x" * 10_000, "headers": {"content-type": "application/json"}},
     413, "exceeds 4096 bytes"),
    ("POST", "/api/test/run", {"content": b"", "headers": {"content-type": "application/json"}},
     422, "a JSON body is required"),
    ("GET", "/api/test/status/run-does-not-exist", {}, 404, "no run with id 'run-does-not-exist'"),
    ("GET", "/api/test/status/bad%20id", {}, 422, "path parameter run_id"),
    ("GET", "/api/test/results/..%2F..%2Fetc", {}, 404, ""),
    ("GET", "/api/test/runs?limit=0", {}, 422, "query parameter limit"),
    ("GET", "/api/test/runs?status=done", {}, 422, "query parameter status"),
    ("GET", "/api/benchmark/compare?base=nope&head=latest", {}, 404, "no run with id 'nope'"),
    ("GET", "/api/benchmark/compare?base=a%20b", {}, 422, "not a run id"),
    ("GET", "/api/benchmark/query?batch_size=0", {}, 422, "query parameter batch_size"),
    ("GET", "/api/generator/file/gen-nope", {}, 404, "no task with id"),
    ("POST", "/api/generator/model", {"json": {"model": "bert; rm -rf /"}}, 422, "model"),
    ("POST", "/api/benchmark/run", {"json": {"models": ["bert"], "batch_sizes": [0]}}, 422,
     "batch_sizes: each value must be between 1 and 1024"),
    ("POST", "/api/workflow/run", {"json": {"model": "bert", "dtype": "int3"}}, 422, "dtype"),
    ("POST", "/api/test/cancel/run-nope", {}, 404, "no run with id"),
])
def test_bad_input_is_a_4xx_with_a_reason(facade_http: httpx.Client, method, path, kwargs, status, message):
    headers = {**AUTH, **kwargs.pop("headers", {})}
    answer = facade_http.request(method, path, headers=headers, **kwargs)
    assert answer.status_code == status
    assert message in answer.json()["detail"]


def test_a_run_of_another_kind_names_the_right_route(facade_http: httpx.Client, facade):
    task = facade_http.post("/api/generator/model", headers=AUTH, json={"model": "no_such_model_type"}).json()
    answer = facade_http.get(f"/api/test/status/{task['task_id']}", headers=AUTH)
    assert answer.status_code == 404 and "/api/generator/" in answer.json()["detail"]


def test_schemathesis_finds_no_server_error(facade, tmp_path):
    """Property-based requests against every documented operation: no 5xx, responses match the schema.

    A third of the bodies carry lone surrogates and a third nest past the depth limit
    (tests/schemathesis_hooks.py).
    """
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli, "schemathesis is not installed in this environment (pip install schemathesis)"
    result = subprocess.run(
        [cli, "run", f"{facade.url}/openapi.json", "--checks", "not_a_server_error,response_schema_conformance",
         "--header", f"Authorization: Bearer {TOKEN}", "--max-examples", "4", "--phases", "coverage,fuzzing",
         "--seed", "1", "--request-timeout", "30", "--no-color"],
        capture_output=True, text=True, timeout=150, cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": str(Path(__file__).with_name("schemathesis_hooks.py"))},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    cases = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert cases and int(cases[1]) == int(cases[2]) > 100, result.stdout[-2000:]
    log = (facade.data / "service.log").read_text()
    assert "Traceback" not in log
    assert re.search(r'"POST /api/\S+ HTTP/1.1" 400', log), "no deeply nested body reached the service"
