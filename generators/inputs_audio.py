"""Spectrogram layouts of speech encoders, found by running the tiny model once when generating.

Whisper-like encoders take ``(batch, mel bins, frames)``; conformers
(parakeet, lasr, canary, granite speech ...) take ``(batch, frames, mel
bins)``, and some require a frame mask beside the features. No mapping says
which, so the generator tries both orders on the model and writes the one
that runs (``FEATURES_FIRST``) and the masks it needs (``FEATURE_MASKS``).
"""

from __future__ import annotations

import inspect
from typing import Any

from generators.probe import PROBE_BATCH, _reason, build


def mel_bins(config) -> int | None:
    """``num_mel_bins`` of the config or of its encoder/audio sub-config."""
    for holder in (config, getattr(config, "encoder_config", None), getattr(config, "audio_config", None)):
        value = getattr(holder, "num_mel_bins", None) if holder is not None else None
        if isinstance(value, int):
            return value
    return None


def _masks(cls: type) -> list[str]:
    params = inspect.signature(cls.forward).parameters.values()
    return [p.name for p in params if p.default is p.empty and p.name.startswith("input_features") and p.name.endswith("mask")]


def feature_layout(cls: type, config, constants: dict[str, Any]) -> dict[str, Any]:
    """``FEATURES_FIRST`` (the order that runs, the planned one first) and ``FEATURE_MASKS``."""
    import torch

    model = build(cls, config)
    size, frames = constants["FEATURE_SIZE"], constants["AUDIO_LEN"]
    masks = _masks(cls)
    tried: list[str] = []
    for first in (constants["FEATURES_FIRST"], not constants["FEATURES_FIRST"]):
        shape = (PROBE_BATCH, size, frames) if first else (PROBE_BATCH, frames, size)
        inputs = {"input_features": torch.randn(shape, generator=torch.Generator().manual_seed(0))}
        inputs.update({name: torch.ones(PROBE_BATCH, frames, dtype=torch.long) for name in masks})
        if constants["IS_ENCODER_DECODER"]:
            inputs["decoder_input_ids"] = torch.zeros(PROBE_BATCH, 1, dtype=torch.long)
        try:
            with torch.no_grad():
                model(**inputs)
        except Exception as exc:  # this order does not fit: try the other
            tried.append(f"{shape}: {_reason(exc)}")
            continue
        return {"FEATURES_FIRST": first, "FEATURE_MASKS": masks}
    # neither runs: keep the planned order, the module then shows the model's own error
    return {"FEATURE_MASKS": masks}
