"""Generated modules for real: ruff-clean, collected and passing under the plugin.

Basic + comprehensive modules for bert gpt2 t5 vit whisper clip, comprehensive
modules for tiny checkpoint directories (saved with save_pretrained, with a
tokenizer built offline), and benchmark modules for bert and gpt2, in three
groups (:data:`GROUPS`): each group one test that generates its modules, runs
them in one ``python -m pytest`` subprocess (torch and transformers cost seconds
per process) and reads the outcomes back from its DuckDB file.  Three tests
rather than one of 66 s (CI's ``--durations``): under the suite's ``-n 2`` one
long test pinned a worker while the other ran out of work.  OpenVINO runs in the ``openvino``
group only, on two modules (a conftest deselects its other items): gpt2
comprehensive and bert benchmark, which cover every test kind at the cost of
two conversions.  The ``text`` group runs under ``-n 2``, so generated modules
are also exercised through xdist workers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from generators.checkpoint import save_tiny_checkpoint
from generators.generate import generate
from pytest_ipfs_accel.merge import open_reader

MODELS = ["bert", "gpt2", "t5", "vit", "whisper", "clip"]
# whisper's checkpoint (with its feature extractor) runs from the hub cache in test_generators_families
CHECKPOINTS = ["bert", "gpt2"]
REPO = Path(__file__).resolve().parent.parent
#: the modules whose openvino items run (each converts its model once)
OPENVINO_MODULES = ("test_gpt2_comprehensive.py", "test_bert_benchmark.py")
SUITE_CONFTEST = f"""
OPENVINO_MODULES = {OPENVINO_MODULES!r}


def pytest_collection_modifyitems(config, items):
    dropped = [i for i in items if "[openvino" in i.nodeid and i.path.name not in OPENVINO_MODULES]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if i not in dropped]
