"""The Ray driver's plan without Ray: splitting by history, placement requests, the node's ray start."""

from __future__ import annotations

import json

from pytest_ipfs_accel.distributed import node, plan


def test_without_history_items_are_dealt_round_robin_per_backend() -> None:
    items = [(f"t::a[{i}]", "cpu") for i in range(5)] + [("t::b[openvino]", "openvino")]
    shards = plan.split(items, {}, 3)
    assert [(s.index, s.hardware, s.ids) for s in shards] == [
        (0, "cpu", ["t::a[0]", "t::a[2]", "t::a[4]"]),
        (1, "cpu", ["t::a[1]", "t::a[3]"]),
        (2, "openvino", ["t::b[openvino]"]),
    ]


def test_history_balances_the_bins_where_round_robin_would_not() -> None:
    items = [(f"t::x[{i}]", "cpu") for i in range(8)]
    history = {f"t::x[{i}]": (1.0 if i % 2 == 0 else 0.01) for i in range(8)}  # every 2nd is slow
    dealt = plan.split(items, {}, 2)
    assert {n for n in dealt[0].ids} == {f"t::x[{i}]" for i in (0, 2, 4, 6)}  # all slow ones in one bin
    balanced = plan.split(items, history, 2)
    assert [round(s.expected_s, 2) for s in balanced] == [2.02, 2.02]
    assert sorted(n for s in balanced for n in s.ids) == sorted(n for n, _ in items)  # each once
    assert balanced[0].ids == sorted(balanced[0].ids)  # back in collection order


def test_every_backend_gets_a_shard_even_when_fewer_are_asked_for() -> None:
    items = [("a", "cpu"), ("b", "cuda"), ("c", "openvino")]
    assert [s.hardware for s in plan.split(items, {}, 1)] == ["cpu", "cuda", "openvino"]


def test_placement_requests_and_missing_resources_named() -> None:
    assert plan.resources("cuda") == {"num_cpus": 1, "num_gpus": 1}
    assert plan.resources("rocm") == {"num_cpus": 1, "num_gpus": 1}
    assert plan.resources("cpu") == {"num_cpus": 1}
    assert plan.resources("openvino") == {"num_cpus": 1, "resources": {"openvino": 1}}
    shards = plan.split([("a", "cpu"), ("b", "cuda"), ("c", "qnn")], {}, 3)
    assert plan.missing_resources(shards, {"CPU": 4.0, "qnn": 1.0}) == ["GPU (for cuda shard 1)"]
    assert plan.missing_resources(shards, {"CPU": 4.0, "GPU": 1.0}) == ["qnn (for qnn shard 2)"]


def test_node_start_command_advertises_exactly_its_resources() -> None:
    head = node.ray_start_command(None, 2, {"openvino": 1.0})
    assert head[1:] == ["start", "--head", "--include-dashboard=false", "--num-gpus=2",
                        "--resources=" + json.dumps({"openvino": 1.0})]
    join = node.ray_start_command("10.0.0.5:6379", 0, {})
    assert join[1:] == ["start", "--address=10.0.0.5:6379", "--num-gpus=0", "--resources={}"]


def test_cpu_and_custom_shards_see_no_gpu_gpu_shards_keep_rays_choice(monkeypatch, tmp_path) -> None:
    from pytest_ipfs_accel.distributed import worker
    from pytest_ipfs_accel.distributed.select import SHARD_IDS

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # what Ray sets for a task given a GPU
    ids = tmp_path / "ids.txt"
    for hw in ("cpu", "openvino"):
        env = worker.shard_env({"hardware": hw}, ids)
        assert env["CUDA_VISIBLE_DEVICES"] == env["HIP_VISIBLE_DEVICES"] == env["ROCR_VISIBLE_DEVICES"] == ""
        assert env[SHARD_IDS] == str(ids)
    assert worker.shard_env({"hardware": "cuda"}, ids)["CUDA_VISIBLE_DEVICES"] == "3"
