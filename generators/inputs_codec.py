"""Input layouts of audio codecs and their halves, found by running the tiny model once when generating.

Most codecs take a mono waveform as ``input_values``, ``(B, 1, T)`` or
``(B, T)``. Some also take a spectrogram for a semantic encoder beside it
(``input_features``, of the width the semantic sub-config names), some name
their waveform argument otherwise (``hidden_states``), and a codec's decoder
half takes latents ``(B, hidden_size, frames)`` rather than audio. No mapping
says which, so the generator tries these on the model and writes the one that
runs into the module: ``AUDIO_CHANNELS_DIM``, ``AUDIO_ARGUMENT``,
``CODEC_FEATURES`` (width, order) and ``LATENT_CHANNELS``.
"""

from __future__ import annotations

import itertools
from typing import Any

from generators.probe import PROBE_BATCH, _reason, build, required_arguments

# samples per spectrogram frame: the usual 10 ms hop at 16 kHz, or 20 ms where frame pairs are stacked
FEATURE_HOPS = (160, 320)
LATENT_FRAMES = 16  # latent frames fed to a decoder half
_WIDTHS = ("feature_projection_input_dim", "num_mel_bins", "input_feat_per_channel", "feature_size")


def feature_widths(config) -> list[int]:
    """Spectrogram widths the config or its sub-configs name (a semantic encoder's input width)."""
    holders = [config] + [getattr(config, key, None) for key in (getattr(config, "sub_configs", None) or {})]
    found: list[int] = []
    for holder in holders:
        for name in _WIDTHS:
            value = getattr(holder, name, None) if holder is not None else None
            if isinstance(value, int) and not isinstance(value, bool) and value > 0 and value not in found:
                found.append(value)
    return found


def _layouts(cls: type, config, samples: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(constants, probe inputs) to try, the plain waveform layouts first."""
    import torch

    def seeded(*shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=torch.Generator().manual_seed(0))

    required = required_arguments(cls)
    argument = "input_values" if "input_values" in required or not required else required[0]
    layouts = []
    for channels_dim in (True, False):
        wave = seeded(PROBE_BATCH, 1, samples) if channels_dim else seeded(PROBE_BATCH, samples)
        found = {"AUDIO_CHANNELS_DIM": channels_dim}
        if argument != "input_values":
            found["AUDIO_ARGUMENT"] = argument
        if "input_features" not in required:
            layouts.append((found, {argument: wave}))
            continue
        for hop, width, first in itertools.product(FEATURE_HOPS, feature_widths(config), (False, True)):
            frames = samples // hop
            features = seeded(PROBE_BATCH, width, frames) if first else seeded(PROBE_BATCH, frames, width)
            planned = {**found, "CODEC_FEATURES": [width, first], "FEATURE_HOP": hop}
            layouts.append((planned, {argument: wave, "input_features": features}))
    hidden = getattr(config, "hidden_size", None)
    if argument != "input_values" and isinstance(hidden, int):  # a decoder half: latents in
        latents = seeded(PROBE_BATCH, hidden, LATENT_FRAMES)
        layouts.append(({"AUDIO_ARGUMENT": argument, "LATENT_CHANNELS": hidden, "AUDIO_LEN": LATENT_FRAMES},
                        {argument: latents}))
    return layouts


def codec_layout(cls: type, config, samples: int) -> dict[str, Any]:
    """The constants of the first layout that runs; a ValueError with every layout's reason if none does."""
    import torch

    model = build(cls, config)
    tried = []
    for found, inputs in _layouts(cls, config, samples):
        try:
            with torch.no_grad():
                model(**inputs)
        except Exception as exc:  # this layout does not fit: try the next
            tried.append(f"{tuple(next(iter(inputs.values())).shape)}: {_reason(exc)}")
            continue
        return found
    raise ValueError(f"no waveform layout runs: {'; '.join(tried)}")
