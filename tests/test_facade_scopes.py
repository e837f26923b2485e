"""Scoped tokens, cancellable generator tasks, free benchmark shapes: a real service, real clients."""

from __future__ import annotations

import httpx
import pytest
from websockets.sync.client import connect

from api_facade.settings import Settings
from api_facade.testing import ServiceProcess, make_suite

FULL, READ, RUN = "full-token", "read-token", "run-token"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    root = make_suite(tmp_path_factory.mktemp("suite"))
    data = tmp_path_factory.mktemp("data")
    with ServiceProcess(db_path=data / "s.duckdb", suite_root=root, token=FULL,
                        scoped_tokens=[["read", READ], ["run", RUN]], log_path=data / "service.log") as svc:
        yield svc


@pytest.fixture(scope="module")
def http(service):
    with httpx.Client(base_url=service.url, timeout=60) as client:
        yield client


def test_a_read_token_reads_everything_and_changes_nothing(service, http: httpx.Client):
    run_id = http.post("/api/test/run", headers=_auth(RUN), json={"targets": ["tests/test_fast.py::test_ok"]}
                       ).json()["run_id"]
    assert http.get("/api/token", headers=_auth(READ)).json() == {"scope": "read", "scopes": ["read"]}
    assert http.get("/api/token", headers=_auth(RUN)).json() == {"scope": "run", "scopes": ["read", "run"]}
    assert http.get("/api/token", headers=_auth(FULL)).json()["scope"] == "run"
    for path in ("/api/test/runs", "/api/test/matrix", f"/api/test/status/{run_id}", "/api/benchmark/query",
                 "/api/benchmark/facets", "/api/generator/templates"):
        assert http.get(path, headers=_auth(READ)).status_code == 200, path
    with connect(f"{service.ws_url}/api/test/ws/{run_id}?token={READ}", open_timeout=10) as socket:
        assert '"seq": 1' in socket.recv(timeout=30)
    for path, body in [("/api/test/run", {"targets": ["tests"]}), (f"/api/test/cancel/{run_id}", None),
                       ("/api/benchmark/run", {"models": ["bert"]}), ("/api/workflow/run", {"model": "bert"}),
                       ("/api/generator/model", {"model": "bert"}), ("/api/generator/batch", {"models": ["bert"]}),
                       ("/api/generator/cancel/gen-x", None), ("/api/benchmark/cancel/bench-x", None)]:
        answer = http.post(path, headers=_auth(READ), json=body)
        assert answer.status_code == 403, path
        assert "need the 'run' scope" in answer.json()["detail"] and "'read' scope" in answer.json()["detail"]
    assert http.post("/api/test/run", headers=_auth("nope"), json={}).status_code == 401


def test_tokens_come_from_the_environment_and_a_token_file(tmp_path, monkeypatch):
    (tmp_path / "tokens").write_text("# who may do what\nread r1\nrun x#1\n\nread r2\n")
    monkeypatch.setenv("IPFS_ACCEL_TOKEN", "main")
    monkeypatch.setenv("IPFS_ACCEL_READ_TOKEN", "r0")
    monkeypatch.setenv("IPFS_ACCEL_TOKEN_FILE", str(tmp_path / "tokens"))
    settings = Settings.from_env(db_path=tmp_path / "s.duckdb", suite_root=tmp_path)
    assert [settings.scope_of(t) for t in ("main", "r0", "r1", "x#1", "r2", "nope", "")] == [
        "run", "read", "read", "run", "read", None, None]
    (tmp_path / "tokens").write_text("admin z\n")
    with pytest.raises(ValueError, match=r"tokens:1: expected '<scope> <token>' with scope read or run"):
        Settings.from_env(db_path=tmp_path / "s.duckdb", suite_root=tmp_path)


def test_a_generator_task_can_be_cancelled(http: httpx.Client):
    models = ["bert", "gpt2", "t5", "vit", "whisper", "clip", "roberta", "distilbert", "albert", "electra"]
    task = http.post("/api/generator/batch", headers=_auth(RUN), json={"models": models, "force": True}).json()
    answer = http.post(f"/api/generator/cancel/{task['task_id']}", headers=_auth(RUN))
    assert answer.status_code == 200, answer.text
    assert answer.json()["task_id"] == task["task_id"] and answer.json()["status"] == "cancelled"
    status = http.get(f"/api/generator/status/{task['task_id']}", headers=_auth(RUN)).json()
    assert status["status"] == "cancelled" and len(status["files"]) < len(models)
    again = http.post(f"/api/generator/cancel/{task['task_id']}", headers=_auth(RUN))
    assert again.status_code == 409 and "already ended (cancelled)" in again.json()["detail"]


@pytest.mark.parametrize(("body", "message"), [
    ({"models": ["bert"], "batch_sizes": [0]}, "batch_sizes: each value must be between 1 and 1024; got 0"),
    ({"models": ["bert"], "seq_lens": [3, 20000]}, "seq_lens: each value must be between 1 and 16384; got 20000"),
    ({"models": ["bert"], "batch_sizes": [1024], "seq_lens": [4096]},
     "batch size x sequence length may be at most 262144; 1024 x 4096 = 4194304"),
    ({"models": ["bert"], "batch_sizes": [True]}, "batch_sizes.0: Input should be a valid integer"),
])
def test_benchmark_shapes_are_free_within_bounds(http: httpx.Client, body, message):
    answer = http.post("/api/benchmark/run", headers=_auth(RUN), json=body)
    assert answer.status_code == 422 and message in answer.json()["detail"], answer.text


def test_compare_thresholds_take_percent_signs_and_statistics(http: httpx.Client):
    for value in ("10", "10%", "median:10%"):
        answer = http.get("/api/benchmark/compare", headers=_auth(READ),
                          params={"base": "nope", "head": "latest", "threshold_pct": value})
        assert answer.status_code == 404 and "no run with id 'nope'" in answer.json()["detail"]
    answer = http.get("/api/benchmark/compare", headers=_auth(READ), params={"threshold_pct": "avg:10%"})
    assert answer.status_code == 422 and "unknown statistic 'avg'" in answer.json()["detail"]
