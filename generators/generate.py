"""Write generated modules to disk: one ``test_<name>.py`` per model reference."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from generators.families import FamilyError
from generators.resolve import ResolveError, resolve


@dataclass(frozen=True)
class GenerateResult:
    """What happened to one reference: ``path`` written, or ``error`` saying why not."""

    reference: str
    path: Path | None = None
    model_type: str | None = None
    family: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def generate(
    references: list[str],
    out_dir: str | Path,
    test_type: str = "basic",
    family: str | None = None,
    force: bool = False,
    full_size: bool = False,
) -> list[GenerateResult]:
    """Generate a module per reference; a failing reference does not stop the others."""
    from generators.families import TEST_TYPES
    from generators.render import module_filename, render
    from generators.tiny import TinyConfigError

    if test_type not in TEST_TYPES:
        raise ValueError(f"unknown test type {test_type!r}; choose one of: {', '.join(TEST_TYPES)}")
    out = Path(out_dir)
    results: list[GenerateResult] = []
    seen: set[Path] = set()
    for reference in references:
        try:
            spec = resolve(reference, family)
            if full_size and spec.checkpoint is None:
                spec = dataclasses.replace(spec, full_size=True)
        except (ResolveError, FamilyError) as exc:
            results.append(GenerateResult(reference, error=str(exc)))
            continue
        path = out / module_filename(spec, test_type)
        base = GenerateResult(reference, path, spec.model_type, spec.family)
        if path in seen:
            results.append(_fail(base, f"{path} is also the module of an earlier reference"))
            continue
        if path.exists() and not force:
            results.append(_fail(base, f"{path} exists; pass --force to overwrite it"))
            continue
        try:
            source = render(spec, test_type)
        except (TinyConfigError, ValueError, OSError) as exc:
            results.append(_fail(base, f"cannot generate {spec.model_type} ({spec.family}): {exc}"))
            continue
        except Exception as exc:  # an architecture transformers cannot build: report, go on
            reason = f"{type(exc).__name__}: {exc}"
            results.append(_fail(base, f"cannot generate {spec.model_type} ({spec.family}): {reason}"))
            continue
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
        seen.add(path)
        results.append(base)
    return results


def _fail(result: GenerateResult, error: str) -> GenerateResult:
    return GenerateResult(result.reference, result.path, result.model_type, result.family, error)