"""


@dataclass(frozen=True)
class Group:
    """The modules one subprocess generates and runs (a model by type, a checkpoint by its type)."""

    basic: tuple[str, ...] = ()
    comprehensive: tuple[str, ...] = ()
    checkpoints: tuple[str, ...] = ()
    benchmark: tuple[str, ...] = ()
    hardware: str = "cpu,cuda"
    workers: str = "0"

    @property
    def models(self) -> set[str]:
        return {*self.basic, *self.comprehensive, *self.benchmark}

    @property
    def forward_modules(self) -> int:
        """Modules with a ``test_forward`` (basic and comprehensive ones)."""
        return len(self.basic) + len(self.comprehensive) + len(self.checkpoints)


#: together: every model basic and comprehensive, the checkpoints, the benchmarks (as one session had)
GROUPS = {
    "openvino": Group(comprehensive=("gpt2",), benchmark=("bert", "gpt2"), hardware="cpu,cuda,openvino"),
    "text": Group(basic=("bert", "gpt2", "t5"), comprehensive=("bert", "t5"), checkpoints=tuple(CHECKPOINTS),
                  workers="2"),
    "vision-audio": Group(basic=("vit", "whisper", "clip"), comprehensive=("vit", "whisper", "clip")),
}
assert {m for g in GROUPS.values() for m in g.basic} == set(MODELS)
assert sorted(m for g in GROUPS.values() for m in g.comprehensive) == sorted(MODELS)


class Session:
    def __init__(self, root: Path, proc: subprocess.CompletedProcess, db: Path, modules: list[Path], group: Group):
        self.root, self.proc, self.db, self.modules, self.group = root, proc, db, modules, group

    def rows(self, sql: str, *params) -> list[tuple]:
        with open_reader(self.db) as con:
            return con.execute(sql, list(params)).fetchall()


def run_session(root: Path, group: Group) -> Session:
    suite = root / "suite"
    refs = list(group.comprehensive)
    for model_type in group.checkpoints:
        refs_dir = save_tiny_checkpoint(model_type, root / f"ckpt_{model_type}")
        refs.append(str(refs_dir))
    results = []
    for test_type, names in (("basic", list(group.basic)), ("comprehensive", refs),
                             ("benchmark", list(group.benchmark))):
        if names:
            results += generate(names, suite, test_type)
    failed = [r for r in results if not r.ok]
    assert not failed, failed
    (suite / "conftest.py").write_text(SUITE_CONFTEST)
    db = root / "results.duckdb"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYTEST_XDIST_WORKER", None)
    proc = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(suite),
            "-n", group.workers, f"--ipfs-hw={group.hardware}", f"--ipfs-db={db}",
            "--ipfs-bench-max-time=0.02", "--ipfs-bench-min-rounds=2", "--ipfs-bench-warmup=1",
            str(suite),
        ],
        cwd=suite, env=env, capture_output=True, text=True, timeout=600,
    )
    return Session(root, proc, db, [r.path for r in results], group)


def check_generated_modules_are_ruff_clean(session):
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", *map(str, session.modules)],
        capture_output=True, text=True, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def check_every_generated_test_passes_or_skips_with_a_reason(session):
    assert session.proc.returncode == 0, session.proc.stdout[-6000:] + session.proc.stderr[-3000:]
    bad = session.rows(
        "SELECT nodeid, outcome, message FROM test_results WHERE outcome NOT IN ('passed', 'skipped')"
    )
    assert bad == []
    no_reason = session.rows(
        "SELECT nodeid FROM test_results WHERE outcome = 'skipped' AND coalesce(message, '') = ''"
    )
    assert no_reason == []


def check_cpu_runs_the_real_checks(session):
    passed = {
        row[0].split("::")[1].split("[")[0]
        for row in session.rows(
            "SELECT nodeid FROM test_results WHERE hardware = 'cpu' AND outcome = 'passed'"
        )
    }
    group = session.group
    kinds = {"test_forward"}
    if group.comprehensive or group.checkpoints:
        kinds |= {"test_batch_matches_single_inputs", "test_second_shape_runs_without_preparing_again",
                  "test_save_load_round_trip", "test_reduced_precision"}
    if "gpt2" in group.comprehensive:
        kinds.add("test_greedy_decoding_matches_torch_generate")
    if "gpt2" in group.benchmark:
        kinds |= {"test_forward_latency", "test_time_to_first_token", "test_decode_latency"}
    assert kinds <= passed
    # every module's forward test passed on cpu (over the groups: six models, basic and
    # comprehensive, and the checkpoints)
    forwards = session.rows(
        "SELECT count(*) FROM test_results WHERE hardware = 'cpu' AND outcome = 'passed' "
        "AND nodeid LIKE '%::test_forward[%'"
    )[0][0]
    assert forwards == group.forward_modules


def check_openvino_runs_for_real(session):
    """OpenVINO items pass, or skip with a reason that is not 'not a torch device'."""
    rows = session.rows("SELECT nodeid, outcome, message FROM test_results WHERE hardware = 'openvino'")
    assert rows, "no openvino item ran"
    assert {n.split("::")[0] for n, _, _ in rows} == set(OPENVINO_MODULES)
    assert [r for r in rows if r[1] not in ("passed", "skipped")] == []
    skipped = {m for _, o, m in rows if o == "skipped"}
    assert all(m and "not a torch device" not in m for m in skipped), skipped
    passed = {n.split("::")[1].split("[")[0] for n, o, _ in rows if o == "passed"}
    assert {
        "test_forward", "test_batch_matches_single_inputs", "test_second_shape_runs_without_preparing_again",
        "test_save_load_round_trip", "test_greedy_decoding_matches_torch_generate",
        "test_forward_latency", "test_preparation_latency",
    } <= passed
    # conversion and compile are benchmark cases of their own, with their raw samples
    stages = session.rows(
        "SELECT b.nodeid, b.rounds, count(s.round) FROM benchmark_results b "
        "JOIN benchmark_samples s USING (run_id, nodeid) WHERE b.hardware = 'openvino' "
        "AND b.nodeid LIKE '%test_preparation_latency%' GROUP BY ALL ORDER BY 1"
    )
    assert [(n.split("[")[1], r, c) for n, r, c in stages] == [("openvino-compile]", 3, 3), ("openvino-convert]", 3, 3)]
    run_id = session.rows("SELECT run_id FROM runs")[0][0]
    cli = [sys.executable, "-m", "pytest_ipfs_accel"]
    proc = subprocess.run([*cli, "compare", run_id, "--backends", "cpu,openvino", "--db", str(session.db)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "test_bert_benchmark.py::test_forward_latency[b1-s16-float32]" in proc.stdout
    line = next(x for x in proc.stdout.splitlines() if "test_forward_latency[b1-s16-float32]" in x)
    assert "x faster" in line or "no significant difference" in line
    matrix = subprocess.run([*cli, "report", "--matrix", "--db", str(session.db)], capture_output=True, text=True)
    assert matrix.returncode == 0 and "openvino" in matrix.stdout.splitlines()[0], matrix.stdout


def check_unusable_backend_items_skip_with_the_detector_reason(session):
    from hardware_markers import default_registry

    cuda = default_registry().detect("cuda")
    outcomes = session.rows(
        "SELECT DISTINCT outcome FROM test_results WHERE hardware = 'cuda'"
    )
    assert outcomes, "no item was parametrized for cuda"
    if not cuda.usable:
        assert outcomes == [("skipped",)]
        messages = {m for (m,) in session.rows("SELECT DISTINCT message FROM test_results WHERE hardware = 'cuda'")}
        assert all(cuda.reason in m for m in messages), messages


def check_each_result_records_its_model_reference(session):
    models = {m for (m,) in session.rows("SELECT DISTINCT model FROM test_results")}
    assert session.group.models <= models
    checkpoints = {m for m in models if m not in MODELS}
    assert {Path(m).name for m in checkpoints} == {f"ckpt_{t}" for t in session.group.checkpoints}
    assert session.rows("SELECT count(*) FROM test_results WHERE model IS NULL")[0][0] == 0


def check_checkpoint_modules_load_the_checkpoint_and_its_preprocessor(session):
    for model_type in session.group.checkpoints:
        source = (session.root / "suite" / f"test_ckpt_{model_type}_comprehensive.py").read_text()
        # real inputs: text through the saved tokenizer, audio through the feature extractor
        loader = "AutoFeatureExtractor" if model_type == "whisper" else "AutoTokenizer"
        assert "from_pretrained(CHECKPOINT" in source and f"{loader}.from_pretrained" in source
        assert "CONFIG_OVERRIDES" not in source
        passed = session.rows(
            "SELECT count(*) FROM test_results WHERE outcome = 'passed' AND nodeid LIKE ?",
            f"%test_ckpt_{model_type}_comprehensive.py::%",
        )[0][0]
        assert passed >= 4


def check_benchmarks_record_the_sweep(session):
    rows = session.rows(
        "SELECT nodeid, model, batch_size, seq_len, dtype, rounds FROM benchmark_results WHERE hardware = 'cpu'"
    )
    bert = [r for r in rows if r[1] == "bert"]
    # batch {1, 4} x seq {16, 64} x {float32, bfloat16} on cpu (float16 skipped there)
    assert {(r[2], r[3], r[4]) for r in bert} == {
        (b, s, d) for b in (1, 4) for s in (16, 64) for d in ("float32", "bfloat16")
    }
    assert any("[cpu-b1-s16-float32]" in r[0] for r in bert)
    gpt2 = [r for r in rows if r[1] == "gpt2"]
    kinds = {r[0].split("::")[1].split("[")[0] for r in gpt2}
    assert kinds == {"test_forward_latency", "test_time_to_first_token", "test_decode_latency"}
    assert all(r[5] >= 2 for r in rows)
    samples = session.rows("SELECT count(*) FROM benchmark_samples")[0][0]
    assert samples >= 2 * len(rows)


#: each check and the groups it reads (all: every group; over the groups they check all the
#: single session checked)
CHECKS = [
    (check_generated_modules_are_ruff_clean, None),
    (check_every_generated_test_passes_or_skips_with_a_reason, None),
    (check_cpu_runs_the_real_checks, None),
    (check_openvino_runs_for_real, {"openvino"}),
    (check_unusable_backend_items_skip_with_the_detector_reason, None),
    (check_each_result_records_its_model_reference, None),
    (check_checkpoint_modules_load_the_checkpoint_and_its_preprocessor, {"text"}),
    (check_benchmarks_record_the_sweep, {"openvino"}),
]


@pytest.mark.parametrize("name", list(GROUPS))
def test_generated_modules_for_real(tmp_path, subtests, name):
    """One group's generated suite, one pytest subprocess; each property checked as a subtest.

    (One test per group rather than a module-scoped fixture: under xdist each worker
    would build the fixture again.)
    """
    session = run_session(tmp_path, GROUPS[name])
    for check, groups in CHECKS:
        if groups is None or name in groups:
            with subtests.test(msg=check.__name__):
                check(session)
