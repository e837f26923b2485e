"""Writing generated test modules for the service (through the ``generators`` package).

Generation imports transformers, so it runs in a worker thread; the service
serialises it (one generation at a time) and writes each module atomically,
so two runs asking for the same model never see a half-written file.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


class GenerationError(Exception):
    """A model could not be turned into a test module; the message says why."""


@dataclass(frozen=True)
class Generated:
    model: str
    path: Path  # absolute
    written: bool  # False: an identical module was there already


def test_types() -> tuple[str, ...]:
    from generators.render import TEST_TYPES

    return TEST_TYPES


def template_names() -> list[str]:
    from generators.render import TEMPLATES_DIR

    return sorted(p.name for p in TEMPLATES_DIR.glob("*.j2"))


def known_models() -> dict[str, list[str]]:
    from generators.families import known_model_types

    return known_model_types()


def generate_module(model: str, test_type: str, out_dir: Path, *, force: bool) -> Generated:
    """Write the ``test_type`` module of ``model`` into ``out_dir`` (blocking)."""
    from generators.render import module_filename, render
    from generators.resolve import resolve

    try:
        spec = resolve(model)
        source = render(spec, test_type)
    except (ValueError, KeyError, OSError) as exc:  # ResolveError is a ValueError
        raise GenerationError(f"{model}: {exc}") from None
    path = out_dir / module_filename(spec, test_type)
    if path.exists():
        current = path.read_text(encoding="utf-8", errors="replace")
        if current == source:
            return Generated(model, path, False)
        if not force:
            raise GenerationError(
                f"{model}: {path.name} exists with other content; pass force=true to overwrite it"
            )
    _write_atomically(path, source)
    return Generated(model, path, True)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
