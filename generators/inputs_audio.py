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

from generators.patches import first as _first
from generators.probe import PROBE_BATCH, _reason, build


def mel_bins(config) -> int | None:
    """``num_mel_bins`` of the config or of its encoder/audio sub-config."""
    for holder in (config, getattr(config, "encoder_config", None), getattr(config, "audio_config", None)):
        value = getattr(holder, "num_mel_bins", None) if holder is not None else None
        if isinstance(value, int):
            return value
    return None


def _masks(cls: type, optional: bool = False) -> list[str]:
    """Frame masks of ``input_features`` the forward requires (``optional``: also those it may take)."""
    params = inspect.signature(cls.forward).parameters.values()
    return [
        p.name for p in params
        if (optional or p.default is p.empty) and p.name.startswith("input_features") and p.name.endswith("mask")
    ]


def _extractor_width(config) -> int | None:
    """``feature_size`` of the default feature extractor transformers maps the config's model type
    (or the model it is a sub-model of) to; None where none is mapped or it needs a missing library."""
    import transformers
    from transformers import CONFIG_MAPPING
    from transformers.models.auto.feature_extraction_auto import (
        FEATURE_EXTRACTOR_MAPPING_NAMES as mapped,
    )

    kind = getattr(config, "model_type", None)
    owners = [kind] if kind in mapped else [
        name for name in mapped
        if name in CONFIG_MAPPING and type(config) in (getattr(CONFIG_MAPPING[name], "sub_configs", None) or {}).values()
    ]
    for owner in owners:
        found = getattr(transformers, mapped[owner], None)
        size = inspect.signature(found.__init__).parameters.get("feature_size") if found is not None else None
        if size is not None and isinstance(size.default, int):
            return size.default
    return None


