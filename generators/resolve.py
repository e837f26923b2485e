"""Model references -> what to generate for them.

A reference is a transformers model type (``bert``), a model id
(``google-bert/bert-base-uncased``) or a local checkpoint directory. The
checkpoint's own ``config.json`` decides when one is on disk (the directory,
or the offline HuggingFace cache); otherwise a small table of well-known ids.
Nothing here touches the network.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from generators.families import auto_class_for, family_of

#: Well-known model ids -> model type, for when no config is on disk.
#: Only ids whose architecture is certain belong here.
NAME_TABLE: dict[str, str] = {
    "google-bert/bert-base-uncased": "bert",
    "google-bert/bert-base-cased": "bert",
    "bert-base-uncased": "bert",
    "bert-base-cased": "bert",
    "distilbert/distilbert-base-uncased": "distilbert",
    "distilbert-base-uncased": "distilbert",
    "FacebookAI/roberta-base": "roberta",
    "roberta-base": "roberta",
    "openai-community/gpt2": "gpt2",
    "gpt2": "gpt2",
    "distilbert/distilgpt2": "gpt2",
    "distilgpt2": "gpt2",
    "google-t5/t5-small": "t5",
    "t5-small": "t5",
    "t5-base": "t5",
    "facebook/bart-base": "bart",
    "google/vit-base-patch16-224": "vit",
    "microsoft/resnet-50": "resnet",
    "openai/whisper-tiny": "whisper",
    "openai/whisper-base": "whisper",
    "facebook/wav2vec2-base-960h": "wav2vec2",
    "openai/clip-vit-base-patch32": "clip",
    "openai/clip-vit-base-patch16": "clip",
    "google/siglip-base-patch16-224": "siglip",
    "meta-llama/Llama-2-7b-hf": "llama",
    "Qwen/Qwen2.5-0.5B": "qwen2",
    "mistralai/Mistral-7B-v0.1": "mistral",
}

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "tokenizer.model")
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


class ResolveError(ValueError):
    """A reference could not be resolved; the message says what was tried."""


@dataclass(frozen=True)
class ModelSpec:
    """Everything the templates need to know about one model reference."""

    reference: str
    model_type: str
    family: str
    auto_class: str
    name: str  # file-name stem: test_<name>.py
    checkpoint: str | None = None  # absolute directory to from_pretrained, else a tiny config
    source: str = ""  # how the model type was found, in words
    has_tokenizer: bool = False
    has_feature_extractor: bool = False
    has_image_processor: bool = False
    full_size: bool = False  # the default configuration instead of a tiny one (random weights)
    notes: tuple[str, ...] = field(default=())


def module_name(reference: str) -> str:
    """A Python-identifier file stem for a reference (``google/vit-base`` -> ``vit_base``)."""
    stem = reference.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
    stem = re.sub(r"[^0-9a-zA-Z]+", "_", stem).strip("_").lower()
    if not stem:
        raise ResolveError(f"cannot make a module name from {reference!r}")
    return stem if not stem[0].isdigit() else f"m_{stem}"


def _read_config(path: Path) -> str:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ResolveError(f"cannot read {path}: {exc}") from exc
    model_type = data.get("model_type") if isinstance(data, dict) else None
    if not isinstance(model_type, str) or not model_type:
        raise ResolveError(f"{path} has no 'model_type'; it is not a transformers config")
    return model_type


def _cached_config(repo_id: str) -> Path | None:
    """The config.json of ``repo_id`` in the offline HF cache, if it is there."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # the cache cannot be read without huggingface_hub: not there
        return None
    found = try_to_load_from_cache(repo_id, "config.json")
    return Path(found) if isinstance(found, str) else None


def _hf_cache_dir() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except ImportError:
        return os.path.expanduser("~/.cache/huggingface/hub")


def _known_types() -> dict[str, str]:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return CONFIG_MAPPING_NAMES


def resolve(reference: str, family: str | None = None) -> ModelSpec:
    """Resolve one reference; ``family`` forces the family (``--family``)."""
    if not reference or reference.startswith("-"):
        raise ResolveError(f"{reference!r} is not a model reference")
    checkpoint: str | None = None
    path = Path(reference).expanduser()
    tried: list[str] = []
    if path.is_dir():
        config = path / "config.json"
        if not config.is_file():
            raise ResolveError(f"checkpoint directory {path} has no config.json")
        model_type, source = _read_config(config), f"config.json of {path}"
        checkpoint = str(path.resolve())
    elif reference in _known_types():
        model_type, source = reference, "transformers model type"
    else:
        tried.append("not a directory")
        tried.append("not a transformers model type")
        cached = _cached_config(reference) if "/" in reference or reference in NAME_TABLE else None
        tried.append(f"no config.json for it in the HF cache ({_hf_cache_dir()})")
        if cached is not None:
            model_type, source = _read_config(cached), f"HF cache {cached}"
            snapshot = cached.parent
            if any((snapshot / w).exists() for w in _WEIGHT_FILES):
                checkpoint = str(snapshot)
        elif reference in NAME_TABLE:
            model_type, source = NAME_TABLE[reference], "name table"
        else:
            tried.append(f"not in the name table of {len(NAME_TABLE)} well-known ids")
            raise ResolveError(
                f"cannot resolve {reference!r}: {', '.join(tried)}; pass a model type "
                "(see `ipfs-accel models`), a known model id or a checkpoint directory"
            )
    if model_type not in _known_types():
        raise ResolveError(
            f"{reference!r} has model type {model_type!r} ({source}), which this transformers "
            "version does not know"
        )
    if family is None:
        family, auto_class = family_of(model_type)
    else:
        auto_class = auto_class_for(model_type, family)
    has_tok = has_fe = has_ip = False
    if checkpoint is not None:
        files = set(os.listdir(checkpoint))
        has_tok = any(f in files for f in _TOKENIZER_FILES)
        has_fe = "preprocessor_config.json" in files and family == "speech"
        has_ip = "preprocessor_config.json" in files and family == "vision"
    return ModelSpec(
        reference=reference,
        model_type=model_type,
        family=family,
        auto_class=auto_class,
        name=module_name(reference),
        checkpoint=checkpoint,
        source=source,
        has_tokenizer=has_tok,
        has_feature_extractor=has_fe,
        has_image_processor=has_ip,
    )
