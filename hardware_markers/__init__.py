"""Backend detection: what each backend really offers on this machine.

Nothing here imports torch at import time; detectors import their runtime
when first asked, and answers are cached per registry.

Modules: ``base`` (names, ``Hardware``/``Device``, ``Registry``), ``detectors``
(the name -> detector map), ``torch_backends`` (cpu cuda rocm mps xpu),
``runtimes`` (openvino qnn), ``browser`` (webnn webgpu), ``system`` (OS probes).
"""

from hardware_markers.base import BACKENDS, Detector, Device, Hardware, Registry
from hardware_markers.detectors import default_registry

__all__ = ["BACKENDS", "Detector", "Device", "Hardware", "Registry", "default_registry"]
