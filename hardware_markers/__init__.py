"""Backend detection: what each backend really offers on this machine.

Nothing here imports torch at import time; detectors import their runtime
when first asked, and answers are cached per registry.
"""

from hardware_markers.base import BACKENDS, Detector, Device, Hardware, Registry
from hardware_markers.detectors import default_registry

__all__ = ["BACKENDS", "Detector", "Device", "Hardware", "Registry", "default_registry"]
