"""A generated module written and imported as pytest would, for the generator tests that run one
(``from tests.generated_modules import basic_module``).  Not a test module (no ``test_`` prefix)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from generators.render import module_filename, render
from generators.resolve import resolve


def basic_module(model_type: str, directory: Path) -> ModuleType:
    """The ``basic`` module of ``model_type``, rendered into ``directory`` and imported."""
    spec = resolve(model_type)
    path = directory / module_filename(spec, "basic")
    path.write_text(render(spec, "basic"))
    found = importlib.util.spec_from_file_location(f"generated_{spec.name}", path)
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module
