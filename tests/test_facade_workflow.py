"""Generator, workflow and benchmark APIs on a tiny real model (bert from a tiny config)."""

from __future__ import annotations

import pytest

from api_facade.client import Client, FacadeError

SHAPE = {"batch_sizes": [1], "seq_lens": [16], "dtype": "float32", "max_time_s": 0.2,
         "min_rounds": 3, "hardware": ["cpu"]}


def test_generator_task_writes_a_module_under_the_suite_root(facade, facade_client: Client):
    task = facade_client.generate("bert")
    status = facade_client.wait(task, timeout=180)
    assert status["status"] == "passed" and status["files"] == ["generated/test_bert.py"]
    result = facade_client.results(task)
    assert result["files"] == [{"path": "generated/test_bert.py", "model": None}]
    source = facade_client.request("GET", f"/api/generator/file/{task}")
    assert source == (facade.root / "generated" / "test_bert.py").read_text()
    events = list(facade_client.events(task, timeout=30))
    generated = [e for e in events if e["$report_type"] == "GeneratedFile"]
    assert generated == [{**generated[0], "model": "bert", "path": "generated/test_bert.py"}]

    # without force, an existing module is kept and the task says how to overwrite it
    again = facade_client.wait(facade_client.generate("bert"), timeout=60)
    assert again["status"] == "error" and "send force: true" in again["reason"]
    missing = facade_client.wait(facade_client.generate("no_such_model_type"), timeout=60)
    assert missing["status"] == "error" and "cannot resolve 'no_such_model_type'" in missing["reason"]
    templates = facade_client.request("GET", "/api/generator/templates")
    assert templates["test_types"] == ["basic", "comprehensive", "benchmark"]
    assert "encoder_only.py.j2" in templates["templates"]


def test_workflow_generate_test_benchmark(facade, facade_client: Client):
    run_id = facade_client.start_workflow("bert", **SHAPE)
    events = list(facade_client.events(run_id, timeout=600))
    status = facade_client.wait(run_id, timeout=60)
    assert status["status"] == "passed", status
    assert [(s["step"], s["status"]) for s in status["steps"]] == [
        ("generate", "passed"), ("test", "passed"), ("benchmark", "passed")]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    steps = [(e["$report_type"], e["step"]) for e in events if e["$report_type"] in ("StepStart", "StepFinish")]
    assert steps == [("StepStart", "generate"), ("StepFinish", "generate"), ("StepStart", "test"),
                     ("StepFinish", "test"), ("StepStart", "benchmark"), ("StepFinish", "benchmark")]
    assert sum(e["$report_type"] == "SessionStart" for e in events) == 2  # two pytest sessions, one stream
    bench_events = [e for e in events if e["$report_type"] == "BenchmarkResult"]
    assert [(b["batch_size"], b["seq_len"], b["dtype"]) for b in bench_events] == [(1, 16, "float32")]

    results = facade_client.results(run_id)
    assert results["failed_step"] is None and results["tests"]
    assert all(t["outcome"] == "passed" and t["model"] == "bert" for t in results["tests"])
    (bench,) = results["benchmarks"]
    assert bench["hardware"] == "cpu" and bench["median_s"] > 0 and bench["p99_s"] >= bench["median_s"]
    assert results["files"] == ["generated/test_bert.py", "generated/test_bert_benchmark.py"]

    cell = next(c for c in facade_client.matrix()["cells"] if c["model"] == "bert" and c["hardware"] == "cpu")
    # benchmark cases are tests too: the latest run on the cell is the benchmark step
    assert cell["status"] == "passed" and cell["run_id"] == f"{run_id}-bench"
    # and its link is the workflow itself, the run the dashboard can show
    assert (cell["service_run_id"], cell["service_kind"]) == (run_id, "workflow")
    only = facade_client.request("GET", "/api/test/matrix", params={"run_id": run_id})
    assert {c["run_id"] for c in only["cells"]} == {f"{run_id}-test"}
    assert {c["service_run_id"] for c in only["cells"]} == {run_id}
    history = facade_client.benchmark_history(model="bert", hardware="cpu", batch_size=1)
    assert [h["run_id"] for h in history] == [f"{run_id}-bench"]
    assert history[0]["p50_s"] == history[0]["median_s"]

    # a second benchmark run of the same case, compared with the workflow's
    bench_run = facade_client.start_benchmark(["bert"], **SHAPE)
    assert facade_client.wait(bench_run, timeout=300)["status"] == "passed"
    assert len(facade_client.results(bench_run)["results"]) == 1
    comparison = facade_client.compare(run_id, bench_run)
    assert (comparison["base"], comparison["head"]) == (f"{run_id}-bench", bench_run)
    (case,) = comparison["cases"]
    assert case["verdict"] in ("unchanged", "regression", "improvement") and case["p_value"] is not None


def test_a_failing_step_stops_the_chain_and_says_why(facade_client: Client):
    run_id = facade_client.start_workflow("no_such_model_type", **SHAPE)
    status = facade_client.wait(run_id, timeout=120)
    assert status["status"] == "error"
    assert status["reason"].startswith("step 'generate' error: no_such_model_type: cannot resolve")
    results = facade_client.results(run_id)
    assert results["failed_step"] == "generate" and results["tests"] == [] and results["benchmarks"] == []
    assert [s["step"] for s in status["steps"]] == ["generate"]

    # any batch size and length, not only the generated sweep's (1, 4 x 16, 64)
    shaped = facade_client.start_benchmark(["bert"], **{**SHAPE, "batch_sizes": [3], "seq_lens": [24]})
    status = facade_client.wait(shaped, timeout=300)
    assert status["status"] == "passed", status["reason"]
    rows = facade_client.results(shaped)["results"]
    assert {(r["batch_size"], r["seq_len"]) for r in rows} == {(3, 24)}
    with pytest.raises(FacadeError, match="400|404|422"):
        facade_client.compare("latest", "no-such-run")
