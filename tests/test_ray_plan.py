"""The Ray driver's plan without Ray: splitting by history, placement requests, the node's ray start."""

from __future__ import annotations

import json

import pytest

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


def test_the_events_target_is_the_drivers_and_never_reaches_the_shards() -> None:
    from pytest_ipfs_accel.distributed.stream import split_target

    assert split_target(["-q", "--ipfs-events=fd:7", "-k", "x"]) == ("fd:7", ["-q", "-k", "x"])
    assert split_target(["--ipfs-events", "out/e.jsonl", "tests"]) == ("out/e.jsonl", ["tests"])
    assert split_target(["-q", "--", "--ipfs-events=x"]) == (None, ["-q", "--", "--ipfs-events=x"])  # a file name
    for bad in (["--ipfs-events"], ["--ipfs-events="]):
        with pytest.raises(ValueError, match="needs a value: a PATH or fd:N"):
            split_target(bad)


def test_bad_events_targets_are_one_line_errors(tmp_path, capsys) -> None:
    pytest.importorskip("ray", reason="the ray extra is not installed (pip install '.[ray]')")
    from pytest_ipfs_accel import cli

    (tmp_path / "file").touch()
    for arg, message in (("--ipfs-events", "--ipfs-events needs a value"),
                         ("--ipfs-events=fd:987", "--ipfs-events=fd:987: expected fd:N with N an open file"),
                         (f"--ipfs-events={tmp_path / 'file' / 'e.jsonl'}", "cannot write there")):
        assert cli.main(["run", "--ray", "--hw", "cpu", "--db", str(tmp_path / "r.duckdb"), "--", arg]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "r.duckdb").exists()  # nothing started, nothing written


def test_every_hosts_fingerprints_are_kept_keyed_by_host() -> None:
    from pytest_ipfs_accel.distributed.driver import Fingerprints

    cpu = {"backend": "cpu", "devices": [{"name": "EPYC"}]}
    hosts = Fingerprints()
    hosts.add("a", "n1" * 10, {"cpu": cpu, "cuda": {"backend": "cuda", "devices": []}})
    hosts.add("b", "n2" * 10, {"cpu": {**cpu, "devices": [{"name": "Xeon"}]}})
    hosts.add("b", "n2" * 10, {"cpu": {**cpu, "devices": [{"name": "Xeon"}]}})  # a retry on the same node
    got = hosts.as_json()
    assert sorted(got) == ["cpu@a", "cpu@b", "cuda@a"]  # two cpu hosts: both kept
    assert got["cpu@b"]["devices"] == [{"name": "Xeon"}] and got["cpu@b"]["host"] == "b"
    assert got["cpu@a"]["backend"] == "cpu" and got["cpu@a"]["node_id"] == "n1" * 10
    hosts.add("a", "n3" * 10, {"cpu": cpu})  # one machine, two Ray nodes (say, one per GPU)
    assert sorted(hosts.as_json()) == ["cpu@a/n1n1n1n1", "cpu@a/n3n3n3n3", "cpu@b", "cuda@a/n1n1n1n1"]


def test_a_shard_that_recorded_nothing_counts_zero_and_never_crashes_the_driver(tmp_path) -> None:
    """A retried attempt's shard file is counted, not merged: with no tables (its pytest died
    before recording) the driver saw 'Table test_results does not exist' and crashed."""
    from pytest_ipfs_accel import store
    from pytest_ipfs_accel.distributed import driver

    db = tmp_path / "store.duckdb"
    store.open_store(db).close()
    empty = tmp_path / "shard.duckdb"
    import duckdb

    duckdb.connect(str(empty)).close()  # a DuckDB file without our tables
    row = {"host": "h", "node_id": "n"}
    assert driver._merge_shard(db, empty, ["t.py::a"], row, driver.Fingerprints(), keep=False) == 0
