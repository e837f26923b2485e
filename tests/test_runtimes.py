"""The runtime interface without OpenVINO: the torch device runtime, the preparation cache,
outputs by name, and the cross-backend comparison of one run."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import torch

from hardware_markers import Hardware, PreparationCache, Prepared, Runtime, RuntimeUnavailable
from hardware_markers.execution import Outputs, TorchRuntime, flat_module, precision_name
from pytest_ipfs_accel import store
from pytest_ipfs_accel.bench.backends import case_key, compare_backends, ratio_interval
from pytest_ipfs_accel.bench.compare import CaseData
from pytest_ipfs_accel.bench.stats import summarize


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, x, mask):
        return {"y": self.linear(x) * mask.unsqueeze(-1), "nested": {"no": x}}


def _inputs(batch: int = 2) -> dict[str, torch.Tensor]:
    return {"x": torch.randn(batch, 5, 4), "mask": torch.ones(batch, 5)}


def test_torch_cpu_runs_the_model_as_built_and_names_its_tensor_outputs():
    torch.manual_seed(0)
    net = _Net().eval()
    hw = Hardware("cpu", True, "here", torch_device="cpu")
    assert isinstance(hw.engine, TorchRuntime)
    prepared = hw.prepare(net, _inputs())
    assert prepared.torch_module is net and prepared.precision == "float32"
    outputs = prepared(_inputs())
    assert list(outputs) == ["y"] and outputs.y is outputs["y"]  # the nested dict is left out
    with pytest.raises(AttributeError, match="no output named 'logits'; outputs: y"):
        _ = outputs.logits


def test_torch_runtime_precision_copies_and_casts_and_says_what_it_cannot_run():
    net = _Net().eval()
    runtime = TorchRuntime("cpu")
    low = runtime.prepare(net, _inputs(), torch.bfloat16)
    assert low.torch_module is not net and low.precision == "bfloat16"
    assert low(_inputs())["y"].dtype == torch.bfloat16
    assert next(net.parameters()).dtype == torch.float32  # the reference model is untouched
    assert "float16 is not a CPU inference dtype" in runtime.precision_support(torch.float16)
    with pytest.raises(RuntimeUnavailable, match="float16"):
        runtime.prepare(net, _inputs(), "fp16")
    assert precision_name(None) == "float32" and precision_name("bf16") == "bfloat16"


class _Counting(Runtime):
    name = "counting"

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    def prepare(self, model, example_inputs, precision=None) -> Prepared:
        self.calls += 1
        if self.fail:
            raise ValueError("no conversion rule for aten::diff")
        return TorchRuntime("cpu").prepare(model, example_inputs, precision)


def test_cache_prepares_once_per_model_and_signature_not_per_shape():
    runtime, cache, net = _Counting(), PreparationCache(), _Net().eval()
    first = cache.prepare(runtime, net, _inputs(2))
    assert cache.prepare(runtime, net, _inputs(7)) is first  # another batch size: same preparation
    assert runtime.calls == 1
    cache.prepare(runtime, net, {"x": torch.randn(2, 5, 4), "mask": torch.ones(2, 5, dtype=torch.long)})
    assert runtime.calls == 2  # another dtype is another signature
    cache.prepare(runtime, _Net().eval(), _inputs())
    assert runtime.calls == 3  # another model


def test_cache_remembers_a_failed_preparation_and_skips_via_unavailable():
    runtime, cache = _Counting(fail=True), PreparationCache()
    net = _Net().eval()
    for _ in range(2):
        with pytest.raises(ValueError, match="aten::diff"):
            cache.prepare(runtime, net, _inputs())
    assert runtime.calls == 1

    class Skipping(PreparationCache):
        def unavailable(self, reason):
            raise LookupError(reason)

    with pytest.raises(LookupError, match="does not run bfloat16"):
        Skipping().prepare(_Counting(), net, _inputs(), torch.bfloat16)
    no_engine = Hardware("probe", True, "detected", preparations=Skipping())
    with pytest.raises(LookupError, match="runs no models: its detector gives it neither"):
        no_engine.prepare(net, _inputs())


def test_flat_module_spells_out_parameters_and_returns_tensors_in_order():
    import inspect

    net = _Net().eval()
    flat = flat_module(net, ["x", "mask"], ["y"], {})
    assert list(inspect.signature(flat.forward).parameters) == ["x", "mask"]
    (y,) = flat(**_inputs())
    assert y.shape == (2, 5, 3)
    with pytest.raises(Exception, match="not Python identifiers"):
        flat_module(net, ["x", "class"], ["y"], {})


def test_outputs_is_a_dict_of_tensors():
    out = Outputs(a=torch.zeros(1))
    assert dict(out) == {"a": out.a}


# ------------------------------------------------------------------ backends side by side


def test_case_key_drops_the_backend_part_of_the_id():
    assert case_key("t.py::test_f[openvino-b1-s16-float32]", "openvino") == "t.py::test_f[b1-s16-float32]"
    assert case_key("t.py::test_f[cpu]", "cpu") == "t.py::test_f"
    assert case_key("t.py::test_f", "cpu") == "t.py::test_f"


def _case(nodeid: str, hardware: str, center: float, seed: int, n: int = 60) -> CaseData:
    rng = random.Random(seed)
    samples = [center * (1 + rng.gauss(0, 0.03)) for _ in range(n)]
    return CaseData(nodeid=nodeid, model="bert", hardware=hardware,
                    median_s=summarize(samples).median_s, samples=samples)


def test_compare_backends_ratio_interval_and_significance():
    cases = {
        c.nodeid: c for c in (
            _case("m.py::test_fwd[cpu-b1]", "cpu", 2e-3, 1),
            _case("m.py::test_fwd[openvino-b1]", "openvino", 1e-3, 2),
            _case("m.py::test_fwd[cpu-b4]", "cpu", 1e-3, 3),
            _case("m.py::test_fwd[openvino-b4]", "openvino", 1e-3, 4),
            _case("m.py::test_convert[openvino]", "openvino", 2.0, 5),
        )
    }
    rows = {r.case: r for r in compare_backends(cases, "cpu", "openvino")}
    faster = rows["m.py::test_fwd[b1]"]
    assert faster.ratio == pytest.approx(0.5, rel=0.05)
    assert faster.ratio_low < faster.ratio < faster.ratio_high < 1
    assert faster.significant and faster.faster == "openvino"
    same = rows["m.py::test_fwd[b4]"]
    assert not same.significant and same.faster is None and same.ratio_low < 1 < same.ratio_high
    only = rows["m.py::test_convert"]
    assert only.ratio is None and only.base_median_s is None and only.head_rounds == 60


def test_ratio_interval_is_deterministic():
    base, head = [1.0, 1.1, 0.9, 1.05] * 10, [2.0, 2.1, 1.9] * 10
    assert ratio_interval(base, head) == ratio_interval(base, head)


@pytest.fixture(scope="module")
def two_backend_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("backends") / "r.duckdb"
    con = store.open_store(path)
    store.upsert_run(con, {"run_id": "run-x", "started_at": datetime(2026, 1, 1, tzinfo=timezone.utc),
                           "status": "passed", "hardware": json.dumps({})})
    results, samples = [], []
    for case in (_case("m.py::test_fwd[cpu-b1]", "cpu", 2e-3, 1), _case("m.py::test_fwd[openvino-b1]", "openvino", 1e-3, 2)):
        s = summarize(case.samples)
        results.append({"run_id": "run-x", "nodeid": case.nodeid, "name": "test_fwd", "hardware": case.hardware,
                        "model": "bert", "rounds": s.rounds, "median_s": s.median_s, "min_s": s.min_s,
                        "source": "ipfs_bench"})
        samples += [{"run_id": "run-x", "nodeid": case.nodeid, "round": i, "seconds": x}
                    for i, x in enumerate(case.samples)]
    store.insert_rows(con, "benchmark_results", results)
    store.insert_rows(con, "benchmark_samples", samples)
    con.close()
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest_ipfs_accel", *args], capture_output=True, text=True)


def test_compare_cli_puts_two_backends_of_one_run_side_by_side(two_backend_db):
    proc = _cli("compare", "latest", "--backends", "cpu,openvino", "--db", str(two_backend_db))
    assert proc.returncode == 0, proc.stderr
    assert "openvino/cpu" in proc.stdout and "m.py::test_fwd[b1]" in proc.stdout
    assert "openvino 2." in proc.stdout and "x faster" in proc.stdout
    as_json = _cli("compare", "run-x", "--backends", "cpu,openvino", "--db", str(two_backend_db), "--format", "json")
    (case,) = json.loads(as_json.stdout)["cases"]
    assert case["significant"] and case["faster"] == "openvino" and case["ratio"] < 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run-x", "--backends", "cpu"), "name two different backends"),
        (("run-x", "run-x", "--backends", "cpu,openvino"), "ONE run"),
        (("run-x", "--backends", "cpu,cuda"), "no benchmark results on cuda; it has: cpu, openvino"),
        (("run-x",), "name two runs"),
    ],
)
def test_compare_cli_backends_bad_input(two_backend_db, args, message):
    proc = _cli("compare", *args, "--db", str(two_backend_db))
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_facade_puts_two_backends_side_by_side(two_backend_db, tmp_path):
    import shutil

    import httpx

    from api_facade.testing import ServiceProcess, make_suite

    db = tmp_path / "service.duckdb"
    shutil.copy(two_backend_db, db)  # the service holds its file; the CLI tests read the other
    token = "backends-token"
    with ServiceProcess(db_path=db, suite_root=make_suite(tmp_path / "suite"), token=token,
                        log_path=tmp_path / "service.log") as svc, httpx.Client(base_url=svc.url, timeout=30) as http:
        auth = {"Authorization": f"Bearer {token}"}
        body = http.get("/api/benchmark/backends", params={"run": "run-x"}, headers=auth).json()
        assert (body["run_id"], body["base"], body["head"]) == ("run-x", "cpu", "openvino")
        (case,) = body["cases"]
        assert case["case"] == "m.py::test_fwd[b1]" and case["faster"] == "openvino"
        assert case["ratio_low"] < case["ratio"] < case["ratio_high"] < 1
        same = http.get("/api/benchmark/backends", params={"base": "cpu", "head": "cpu"}, headers=auth)
        assert same.status_code == 422 and "two different backends" in same.json()["detail"]
        missing = http.get("/api/benchmark/backends", params={"run": "nope"}, headers=auth)
        assert missing.status_code == 404 and "no run with id 'nope'" in missing.json()["detail"]
        assert http.get("/api/benchmark/backends").status_code == 401
