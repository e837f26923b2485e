"""The plugin's command line, parametrization and markers (pytester, in-process)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hardware_markers import BACKENDS, default_registry
from hardware_markers.base import BROWSER_BACKENDS
from pytest_ipfs_accel.merge import open_reader

HW_TEST = """
import pytest

def test_hw(ipfs_hw):
    assert ipfs_hw.usable
    assert ipfs_hw.name in ("cpu", "cuda", "rocm", "mps", "xpu", "openvino", "qnn", "wasm", "webnn", "webgpu")
"""

CUDA_USABLE = default_registry().detect("cuda").usable


def test_unknown_backend_is_a_usage_error_naming_the_valid_ones(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HW_TEST)
    result = pytester.runpytest("--ipfs-hw=cpu,tpu", "--ipfs-no-db")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--ipfs-hw=cpu,tpu: unknown backend 'tpu'; valid: auto, all, *cpu, cuda, rocm*"])


def test_items_get_backend_ids_and_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HW_TEST)
    result = pytester.runpytest("--ipfs-hw=cpu,cuda", "--ipfs-no-db", "--collect-only", "-q", "--strict-markers")
    result.stdout.fnmatch_lines(["test_*.py::test_hw[[]cpu[]]", "test_*.py::test_hw[[]cuda[]]"])
    selected = pytester.runpytest("--ipfs-hw=cpu,cuda", "--ipfs-no-db", "--collect-only", "-q", "-m", "cuda")
    selected.stdout.fnmatch_lines(["test_*.py::test_hw[[]cuda[]]", "*1/2 tests collected (1 deselected)*"])


@pytest.mark.skipif(CUDA_USABLE, reason="this machine has a usable CUDA device")
def test_unusable_backend_skips_with_the_detectors_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HW_TEST)
    result = pytester.runpytest("--ipfs-hw=cuda", "--ipfs-no-db", "-rs", "--strict-markers")
    assert result.ret == pytest.ExitCode.OK
    reason = default_registry().detect("cuda").reason
    result.stdout.fnmatch_lines([f"SKIPPED*cuda not usable: {reason}*", "*1 skipped*"])


def test_all_parametrizes_every_known_backend(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HW_TEST)
    result = pytester.runpytest("--ipfs-hw=all", "--ipfs-no-db", "-q")
    assert result.ret == pytest.ExitCode.OK
    usable = [h.name for h in default_registry().detect_all() if h.usable]
    result.assert_outcomes(passed=len(usable), skipped=len(BACKENDS) - len(usable))


def test_auto_is_the_default_and_runs_usable_backends_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HW_TEST)
    result = pytester.runpytest("--ipfs-no-db", "-q")
    # the browser backends are left out of auto: detecting them launches Chromium
    registry = default_registry()
    usable = [n for n in registry.names() if n not in BROWSER_BACKENDS and registry.detect(n).usable]
    assert "cpu" in usable
    result.assert_outcomes(passed=len(usable))


def test_ini_key_selects_hardware(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nipfs_hw = cpu,cuda\nipfs_no_db = true\n")
    pytester.makepyfile(HW_TEST)
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["*test_hw[[]cpu[]]", "*test_hw[[]cuda[]]"])
    assert not (pytester.path / ".ipfs_accel").exists()


def test_hardware_marker_restricts_a_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.hardware("cuda", "rocm")
        def test_gpu_only(ipfs_hw):
            pass

        @pytest.mark.hardware("cpu")
        def test_no_param():
            pass

        @pytest.mark.hardware("cuda")
        def test_no_param_gpu():
            pass
        """
    )
    result = pytester.runpytest("--ipfs-hw=cpu,cuda", "--ipfs-no-db", "-v", "-rs", "--strict-markers")
    result.stdout.fnmatch_lines(["*test_gpu_only[[]cuda[]]*"])
    assert "test_gpu_only[cpu]" not in result.stdout.str()
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] == 1 + int(CUDA_USABLE) * 2
    if not CUDA_USABLE:
        result.stdout.fnmatch_lines(["SKIPPED*cuda not usable*"])


def test_hardware_marker_with_an_unknown_backend_is_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.hardware("gpu")
        def test_x(ipfs_hw):
            pass
        """
    )
    result = pytester.runpytest("--ipfs-no-db")
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*hardware('gpu'): expected backend names from cpu, cuda*"])


def test_disabling_the_plugin_turns_everything_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HW_TEST)
    result = pytester.runpytest("-p", "no:ipfs_accel")
    result.stdout.fnmatch_lines(["*fixture 'ipfs_hw' not found*"])
    assert "ipfs-accel" not in result.stdout.str()
    assert not (pytester.path / ".ipfs_accel").exists()


def test_terminal_summary_says_what_ran_and_where_results_went(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HW_TEST)
    result = pytester.runpytest("--ipfs-hw=cpu,cuda", "--ipfs-run-id=summary-run")
    db = pytester.path / ".ipfs_accel" / "results.duckdb"
    result.stdout.fnmatch_lines(
        ["*- ipfs-accel -*", "hardware: cpu (1 passed); cuda (1 *)", f"results: run summary-run -> {db}"]
    )
    con = open_reader(db)  # the next reader merges the session's spool
    try:
        assert con.execute("SELECT run_id FROM runs").fetchall() == [("summary-run",)]
    finally:
        con.close()


def test_backend_hook_adds_a_backend(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from hardware_markers import Device, Hardware

        def pytest_ipfs_accel_register_backends(registry, config):
            registry.register(
                "fakenpu",
                lambda: Hardware("fakenpu", True, "simulated for this test", (Device("npu0"),), "cpu"),
            )
            registry.register("cpu", lambda: Hardware("cpu", False, "cpu switched off by conftest"))
        """
    )
    pytester.makepyfile(HW_TEST.replace('"webgpu")', '"webgpu", "fakenpu")'))
    result = pytester.runpytest("--ipfs-hw=cpu,fakenpu", "--ipfs-no-db", "-rs", "-v", "--strict-markers")
    result.stdout.fnmatch_lines(["*test_hw[[]fakenpu[]] PASSED*", "SKIPPED*cpu not usable: cpu switched off by conftest*"])


def test_loading_the_plugin_imports_neither_torch_nor_transformers(tmp_path) -> None:
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    assert True\n")
    (tmp_path / "conftest.py").write_text(
        "import sys\n\ndef pytest_sessionfinish(session):\n"
        "    heavy = sorted(m for m in ('torch', 'transformers') if m in sys.modules)\n"
        "    print('HEAVY-MODULES', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider", "--ipfs-no-db", str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert "HEAVY-MODULES []" in out.stdout, out.stdout + out.stderr
    assert out.returncode == 0
