"""Plumbing the test modules share: private benchmark locks, rows out of a store, the CUDA mark."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from pytest_ipfs_accel import store
from pytest_ipfs_accel.merge import open_reader


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_cuda: run only where a usable CUDA device is detected")


@functools.cache
def _cuda_usable() -> bool:
    from hardware_markers import default_registry  # detection imports torch: only when asked

    return default_registry().detect("cuda").usable


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("needs_cuda") is not None and not _cuda_usable():
        pytest.skip("no usable CUDA device on this machine")


@pytest.fixture
def private_locks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Benchmarks of other suites on this machine must not make these tests wait."""
    monkeypatch.setenv("IPFS_ACCEL_LOCK_DIR", str(tmp_path / "locks"))


def _rows(db: Path, sql: str, params: Sequence = ()) -> list[dict]:
    con = open_reader(db)  # merges the sessions' pending spools first
    try:
        return store.fetch_dicts(con, sql, params)
    finally:
        con.close()


@pytest.fixture
def db_rows() -> Callable[..., list[dict]]:
    """``db_rows(db, sql, params=())``: the query's rows as dicts, the store's spools merged first."""
    return _rows


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray of two nodes for the whole session (a head, and a node offering openvino), shared by
    the Ray tests and the facade's Ray run; they are all in ``xdist_group("ray")``, so one worker starts it."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install '.[ray]')")
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    c.add_node(num_cpus=2, resources={"openvino": 1})
    c.wait_for_nodes()
    ray.init(address=c.address, logging_level="ERROR", log_to_driver=False)
    try:
        yield c
    finally:
        ray.shutdown()
        c.shutdown()  # only the processes this fixture started
