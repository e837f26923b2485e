"""Model registry and Jinja2 templates that write pytest modules for transformers models.

``generate(["bert", "gpt2"], out_dir)`` resolves each reference
(`generators.resolve`), picks its family from transformers' auto mappings
(`generators.families`), builds a tiny configuration (`generators.tiny`) or
uses the checkpoint, and renders the family's template (`generators.render`).
Importing this package imports neither torch nor transformers.
"""

from __future__ import annotations

from generators.families import FAMILIES, TEST_TYPES, FamilyError
from generators.generate import GenerateResult, generate
from generators.resolve import ModelSpec, ResolveError, resolve

#: the kinds of module the templates render

__all__ = [
    "FAMILIES",
    "TEST_TYPES",
    "FamilyError",
    "GenerateResult",
    "ModelSpec",
    "ResolveError",
    "generate",
    "resolve",
]
