"""The model × hardware matrix, built from a real DuckDB file."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from pytest_ipfs_accel.matrix import build_matrix, render_matrix
from pytest_ipfs_accel.store import insert_rows, open_store, upsert_run

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def _run(con, run_id: str, minutes: int, status: str = "passed") -> None:
    upsert_run(con, {"run_id": run_id, "started_at": T0 + timedelta(minutes=minutes), "status": status})


def _test(run_id, nodeid, outcome, model="bert", hardware="cpu", **extra):
    return {
        "run_id": run_id,
        "nodeid": nodeid,
        "outcome": outcome,
        "when": "call",
        "duration_s": 0.01,
        "model": model,
        "hardware": hardware,
        **extra,
    }


@pytest.fixture
def con(tmp_path):
    con = open_store(tmp_path / "results.duckdb")
    yield con
    con.close()


def test_latest_run_per_cell_wins_and_untested_cells_stay_empty(con):
    _run(con, "run-old", 0)
    _run(con, "run-new", 10)
    insert_rows(
        con,
        "test_results",
        [
            # the old run: bert failed on cpu, gpt2 passed on cuda
            _test("run-old", "t.py::test_fwd[cpu]", "failed", message="AssertionError: boom"),
            _test("run-old", "t.py::test_fwd_gpt2[cuda]", "passed", model="gpt2", hardware="cuda"),
            # the new run fixes bert on cpu and does not touch gpt2/cuda
            _test("run-new", "t.py::test_fwd[cpu]", "passed"),
            _test("run-new", "t.py::test_gen[cpu]", "skipped", message="needs a tokenizer"),
        ],
    )
    m = build_matrix(con)
    assert m.models == ("bert", "gpt2")
    assert m.hardware == ("cpu", "cuda")  # backend display order, not alphabetical by chance
    bert_cpu = m.cell("bert", "cpu")
    assert bert_cpu.status == "passed"
    assert bert_cpu.run_id == "run-new"
    assert bert_cpu.counts == {"passed": 1, "skipped": 1}
    assert (bert_cpu.working, bert_cpu.total) == (1, 2)
    assert [t.nodeid for t in bert_cpu.tests] == ["t.py::test_fwd[cpu]", "t.py::test_gen[cpu]"]
    # a cell the new run did not test keeps its latest (older) outcome
    assert m.cell("gpt2", "cuda").run_id == "run-old"
    assert m.cell("gpt2", "cuda").status == "passed"
    assert m.cell("bert", "cuda") is None
    assert m.cell("gpt2", "cpu") is None


def test_one_run_only_and_worst_outcome_decides(con):
    _run(con, "a", 0)
    _run(con, "b", 5)
    insert_rows(
        con,
        "test_results",
        [
            _test("a", "t.py::x[cpu]", "passed"),
            _test("b", "t.py::x[cpu]", "passed"),
            _test("b", "t.py::y[cpu]", "error", when="setup", message="fixture blew up"),
            _test("b", "t.py::z[cpu]", "xfailed"),
            _test("b", "t.py::s[cpu]", "skipped", model="t5"),
        ],
    )
    m = build_matrix(con, run_id="a")
    assert m.run_id == "a"
    assert list(m.cells) == [("bert", "cpu")]
    assert m.cell("bert", "cpu").status == "passed"

    m = build_matrix(con, run_id="b")
    cell = m.cell("bert", "cpu")
    assert cell.status == "error"
    assert cell.counts == {"passed": 1, "error": 1, "xfailed": 1}
    assert cell.working == 2  # xfailed counts as working
    assert next(t for t in cell.tests if t.outcome == "error").message == "fixture blew up"
    assert m.cell("t5", "cpu").status == "skipped"


def test_failed_beats_error_and_subtests_rows_without_model_or_backend_are_left_out(con):
    _run(con, "r", 0)
    insert_rows(
        con,
        "test_results",
        [
            _test("r", "t.py::a[cpu]", "error"),
            _test("r", "t.py::b[cpu]", "failed"),
            _test("r", "t.py::b[cpu]", "failed", subtest="case 3"),
            _test("r", "t.py::plain", "passed", model=None),
            _test("r", "t.py::nohw", "passed", hardware=None),
        ],
    )
    m = build_matrix(con)
    assert list(m.cells) == [("bert", "cpu")]
    cell = m.cell("bert", "cpu")
    assert cell.status == "failed"
    assert cell.total == 2  # the subtest row is not a test of its own


def test_results_of_a_run_missing_from_runs_are_dated_by_their_rows(con):
    _run(con, "known", 0)
    insert_rows(
        con,
        "test_results",
        [
            _test("known", "t.py::a[cpu]", "failed"),
            _test("shard", "t.py::a[cpu]", "passed", finished_at=T0 + timedelta(hours=1)),
        ],
    )
    assert build_matrix(con).cell("bert", "cpu").run_id == "shard"


def test_unknown_backends_come_after_the_known_ones(con):
    _run(con, "r", 0)
    insert_rows(
        con,
        "test_results",
        [_test("r", f"t.py::a[{hw}]", "passed", hardware=hw) for hw in ("zzz", "cuda", "aaa", "cpu")],
    )
    assert build_matrix(con).hardware == ("cpu", "cuda", "aaa", "zzz")


def test_renderers(con):
    _run(con, "r1", 0)
    insert_rows(
        con,
        "test_results",
        [
            _test("r1", "t.py::a[cpu]", "passed"),
            _test("r1", "t.py::b[cpu]", "passed"),
            _test("r1", "t.py::a[cuda]", "failed", hardware="cuda"),
            _test("r1", "t.py::a|b[cpu]", "skipped", model="org/we|ird"),
        ],
    )
    m = build_matrix(con)

    table = render_matrix(m, "table").splitlines()
    assert table[0].split() == ["model", "cpu", "cuda"]
    assert table[2].split() == ["bert", "pass", "2/2", "FAIL", "0/1"]
    assert table[3].split() == ["org/we|ird", "skip", "0/1", "-"]
    assert "3 cells (1 failed, 1 passed, 1 skipped)" in render_matrix(m, "table")

    md = render_matrix(m, "markdown").splitlines()
    assert md[0] == "| model | cpu | cuda |"
    assert md[1] == "|---|---|---|"
    assert md[2] == "| `bert` | ✅ 2/2 | ❌ 0/1 |"
    assert md[3] == "| `org/we\\|ird` | ⏭️ 0/1 | - |"  # the pipe cannot split the row

    data = json.loads(render_matrix(m, "json"))
    assert data["models"] == ["bert", "org/we|ird"]
    assert data["hardware"] == ["cpu", "cuda"]
    cell = next(c for c in data["cells"] if c["hardware"] == "cuda")
    assert cell["status"] == "failed"
    assert cell["tests"][0]["nodeid"] == "t.py::a[cuda]"
    assert cell["run_started_at"].startswith("2026-01-01T12:00:00")


def test_empty_store_and_bad_format(con):
    m = build_matrix(con)
    assert m.cells == {}
    assert render_matrix(m, "table") == "no model × hardware results recorded"
    assert render_matrix(m, "markdown") == "_No model × hardware results recorded._"
    assert json.loads(render_matrix(m, "json"))["cells"] == []
    with pytest.raises(ValueError, match="use one of: table, markdown, json"):
        render_matrix(m, "html")
