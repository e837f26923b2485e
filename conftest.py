"""The repo's own test-suite plumbing (not part of the plugin)."""

import importlib
import importlib.util

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture
def pytester(_runtimes_imported, pytester):
    """pytester, with OpenVINO imported first when it is installed: pytester drops every module
    a test imports, and OpenVINO's native modules cannot be imported a second time, so an
    in-process run that detects the openvino backend would break it for the rest of the worker."""
    return pytester


@pytest.fixture(scope="session")
def _runtimes_imported():
    if importlib.util.find_spec("openvino") is not None:
        importlib.import_module("openvino")
    # the browser backends keep one Chromium per process in these modules: an in-process run
    # that detects them must find the worker's session, not launch a second one
    for name in ("hardware_markers.browser", "hardware_markers.browser_page", "hardware_markers.browser_runtime"):
        importlib.import_module(name)
