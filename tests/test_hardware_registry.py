"""The detector registry: laziness, caching, failures and overrides; and import cost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hardware_markers import BACKENDS, Device, Hardware, Registry, default_registry
from hardware_markers.detectors import DETECTORS

ROOT = Path(__file__).resolve().parents[1]


def test_default_registry_has_one_detector_per_backend_in_order():
    assert set(DETECTORS) == set(BACKENDS)
    assert default_registry().names() == BACKENDS


def test_every_real_detector_answers_with_a_reason():
    for hw in default_registry().detect_all():
        assert isinstance(hw, Hardware) and hw.name in BACKENDS
        assert hw.reason.strip(), f"{hw.name} gave no reason"
        if not hw.usable:
            assert hw.torch_device is None


def test_detection_is_lazy_and_cached():
    calls = []

    def detector() -> Hardware:
        calls.append(1)
        return Hardware("npu", True, "test NPU", (Device("NPU 0"),))

    registry = Registry({"npu": detector})
    assert calls == []  # building the registry detects nothing
    first = registry.detect("npu")
    assert registry.detect("npu") is first and calls == [1]
    registry.clear()
    registry.detect("npu")
    assert calls == [1, 1]


def test_a_detector_that_raises_becomes_an_unusable_backend_with_the_reason():
    calls = []

    def broken() -> Hardware:
        calls.append(1)
        raise RuntimeError("CUDA driver initialization failed")

    registry = Registry({"cuda": broken})
    hw = registry.detect("cuda")
    assert not hw.usable and hw.devices == ()
    assert hw.reason == "detection failed: RuntimeError: CUDA driver initialization failed"
    registry.detect("cuda")
    assert calls == [1]  # the failure is cached too: one broken runtime is asked once


def test_register_overrides_a_detector_and_forgets_its_cached_answer():
    registry = default_registry()
    assert not registry.detect("webnn").usable
    browser = Hardware("webnn", True, "Chromium 140 attached", (Device("WebNN GPU"),))
    registry.register("webnn", lambda: browser)
    assert registry.detect("webnn") is browser
    registry.register("tpu", lambda: Hardware("tpu", False, "no TPU here"))
    assert registry.names() == (*BACKENDS, "tpu")  # extras after the known backends


def test_unknown_backend_names_the_known_ones():
    with pytest.raises(KeyError, match="unknown backend 'cuda2'; known: cpu, cuda, rocm"):
        default_registry().detect("cuda2")


def test_importing_hardware_markers_does_not_import_torch():
    code = (
        "import sys, hardware_markers, hardware_markers.detectors, "
        "pytest_ipfs_accel.commands.hardware\n"
        "hardware_markers.default_registry().names()\n"
        "heavy = {'torch', 'openvino', 'wgpu', 'transformers'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                   env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
