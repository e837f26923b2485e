"""Writes test modules for the service through the ``generators`` package (one at a time).

Generation imports transformers, so it runs in a worker thread; the service
serialises it (one generation at a time), so two runs asking for the same
model never write the same file at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class GenerationError(Exception):
    """A model could not be turned into a test module; the message says why."""


@dataclass(frozen=True)
class WrittenModule:
    model: str
    path: Path  # absolute
    written: bool


def test_types() -> tuple[str, ...]:
    from generators import TEST_TYPES

    return TEST_TYPES


def template_names() -> list[str]:
    from generators.render import TEMPLATES_DIR

    return sorted(p.name for p in TEMPLATES_DIR.glob("*.j2"))


def known_models() -> dict[str, list[str]]:
    from generators.families import known_model_types

    return known_model_types()


def write_test_module(model: str, test_type: str, out_dir: Path, *, force: bool) -> WrittenModule:
    """Write the ``test_type`` module of ``model`` into ``out_dir`` (blocking)."""
    from generators import generate

    try:
        (result,) = generate([model], out_dir, test_type, force=force)
    except (ValueError, OSError) as exc:
        raise GenerationError(f"{model}: {exc}") from None
    if not result.ok or result.path is None:
        error = (result.error or "not generated").replace("pass --force", "send force: true")
        raise GenerationError(f"{model}: {error}")
    return WrittenModule(model, Path(result.path).resolve(), True)
