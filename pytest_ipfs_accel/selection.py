"""What ``--ipfs-hw`` selected: backend names, validated at configure, detected when first needed."""

from __future__ import annotations

import pytest

from hardware_markers import Registry
from hardware_markers.base import BROWSER_BACKENDS


class HardwareSelection:
    """What ``--ipfs-hw`` asked for, resolved against the registry only when first needed."""

    def __init__(self, spec: str, registry: Registry) -> None:
        self.spec = spec
        self.registry = registry
        names = registry.names()
        if spec in ("auto", "all"):
            self._requested: tuple[str, ...] | None = None if spec == "auto" else names
        else:
            requested = tuple(dict.fromkeys(n.strip().lower() for n in spec.split(",") if n.strip()))
            unknown = [n for n in requested if n not in names]
            if not requested or unknown:
                what = f"unknown backend {', '.join(map(repr, unknown))}" if unknown else "no backend named"
                raise pytest.UsageError(
                    f"--ipfs-hw={spec}: {what}; valid: auto, all, or a comma list of {', '.join(names)}"
                )
            self._requested = requested
        self._names: tuple[str, ...] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The selected backend names (``auto`` runs detection here, once)."""
        if self._names is None:
            if self._requested is None:
                # detecting the browser backends launches Chromium: auto leaves them out
                names = [n for n in self.registry.names() if n not in BROWSER_BACKENDS]
                self._names = tuple(n for n in names if self.registry.detect(n).usable)
            else:
                self._names = self._requested
        return self._names