def _candidates(config, constants: dict[str, Any]) -> list[tuple[int, int]]:
    """(feature width, frames) to try, the planned ones first: then the width of the model's feature
    extractor, and mel bins stacked ``k`` frames at a time (low frame rate encoders: ``k`` x mel wide);
    frames a multiple of the config's ``n_window`` chunk where it names one (chunked encoders)."""
    width, frames = constants["FEATURE_SIZE"], constants["AUDIO_LEN"]
    chunk = _first(config, "n_window")
    frame_counts = [frames] + ([2 * chunk * max(1, -(-frames // (2 * chunk)))] if isinstance(chunk, int) and chunk > 0 else [])
    bases = [width] + [b for b in (_extractor_width(config),) if b and b != width]
    widths = list(dict.fromkeys(base * k for base in bases for k in range(1, 9)))
    return [(w, f) for f in dict.fromkeys(frame_counts) for w in widths]


def feature_layout(cls: type, config, constants: dict[str, Any]) -> dict[str, Any]:
    """``FEATURES_FIRST`` (the order that runs, the planned one first), ``FEATURE_MASKS``, and the
    ``FEATURE_SIZE`` and ``AUDIO_LEN`` that run where the planned ones do not."""
    import torch

    model = build(cls, config)
    tried: list[str] = []
    for size, frames in _candidates(config, constants):
        for masks in dict.fromkeys((tuple(_masks(cls)), tuple(_masks(cls, optional=True)))):
            for first in (constants["FEATURES_FIRST"], not constants["FEATURES_FIRST"]):
                shape = (PROBE_BATCH, size, frames) if first else (PROBE_BATCH, frames, size)
                inputs = {"input_features": torch.randn(shape, generator=torch.Generator().manual_seed(0))}
                inputs.update({name: torch.ones(PROBE_BATCH, frames, dtype=torch.long) for name in masks})
                if constants["IS_ENCODER_DECODER"]:
                    inputs["decoder_input_ids"] = torch.zeros(PROBE_BATCH, 1, dtype=torch.long)
                try:
                    with torch.no_grad():
                        outputs = model(**inputs)
                except Exception as exc:  # this layout does not fit: try the next
                    tried.append(f"{shape}: {_reason(exc)}")
                    continue
                found = {"FEATURES_FIRST": first, "FEATURE_MASKS": list(masks), "FEATURE_SIZE": size, "AUDIO_LEN": frames}
                return {**found, **_packed(outputs)}
    # none runs: keep the planned layout, the module then shows the model's own error
    return {"FEATURE_MASKS": _masks(cls)}


def _packed(outputs) -> dict[str, Any]:
    """``PACKED_ROWS`` where the encoder packs every clip's frames into one sequence (the
    variable-length attention of qwen-audio encoders): ``(clips x frames, hidden)``, no batch axis."""
    hidden = outputs.get("last_hidden_state") if hasattr(outputs, "get") else None
    rows = hidden.shape[0] if hidden is not None and hidden.dim() == 2 else 0
    return {"PACKED_ROWS": True} if rows > PROBE_BATCH and rows % PROBE_BATCH == 0 else {}


def values_layout(cls: type, config, samples: int) -> dict[str, Any]:
    """How ``input_values`` go in: a waveform ``(B, T)``, a mono waveform with its channel
    ``(B, 1, T)`` (``AUDIO_CHANNELS_DIM``), or a spectrogram ``(B, frames, mel bins)``
    (``SPECTROGRAM_BINS``, frames ``AUDIO_LEN`` = the config's ``max_length``) where the config
    names mel bins. The first that runs; the waveform where none does (the module shows the error)."""
    import torch

    bins, frames = mel_bins(config), _first(config, "max_length")
    layouts: list[tuple[tuple[int, ...], dict[str, Any]]] = [
        ((PROBE_BATCH, samples), {}),
        ((PROBE_BATCH, 1, samples), {"AUDIO_CHANNELS_DIM": True}),
    ]
    if bins and isinstance(frames, int):
        layouts.append(((PROBE_BATCH, frames, bins), {"SPECTROGRAM_BINS": bins, "AUDIO_LEN": frames}))
    model = build(cls, config)
    for shape, found in layouts:
        try:
            with torch.no_grad():
                model(input_values=torch.randn(shape, generator=torch.Generator().manual_seed(0)))
        except Exception:  # this layout does not fit: try the next
            continue
        return found
    return {}


def logits_extra(config) -> dict[str, Any]:
    """``NUM_DURATIONS``: a token-and-duration transducer's joint head predicts the config's
    ``durations`` beside the vocabulary (logits ``vocab_size + len(durations)`` wide)."""
    durations = getattr(config, "durations", None)
    return {"NUM_DURATIONS": len(durations)} if isinstance(durations, list | tuple) and durations else {}


def token_config(config):
    """The config whose vocabulary the token ids index: ``config`` itself where it names a
    ``vocab_size``, else its first sub-config that does (a text-to-speech model wrapped with its
    vocoder keeps the vocabulary in the speech model's sub-config)."""
    if getattr(config, "vocab_size", None) is not None:
        return config
    for key in getattr(config, "sub_configs", None) or {}:
        sub = getattr(config, key, None)
        if getattr(sub, "vocab_size", None) is not None:
            return sub
    return config


def token_layout(cls: type, config, constants: dict[str, Any]) -> dict[str, Any]:
    """``ID_CODEBOOKS``: how many ids each position of an audio-chat prompt holds where text alone,
    ``(B, L)``, does not run: a text id and one per codec codebook, ``(B, L, 1 + num_codebooks)``
    (kyutai), or the codebooks alone. Ids then stay below ``codebook_vocab_size`` too."""
    import torch

    from generators.probe import text_ids

    model = build(cls, config)
    books = _first(config, "num_codebooks")
    codebook_vocab = _first(config, "codebook_vocab_size")
    for width in [None] + ([books + 1, books] if isinstance(books, int) and books > 0 else []):
        ids = text_ids(constants, PROBE_BATCH, constants["SEQ_LEN"] * (width or 1))
        ids = ids if width is None else ids.reshape(PROBE_BATCH, constants["SEQ_LEN"], width)
        if width is not None and isinstance(codebook_vocab, int):
            ids = ids % codebook_vocab
        try:
            with torch.no_grad():
                model(input_ids=ids, attention_mask=torch.ones(ids.shape[:2], dtype=torch.long))
        except Exception:  # this layout does not fit: try the next
            continue
        if width is None:
            return {}
        low, high = constants["TEXT_TOKEN_IDS"]
        high = min(high, codebook_vocab) if isinstance(codebook_vocab, int) else high
        return {"ID_CODEBOOKS": width, "TEXT_TOKEN_IDS": [low, high]}
    return {}  # none runs: the module shows the model's own error on text alone
