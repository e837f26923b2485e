"""Render pytest modules from the Jinja2 templates (one template per family)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jinja2

from generators.families import GENERATIVE, TEST_TYPES
from generators.plan import is_ambiguous, load_config, plan
from generators.resolve import ModelSpec
from generators.tiny import tiny_config_overrides

TEMPLATES_DIR = Path(__file__).parent / "templates"


def py_literal(value: Any) -> str:
    """``value`` as Python source (``repr`` but valid for inf/nan, readable for dicts)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f'float("{value}")'
    if isinstance(value, dict):
        items = ", ".join(f"{py_literal(k)}: {py_literal(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, list | tuple):
        items = ", ".join(py_literal(v) for v in value)
        return f"[{items}]" if isinstance(value, list) else f"({items}{',' if len(value) == 1 else ''})"
    if isinstance(value, str) and value.isascii():
        return json.dumps(value)  # double quotes, like the rest of the module
    if isinstance(value, str | int | float | bool) or value is None:
        return repr(value)
    return repr(str(value))  # anything else (e.g. a dtype) as its string form


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,  # a template typo is an error, not an empty string
        autoescape=False,  # renders Python source, not HTML
    )
    env.filters["py"] = py_literal
    return env


def template_name(family: str) -> str:
    return family.replace("-", "_") + ".py.j2"


def _benchmark_plan(spec: ModelSpec, constants: dict[str, Any]) -> dict[str, Any]:
    family = spec.family
    generative = (family in GENERATIVE and (family != "multimodal" or constants["CAN_GENERATE"])) or (
        family == "speech" and constants["IS_ENCODER_DECODER"] and constants["CAN_GENERATE"]
    )
    if family in ("vision", "detection"):
        sizes, prefix, name = [constants["IMAGE_HEIGHT"]], "i", "image_size"
    elif family == "time-series":  # the series length the model was configured for
        sizes, prefix, name = [constants["CONTEXT_LEN"]], "t", "series_length"
    elif family in ("speech", "audio") and constants["INPUT_NAME"] != "input_ids":
        fixed = constants["INPUT_NAME"] == "input_features" or bool(constants.get("SPECTROGRAM_BINS") or constants.get("LATENT_CHANNELS"))
        sizes = [constants["AUDIO_LEN"]] if fixed else [8000, 16000]  # half a second, a second
        prefix, name = ("f", "frames") if fixed else ("a", "samples")
    else:
        limit = constants.get("MAX_POSITIONS", 512)
        sizes = [s for s in (16, 64) if s <= limit] or [constants["SEQ_LEN"]]
        prefix, name = "s", "seq_len"
    realistic = spec.full_size or spec.checkpoint is not None
    if realistic and prefix == "s":
        limit = constants.get("MAX_POSITIONS", 512)
        sizes = [s for s in (128, 512) if s <= limit] or sizes
    return {
        "batch_sizes": [1, 8] if realistic else [1, 4],
        "sizes": sizes,
        "size_prefix": prefix,
        "size_name": name,
        "tokens": prefix == "s",
        "generative": generative,
        "new_tokens": 16,
        # a requested sequence length past this is skipped with the reason (IPFS_ACCEL_BENCH_SEQ_LENS)
        "max_positions": constants.get("MAX_POSITIONS") if prefix == "s" else None,
    }


def _overrides(spec: ModelSpec, config, class_name: str) -> dict[str, Any] | None:
    if spec.checkpoint is not None:
        return None
    overrides = {} if spec.full_size else tiny_config_overrides(spec.model_type)
    if is_ambiguous(spec, config):
        # the auto class maps this type to several classes: name the one planned
        overrides["architectures"] = [class_name]
    return overrides


def render(spec: ModelSpec, test_type: str = "basic") -> str:
    """The source of the ``test_type`` module for ``spec``."""
    if test_type not in TEST_TYPES:
        raise ValueError(f"unknown test type {test_type!r}; choose one of: {', '.join(TEST_TYPES)}")
    config = load_config(spec)
    constants = plan(spec, config)
    imports = {spec.auto_class}
    if spec.checkpoint is None:
        imports.add("AutoConfig")
    if spec.has_tokenizer and spec.family != "speech":
        imports.add("AutoTokenizer")
    if spec.has_feature_extractor:
        imports.add("AutoFeatureExtractor")
    if spec.has_image_processor:
        imports.add("AutoImageProcessor")
    # module constants the templates refer to, in a stable order
    shown = [(k, v) for k, v in constants.items() if k not in ("MODEL_CLASS", "CAN_GENERATE")]
    context = {
        "spec": spec,
        "test_type": test_type,
        "C": constants,
        "constants": shown,
        "imports": sorted(imports),
        "overrides": _overrides(spec, config, constants["MODEL_CLASS"]),
        "bench": _benchmark_plan(spec, constants),
    }
    source = _environment().get_template(template_name(spec.family)).render(**context)
    compile(source, f"test_{spec.name}.py", "exec")  # a template bug fails here, not in pytest
    return source


def module_filename(spec: ModelSpec, test_type: str) -> str:
    """``test_<name>.py`` for basic modules, ``test_<name>_<type>.py`` for the others."""
    suffix = "" if test_type == "basic" else f"_{test_type}"
    return f"test_{spec.name}{suffix}.py"
