"""Scoped tokens, cancellable generator tasks, free benchmark shapes: a real service, real clients."""

from __future__ import annotations

import httpx
import pytest
from websockets.sync.client import connect

from api_facade.settings import Settings
from tests.facade_fixtures import auth

FULL, READ, RUN = "full-token", "read-token", "run-token"


@pytest.fixture(scope="module")
def facade_settings() -> dict:
    """A full-access token and one token of each scope."""
    return {"token": FULL, "scoped_tokens": [["read", READ], ["run", RUN]]}


def test_a_read_token_reads_everything_and_changes_nothing(facade, facade_http: httpx.Client):
    run_id = facade_http.post("/api/test/run", headers=auth(RUN), json={"targets": ["tests/test_fast.py::test_ok"]}
                       ).json()["run_id"]
    assert facade_http.get("/api/token", headers=auth(READ)).json() == {"scope": "read", "scopes": ["read"]}
    assert facade_http.get("/api/token", headers=auth(RUN)).json() == {"scope": "run", "scopes": ["read", "run"]}
    assert facade_http.get("/api/token", headers=auth(FULL)).json()["scope"] == "run"
    for path in ("/api/test/runs", "/api/test/matrix", f"/api/test/status/{run_id}", "/api/benchmark/query",
                 "/api/benchmark/facets", "/api/generator/templates"):
        assert facade_http.get(path, headers=auth(READ)).status_code == 200, path
    with connect(f"{facade.ws_url}/api/test/ws/{run_id}?token={READ}", open_timeout=10) as socket:
        assert '"seq": 1' in socket.recv(timeout=30)
    for path, body in [("/api/test/run", {"targets": ["tests"]}), (f"/api/test/cancel/{run_id}", None),
                       ("/api/benchmark/run", {"models": ["bert"]}), ("/api/workflow/run", {"model": "bert"}),
                       ("/api/generator/model", {"model": "bert"}), ("/api/generator/batch", {"models": ["bert"]}),
                       ("/api/generator/cancel/gen-x", None), ("/api/benchmark/cancel/bench-x", None)]:
        answer = facade_http.post(path, headers=auth(READ), json=body)
        assert answer.status_code == 403, path
        assert "need the 'run' scope" in answer.json()["detail"] and "'read' scope" in answer.json()["detail"]
    assert facade_http.post("/api/test/run", headers=auth("nope"), json={}).status_code == 401


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


def test_a_generator_task_can_be_cancelled(facade_http: httpx.Client):
    models = ["bert", "gpt2", "t5", "vit", "whisper", "clip", "roberta", "distilbert", "albert", "electra"]
    task = facade_http.post("/api/generator/batch", headers=auth(RUN), json={"models": models, "force": True}).json()
    answer = facade_http.post(f"/api/generator/cancel/{task['task_id']}", headers=auth(RUN))
    assert answer.status_code == 200, answer.text
    assert answer.json()["task_id"] == task["task_id"] and answer.json()["status"] == "cancelled"
    status = facade_http.get(f"/api/generator/status/{task['task_id']}", headers=auth(RUN)).json()
    assert status["status"] == "cancelled" and len(status["files"]) < len(models)
    again = facade_http.post(f"/api/generator/cancel/{task['task_id']}", headers=auth(RUN))
    assert again.status_code == 409 and "already ended (cancelled)" in again.json()["detail"]


@pytest.mark.parametrize(("body", "message"), [
    ({"models": ["bert"], "batch_sizes": [0]}, "batch_sizes: each value must be between 1 and 1024; got 0"),
    ({"models": ["bert"], "seq_lens": [3, 20000]}, "seq_lens: each value must be between 1 and 16384; got 20000"),
    ({"models": ["bert"], "batch_sizes": [1024], "seq_lens": [4096]},
     "batch size x sequence length may be at most 262144; 1024 x 4096 = 4194304"),
    ({"models": ["bert"], "batch_sizes": [True]}, "batch_sizes.0: Input should be a valid integer"),
])
def test_benchmark_shapes_are_free_within_bounds(facade_http: httpx.Client, body, message):
    answer = facade_http.post("/api/benchmark/run", headers=auth(RUN), json=body)
    assert answer.status_code == 422 and message in answer.json()["detail"], answer.text


def test_compare_thresholds_take_percent_signs_and_statistics(facade_http: httpx.Client):
    for value in ("10", "10%", "median:10%"):
        answer = facade_http.get("/api/benchmark/compare", headers=auth(READ),
                          params={"base": "nope", "head": "latest", "threshold_pct": value})
        assert answer.status_code == 404 and "no run with id 'nope'" in answer.json()["detail"]
    answer = facade_http.get("/api/benchmark/compare", headers=auth(READ), params={"threshold_pct": "avg:10%"})
    assert answer.status_code == 422 and "unknown statistic 'avg'" in answer.json()["detail"]
