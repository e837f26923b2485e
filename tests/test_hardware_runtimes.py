"""OpenVINO, QNN, WebNN and WebGPU detectors, and the OS probes they lean on.

Where the runtime is not installed here, a stand-in module replaces the
runtime's own API (``openvino.Core``, ``wgpu.gpu``) so the detectors' logic
runs; QNN libraries are real shared objects that really load (or really fail to).
"""

from __future__ import annotations

import _ctypes
import shutil
import sys
from types import ModuleType, SimpleNamespace

import pytest

from hardware_markers import runtimes, system
from hardware_markers.browser import detect_wgpu_native
from hardware_markers.runtimes import detect_openvino, detect_qnn

# ---------------------------------------------------------------------- openvino


class _FakeCore:
    """What ``openvino.Core`` answers on a box with a CPU and an Arc GPU."""

    available_devices = ["CPU", "GPU.0"]
    _props = {
        ("CPU", "FULL_DEVICE_NAME"): "Intel(R) Core(TM) Ultra 7 155H",
        ("CPU", "OPTIMIZATION_CAPABILITIES"): ["FP32", "INT8", "BF16"],
        ("CPU", "DEVICE_ARCHITECTURE"): "intel64",
        ("GPU.0", "FULL_DEVICE_NAME"): "Intel(R) Arc(TM) Graphics (iGPU)",
        ("GPU.0", "GPU_DEVICE_TOTAL_MEM_SIZE"): 15 * 2**30,
        ("GPU.0", "DEVICE_ARCHITECTURE"): "GPU: vendor=0x8086 arch=v12.71.4",
    }

    def get_property(self, device, name):
        if (device, name) not in self._props:
            raise RuntimeError(f"Unsupported property {name} by {device} plugin")
        return self._props[(device, name)]


def _fake_openvino(monkeypatch):
    fake = ModuleType("openvino")
    fake.__version__ = "2026.4.1-22982-e213a147257-releases/2026/4"
    fake.get_version = lambda: fake.__version__
    fake.Core = _FakeCore
    monkeypatch.setitem(sys.modules, "openvino", fake)


def test_openvino_lists_available_devices_with_full_names(monkeypatch):
    _fake_openvino(monkeypatch)
    monkeypatch.delenv(runtimes.OPENVINO_DEVICE_ENV, raising=False)
    hw = detect_openvino()
    assert hw.usable and hw.torch_device is None
    assert hw.runtime == "openvino 2026.4.1"
    assert hw.reason == "openvino 2026.4.1 runs on CPU (Intel(R) Core(TM) Ultra 7 155H); offers CPU, GPU.0"
    assert hw.engine.device == "CPU" and hw.engine.lock_key == "cpu"  # shares the cpu backend's cores
    cpu, gpu = hw.devices
    assert (cpu.name, cpu.extra["ov_device"], cpu.memory_bytes) == (
        "Intel(R) Core(TM) Ultra 7 155H", "CPU", None)
    assert cpu.extra["optimization_capabilities"] == ["FP32", "INT8", "BF16"]
    assert cpu.extra["precisions"] == ["float32", "bfloat16"]
    assert (gpu.name, gpu.index, gpu.memory_bytes) == ("Intel(R) Arc(TM) Graphics (iGPU)", 1, 15 * 2**30)
    assert gpu.capability == "GPU: vendor=0x8086 arch=v12.71.4"
    assert hw.fingerprint()["engine"]["device"] == "CPU"
    assert hw.precision_support("bfloat16") is None
    assert "no FP16" in hw.precision_support("float16")


def test_openvino_device_is_chosen_by_environment(monkeypatch):
    _fake_openvino(monkeypatch)
    monkeypatch.setenv(runtimes.OPENVINO_DEVICE_ENV, "GPU")
    hw = detect_openvino()
    assert hw.usable and hw.engine.device == "GPU.0" and hw.engine.lock_key is None
    assert hw.reason.startswith("openvino 2026.4.1 runs on GPU.0 (Intel(R) Arc(TM) Graphics (iGPU))")
    monkeypatch.setenv(runtimes.OPENVINO_DEVICE_ENV, "NPU")
    hw = detect_openvino()
    assert not hw.usable and hw.engine is None
    assert hw.reason == ("IPFS_ACCEL_OPENVINO_DEVICE=NPU but openvino 2026.4.1 offers only CPU, GPU.0: "
                         "set it to one of those")


