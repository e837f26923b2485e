"""Generated modules for real: ruff-clean, collected and passing under the plugin.

One module-scoped session generates basic + comprehensive modules for
bert gpt2 t5 vit whisper clip, comprehensive modules for tiny checkpoint
directories (saved with save_pretrained, with a tokenizer built offline), and
benchmark modules for bert and gpt2; then runs them all in ONE
``python -m pytest -n 2 --ipfs-hw=cpu,cuda,openvino`` subprocess (torch and
transformers cost seconds per process) and reads the outcomes back from its
DuckDB file.  OpenVINO runs two modules only (a conftest deselects its other
items): gpt2 comprehensive and bert benchmark, which cover every test kind at
the cost of two conversions.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


class Session:
    def __init__(self, root: Path, proc: subprocess.CompletedProcess, db: Path, modules: list[Path]):
        self.root, self.proc, self.db, self.modules = root, proc, db, modules

    def rows(self, sql: str, *params) -> list[tuple]:
        with open_reader(self.db) as con:
            return con.execute(sql, list(params)).fetchall()


def run_session(root: Path) -> Session:
    suite = root / "suite"
    refs = list(MODELS)
    for model_type in CHECKPOINTS:
        refs_dir = save_tiny_checkpoint(model_type, root / f"ckpt_{model_type}")
        refs.append(str(refs_dir))
    results = []
    results += generate(MODELS, suite, "basic")
    results += generate(refs, suite, "comprehensive")
    results += generate(["bert", "gpt2"], suite, "benchmark")
    failed = [r for r in results if not r.ok]
    assert not failed, failed
    (suite / "conftest.py").write_text(SUITE_CONFTEST)
    db = root / "results.duckdb"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYTEST_XDIST_WORKER", None)
    proc = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(suite),
            "-n", "2", "--ipfs-hw=cpu,cuda,openvino", f"--ipfs-db={db}",
            "--ipfs-bench-max-time=0.02", "--ipfs-bench-min-rounds=2", "--ipfs-bench-warmup=1",
            str(suite),
        ],
        cwd=suite, env=env, capture_output=True, text=True, timeout=600,
    )
    return Session(root, proc, db, [r.path for r in results])


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
    assert {
        "test_forward",
        "test_batch_matches_single_inputs",
        "test_second_shape_runs_without_preparing_again",
        "test_save_load_round_trip",
        "test_reduced_precision",
        "test_greedy_decoding_matches_torch_generate",
        "test_forward_latency",
        "test_time_to_first_token",
        "test_decode_latency",
    } <= passed
    # every module's forward test passed on cpu: six models, basic and comprehensive
    forwards = session.rows(
        "SELECT count(*) FROM test_results WHERE hardware = 'cpu' AND outcome = 'passed' "
        "AND nodeid LIKE '%::test_forward[%'"
    )[0][0]
    assert forwards == 2 * len(MODELS) + len(CHECKPOINTS)


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
    assert set(MODELS) <= models
    checkpoints = {m for m in models if m not in MODELS}
    assert {Path(m).name for m in checkpoints} == {f"ckpt_{t}" for t in CHECKPOINTS}
    assert session.rows("SELECT count(*) FROM test_results WHERE model IS NULL")[0][0] == 0


def check_checkpoint_modules_load_the_checkpoint_and_its_preprocessor(session):
    for model_type in CHECKPOINTS:
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


CHECKS = [
    check_generated_modules_are_ruff_clean,
    check_every_generated_test_passes_or_skips_with_a_reason,
    check_cpu_runs_the_real_checks,
    check_openvino_runs_for_real,
    check_unusable_backend_items_skip_with_the_detector_reason,
    check_each_result_records_its_model_reference,
    check_checkpoint_modules_load_the_checkpoint_and_its_preprocessor,
    check_benchmarks_record_the_sweep,
]


def test_generated_modules_for_real(tmp_path, subtests):
    """One generated suite, one pytest subprocess; each property checked as a subtest.

    (A single test rather than a module-scoped fixture: under xdist each worker
    would build the fixture again, doubling the most expensive part of the suite.)
    """
    session = run_session(tmp_path)
    for check in CHECKS:
        with subtests.test(msg=check.__name__):
            check(session)
