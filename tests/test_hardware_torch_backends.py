"""cpu, cuda, rocm, mps and xpu detectors.

The real machine is asked where it can answer (cpu; cuda here is a CPU-only
torch).  Other boxes are made by replacing what torch reports *below* the
detectors (``torch.version.hip``, ``torch.cuda.get_device_properties``...), so
the detectors' own logic is what runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest
import torch

from hardware_markers import system
from hardware_markers.torch_backends import (
    detect_cpu,
    detect_cuda,
    detect_mps,
    detect_rocm,
    detect_xpu,
)

GiB = 2**30


# ------------------------------------------------------------- the real machine


def test_cpu_is_usable_with_a_real_fingerprint():
    hw = detect_cpu()
    assert hw.usable and hw.torch_device == "cpu"
    assert hw.runtime == f"torch {torch.__version__}"
    (device,) = hw.devices
    assert device.memory_bytes == psutil.virtual_memory().total
    assert device.extra["torch_threads"] == torch.get_num_threads()
    assert device.extra["usable_cores"] == len(os.sched_getaffinity(0))
    assert device.capability == torch.backends.cpu.get_cpu_capability()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists() and "model name" in cpuinfo.read_text():
        model = next(line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                     if line.startswith("model name"))
        assert device.name == model
    fingerprint = hw.fingerprint()
    assert fingerprint["count"] == 1 and fingerprint["devices"][0]["name"] == device.name


def test_real_cuda_answer_matches_torch():
    hw = detect_cuda()
    if torch.version.hip is None and torch.cuda.is_available():
        assert hw.usable and len(hw.devices) == torch.cuda.device_count()
        major, minor = torch.cuda.get_device_capability(0)
        assert hw.devices[0].capability == f"{major}.{minor}"
    else:
        assert not hw.usable and hw.devices == ()
        if torch.version.cuda is None and torch.version.hip is None:
            assert hw.reason == (f"torch {torch.__version__} was built without CUDA: "
                                 "install a CUDA build of torch")


# ------------------------------------------------------- boxes made below torch


def _gpu_box(monkeypatch, *, hip: str | None, cuda: str | None, props: list) -> None:
    """Make torch report a build and GPUs as a ROCm or CUDA box would."""
    monkeypatch.setattr(torch.version, "hip", hip)
    monkeypatch.setattr(torch.version, "cuda", cuda)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: bool(props))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(props))
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props[i])


def _mi250x(index: int) -> SimpleNamespace:
    return SimpleNamespace(
        name="AMD Instinct MI250X/MI250", total_memory=64 * GiB, major=9, minor=0,
        gcnArchName="gfx90a:sramecc+:xnack-", multi_processor_count=104, uuid=f"GPU-{index}",
    )


@pytest.fixture
def amd_driver(tmp_path, monkeypatch):
    kfd = tmp_path / "kfd"
    kfd.write_text("")
    version = tmp_path / "amdgpu_version"
    version.write_text("6.8.5\n")
    monkeypatch.setattr(system, "AMD_KFD", kfd)
    monkeypatch.setattr(system, "AMDGPU_MODULE_VERSION", version)


@pytest.fixture
def nvidia_driver(tmp_path, monkeypatch):
    proc = tmp_path / "nvidia_version"
    proc.write_text(
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build\n"
        "GCC version:  gcc version 12.2.0\n"
    )
    monkeypatch.setattr(system, "NVIDIA_DRIVER_VERSION", proc)


@pytest.fixture
def no_gpu_driver(tmp_path, monkeypatch):
    monkeypatch.setattr(system, "NVIDIA_DRIVER_VERSION", tmp_path / "absent")
    monkeypatch.setattr(system, "nvml_driver_version", lambda: None)
    monkeypatch.setattr(system, "AMD_KFD", tmp_path / "absent-kfd")


def test_rocm_box_is_rocm_with_its_gcn_arch_and_not_cuda(monkeypatch, amd_driver):
    _gpu_box(monkeypatch, hip="6.2.41133", cuda=None, props=[_mi250x(0), _mi250x(1)])

    rocm = detect_rocm()
    assert rocm.usable, rocm.reason
    assert rocm.torch_device == "cuda:0"  # torch addresses HIP devices as cuda:N
    assert [d.index for d in rocm.devices] == [0, 1]
    assert rocm.devices[0].capability == "gfx90a:sramecc+:xnack-"
    assert rocm.devices[0].memory_bytes == 64 * GiB
    assert rocm.devices[0].driver == "amdgpu 6.8.5"
    assert rocm.devices[0].extra["hip_runtime"] == "6.2.41133"
    assert rocm.fingerprint()["count"] == 2
    assert "2 AMD GPUs" in rocm.reason

    cuda = detect_cuda()
    assert not cuda.usable and cuda.devices == ()
    assert "ROCm build" in cuda.reason and "rocm backend" in cuda.reason


def test_cuda_box_is_cuda_with_compute_capability_and_not_rocm(monkeypatch, nvidia_driver):
    h100 = SimpleNamespace(name="NVIDIA H100 80GB HBM3", total_memory=80 * GiB, major=9, minor=0,
                           multi_processor_count=132, L2_cache_size=50 * 2**20)
    _gpu_box(monkeypatch, hip=None, cuda="13.0", props=[h100])

    cuda = detect_cuda()
    assert cuda.usable, cuda.reason
    assert cuda.torch_device == "cuda:0"
    (device,) = cuda.devices
    assert (device.name, device.capability, device.memory_bytes) == (
        "NVIDIA H100 80GB HBM3", "9.0", 80 * GiB)
    assert device.driver == "580.159.04"
    assert device.extra == {"multiprocessors": 132, "l2_cache_bytes": 50 * 2**20,
                            "cuda_runtime": "13.0"}
    assert cuda.runtime == f"torch {torch.__version__} (CUDA 13.0)"

    rocm = detect_rocm()
    assert not rocm.usable and rocm.devices == ()
    assert "CUDA build" in rocm.reason and "cuda backend" in rocm.reason


def test_cuda_build_without_driver_says_so(monkeypatch, no_gpu_driver):
    _gpu_box(monkeypatch, hip=None, cuda="13.0", props=[])
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    hw = detect_cuda()
    assert not hw.usable
    assert hw.reason == "no NVIDIA driver is loaded and torch.cuda.is_available() is False"


def test_cuda_hidden_by_visible_devices_says_which_variable(monkeypatch, nvidia_driver):
    _gpu_box(monkeypatch, hip=None, cuda="13.0", props=[])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    hw = detect_cuda()
    assert not hw.usable
    assert "NVIDIA driver 580.159.04 is loaded" in hw.reason
    assert "CUDA_VISIBLE_DEVICES='' hides every GPU: unset it" in hw.reason


def test_rocm_build_without_kfd_says_install_the_driver(monkeypatch, no_gpu_driver):
    _gpu_box(monkeypatch, hip="6.2.41133", cuda=None, props=[])
    hw = detect_rocm()
    assert not hw.usable
    assert "no AMD compute driver" in hw.reason and "install the amdgpu/ROCm driver" in hw.reason


def test_cpu_only_torch_is_neither_cuda_nor_rocm(monkeypatch):
    _gpu_box(monkeypatch, hip=None, cuda=None, props=[])
    assert "built without CUDA" in detect_cuda().reason
    assert "built without ROCm" in detect_rocm().reason


def test_mps_box(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_built", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.mps, "recommended_max_memory", lambda: 48 * GiB)
    monkeypatch.setattr(system, "mac_chip", lambda: "Apple M3 Max")
    hw = detect_mps()
    assert hw.usable and hw.torch_device == "mps"
    assert (hw.devices[0].name, hw.devices[0].memory_bytes) == ("Apple M3 Max", 48 * GiB)


def test_mps_built_but_unavailable(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_built", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    hw = detect_mps()
    assert not hw.usable and "torch.backends.mps.is_available() is False" in hw.reason


def test_real_mps_answer_matches_torch():
    hw = detect_mps()
    assert hw.usable == torch.backends.mps.is_available()
    if not torch.backends.mps.is_built():
        assert "built without MPS" in hw.reason


def test_xpu_box(monkeypatch):
    max1550 = SimpleNamespace(name="Intel(R) Data Center GPU Max 1550", total_memory=128 * GiB,
                              driver_version="1.3.29735", platform_name="Intel(R) Level-Zero",
                              gpu_eu_count=448)
    monkeypatch.setattr(torch.xpu, "_is_compiled", lambda: True)
    monkeypatch.setattr(torch.xpu, "is_available", lambda: True)
    monkeypatch.setattr(torch.xpu, "device_count", lambda: 1)
    monkeypatch.setattr(torch.xpu, "get_device_properties", lambda i: max1550)
    hw = detect_xpu()
    assert hw.usable and hw.torch_device == "xpu:0"
    (device,) = hw.devices
    assert device.driver == "1.3.29735" and device.memory_bytes == 128 * GiB
    assert device.extra["gpu_eu_count"] == 448


def test_xpu_compiled_without_device_points_at_the_driver(monkeypatch):
    monkeypatch.setattr(torch.xpu, "_is_compiled", lambda: True)
    monkeypatch.setattr(torch.xpu, "is_available", lambda: False)
    hw = detect_xpu()
    assert not hw.usable and "Intel GPU driver" in hw.reason


def test_missing_torch_is_an_answer_for_every_torch_backend(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    for detect in (detect_cpu, detect_cuda, detect_rocm, detect_mps, detect_xpu):
        hw = detect()
        assert not hw.usable and hw.reason == "torch is not installed: pip install torch"


def test_available_but_no_devices_is_not_usable(monkeypatch, nvidia_driver):
    _gpu_box(monkeypatch, hip=None, cuda="13.0", props=[])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    hw = detect_cuda()
    assert not hw.usable
    assert hw.reason == "torch.cuda.is_available() is True but torch.cuda.device_count() is 0"