def test_openvino_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)
    hw = detect_openvino()
    assert not hw.usable and hw.reason == "openvino is not installed: pip install openvino"


def test_real_openvino_when_installed():
    openvino = pytest.importorskip("openvino")
    hw = detect_openvino()
    assert [d.extra["ov_device"] for d in hw.devices] == list(openvino.Core().available_devices)
    assert hw.usable == bool(hw.devices)


# --------------------------------------------------------------------------- qnn


def _loadable_library(path):
    """Put a real shared object at ``path`` (a copy of CPython's own _ctypes extension)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(_ctypes.__file__, path)


def _host_lib_dir(root):
    pattern = runtimes._qnn_host_patterns()[0]
    return root / "lib" / pattern.replace("*", "host")


def test_qnn_without_sdk_says_what_is_missing(monkeypatch):
    monkeypatch.delenv("QNN_SDK_ROOT", raising=False)
    hw = detect_qnn()
    assert not hw.usable
    assert "QNN" in hw.reason and "set QNN_SDK_ROOT" in hw.reason


def test_qnn_sdk_root_that_is_not_a_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("QNN_SDK_ROOT", str(tmp_path / "nowhere"))
    hw = detect_qnn()
    assert not hw.usable and "is not a directory" in hw.reason


def test_qnn_usable_when_backend_libraries_load(monkeypatch, tmp_path):
    root = tmp_path / "qairt" / "2.31.0.250130"
    lib_dir = _host_lib_dir(root)
    _loadable_library(lib_dir / "libQnnCpu.so")
    (lib_dir / "libQnnHtp.so").write_bytes(b"not an ELF file")  # present but broken
    (root / "sdk.yaml").write_text("name: qairt\nversion: 2.31.0.250130\n")
    monkeypatch.setenv("QNN_SDK_ROOT", str(root))
    hw = detect_qnn()
    assert hw.usable, hw.reason
    assert hw.runtime == "QNN SDK 2.31.0.250130"
    (device,) = hw.devices  # the broken HTP library does not count
    assert device.capability == "CPU" and device.extra["library"].endswith("libQnnCpu.so")


def test_qnn_with_only_broken_libraries_reports_the_loader_error(monkeypatch, tmp_path):
    root = tmp_path / "2.31.0"
    lib_dir = _host_lib_dir(root)
    lib_dir.mkdir(parents=True)
    (lib_dir / "libQnnHtp.so").write_bytes(b"not an ELF file")
    monkeypatch.setenv("QNN_SDK_ROOT", str(root))
    hw = detect_qnn()
    assert not hw.usable
    assert hw.runtime == "QNN SDK 2.31.0"  # no sdk.yaml: the folder names the version
    assert "libQnnHtp.so" in hw.reason and "no backend library loads" in hw.reason


def test_qnn_sdk_without_host_libraries(monkeypatch, tmp_path):
    (tmp_path / "lib" / "hexagon-v75").mkdir(parents=True)
    monkeypatch.setenv("QNN_SDK_ROOT", str(tmp_path))
    hw = detect_qnn()
    assert not hw.usable and "has no libraries for this host" in hw.reason


# ------------------------------------------------------------------------- webnn


# ------------------------------------------------------------------------ webgpu


def _adapter(device, adapter_type, backend_type, description="", architecture=""):
    info = {"vendor": "", "architecture": architecture, "device": device,
            "description": description, "adapter_type": adapter_type,
            "backend_type": backend_type}
    return SimpleNamespace(info=info, limits={"max-buffer-size": 2**31}, features={"shader-f16"})


def _fake_wgpu(monkeypatch, adapters):
    fake = ModuleType("wgpu")
    fake.__version__ = "0.32.0"
    fake.gpu = SimpleNamespace(enumerate_adapters_sync=lambda: list(adapters))
    monkeypatch.setitem(sys.modules, "wgpu", fake)


def test_webgpu_without_wgpu_says_it_lives_in_a_browser(monkeypatch):
    monkeypatch.setitem(sys.modules, "wgpu", None)
    hw = detect_wgpu_native()
    assert not hw.usable
    assert "WebGPU runs inside a browser (see the webgpu backend)" in hw.reason and "pip install wgpu" in hw.reason


def test_webgpu_with_a_hardware_adapter_is_usable_and_listed_first(monkeypatch):
    _fake_wgpu(monkeypatch, [
        _adapter("llvmpipe (LLVM 15.0.6, 256 bits)", "CPU", "OpenGL"),
        _adapter("NVIDIA H100 80GB HBM3", "DiscreteGPU", "Vulkan", "580.159.04", "hopper"),
    ])
    hw = detect_wgpu_native()
    assert hw.usable and hw.runtime == "wgpu 0.32.0" and hw.torch_device is None
    first, second = hw.devices
    assert (first.index, first.name, first.driver, first.capability) == (
        0, "NVIDIA H100 80GB HBM3", "580.159.04", "hopper")
    assert first.extra["features"] == ["shader-f16"] and first.extra["max_buffer_size"] == 2**31
    assert second.index == 1 and second.extra["adapter_type"] == "CPU"
    assert "NVIDIA H100 80GB HBM3 via Vulkan" in hw.reason and "llvmpipe" not in hw.reason


def test_webgpu_with_only_a_software_adapter_is_not_usable(monkeypatch):
    _fake_wgpu(monkeypatch, [_adapter("llvmpipe (LLVM 15.0.6, 256 bits)", "CPU", "OpenGL")])
    hw = detect_wgpu_native()
    assert not hw.usable and len(hw.devices) == 1
    assert "only software adapters (llvmpipe (LLVM 15.0.6, 256 bits) via OpenGL)" in hw.reason


def test_webgpu_with_no_adapter(monkeypatch):
    _fake_wgpu(monkeypatch, [])
    hw = detect_wgpu_native()
    assert not hw.usable and "found no adapter" in hw.reason


# ----------------------------------------------------------------- system probes


@pytest.mark.parametrize(("cpuinfo", "model"), [
    ("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n", "AMD EPYC 7B13"),
    ("processor\t: 0\nBogoMIPS\t: 50.00\n\nModel\t: Raspberry Pi 5 Model B Rev 1.0\n",
     "Raspberry Pi 5 Model B Rev 1.0"),
])
def test_cpu_model_from_cpuinfo(monkeypatch, tmp_path, cpuinfo, model):
    path = tmp_path / "cpuinfo"
    path.write_text(cpuinfo)
    monkeypatch.setattr(system, "CPUINFO", path)
    assert system.cpu_model() == model


def test_cpu_model_without_cpuinfo_falls_back_to_the_platform(monkeypatch, tmp_path):
    monkeypatch.setattr(system, "CPUINFO", tmp_path / "absent")
    monkeypatch.setattr(system, "mac_chip", lambda: None)
    monkeypatch.setattr(system.platform, "processor", lambda: "")
    monkeypatch.setattr(system.platform, "machine", lambda: "riscv64")
    assert system.cpu_model() == "riscv64"
    monkeypatch.setattr(system.platform, "processor", lambda: "Some Vendor CPU")
    assert system.cpu_model() == "Some Vendor CPU"
    monkeypatch.setattr(system.platform, "processor", lambda: "")
    monkeypatch.setattr(system.platform, "machine", lambda: "")
    assert system.cpu_model() == "unknown CPU"


def test_nvidia_driver_version_parsing(monkeypatch, tmp_path):
    path = tmp_path / "version"
    path.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 2024\n")
    monkeypatch.setattr(system, "NVIDIA_DRIVER_VERSION", path)
    assert system.nvidia_driver_version() == "550.54.15"
    monkeypatch.setattr(system, "NVIDIA_DRIVER_VERSION", tmp_path / "absent")
    assert system.nvidia_driver_version() is None
