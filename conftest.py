"""The repo's own test-suite plumbing (not part of the plugin)."""

import importlib
import importlib.util
import sys

import pytest
from _pytest.pytester import SysModulesSnapshot

pytest_plugins = ["pytester", "tests.facade_fixtures"]


@pytest.fixture
def pytester(_runtimes_imported, pytester, tmp_path_factory):
    """pytester that, after an in-process run, drops only the modules the run imported from its
    own temporary folders (test modules, conftests), never an installed library's: native
    modules (duckdb 2's nanobind, numpy, scipy, pytz through duckdb, OpenVINO) cannot be imported
    a second time, and pytester's default drops every module a run imported first."""
    basetemp = str(tmp_path_factory.getbasetemp())

    def from_the_run(name: str) -> bool:
        module = sys.modules.get(name)
        try:  # some modules' __path__ is not a list of folders (torch's _ClassNamespace)
            places = [getattr(module, "__file__", None), *list(getattr(module, "__path__", None) or [])]
        except Exception:
            return False
        return any(isinstance(p, str) and p.startswith(basetemp) for p in places)

    def snapshot() -> SysModulesSnapshot:
        return SysModulesSnapshot(preserve=lambda name: not from_the_run(name))

    pytester._sys_modules_snapshot = snapshot()
    pytester._Pytester__take_sys_modules_snapshot = snapshot
    return pytester


@pytest.fixture(scope="session")
def _runtimes_imported():
    importlib.import_module("duckdb")
    # the same for scipy's and numpy's extension modules (benchmark statistics, the gate)
    importlib.import_module("scipy.stats")
    # duckdb imports pytz when it first returns a TIMESTAMPTZ; dropped by a pytester run, the
    # next fetch in this process fails with "SystemError: null argument to internal routine"
    importlib.import_module("pytz")
    if importlib.util.find_spec("openvino") is not None:
        importlib.import_module("openvino")
    # the browser backends keep one Chromium per process in these modules: an in-process run
    # that detects them must find the worker's session, not launch a second one
    for name in ("hardware_markers.browser", "hardware_markers.browser_page", "hardware_markers.browser_runtime"):
        importlib.import_module(name)
