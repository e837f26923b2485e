"""The inputs beside the token ids of multimodal and layout encoders, found by running the tiny model once.

Encoders in the text family's mappings that need more than token ids (``vilt``
and ``flava`` want pixels, ``lxmert`` region features and their boxes, ``bros``
and ``lilt`` a box per token, ``clap`` a spectrogram, ``pe_audio`` a waveform,
``blip_2_qformer`` its query embeddings) say so only when they run. The
generator reads the candidates from the forward signature, sizes each from the
config (the vision, video or audio sub-config that holds the field), and keeps
the smallest set that runs on the tiny model, with the first output that has a
row per example when there is no ``last_hidden_state``. The module carries the
result as constants (``SIDE_INPUTS``, ``MAIN_OUTPUT``, ``TEXT_KEYS``) and builds
the tensors with the same rule as `side_inputs` here.
"""

from __future__ import annotations

import inspect
import itertools
from typing import Any

from generators.patches import first
from generators.probe import PROBE_BATCH, _reason, build

#: a dimension that follows the text: as many rows as tokens
SEQ = "SEQ"
#: rows of region features or encoder states (a fixed count of image regions)
REGIONS = 4
#: samples of a waveform and frames of a spectrogram (as the audio families use)
SAMPLES, FRAMES = 8000, 64
#: at most this many input sets are tried on the model
MAX_TRIES = 48
#: how many failed input sets the error names
SHOWN = 4


def _configs(config) -> list:
    """``config`` and its sub-configs (breadth first): the fields of a tower live in its own."""
    found, queue = [], [config]
    while queue:
        current = queue.pop(0)
        found.append(current)
        queue += [v for k, v in vars(current).items() if k.endswith("_config") and hasattr(v, "to_dict")]
    return found


def _field(config, *names: str, prefer: tuple[str, ...] = (), default: Any = None) -> Any:
    """The first of ``names`` set in a sub-config whose name has one of ``prefer`` (else in any)."""
    configs = _configs(config)
    keyed = [c for c in configs if any(p in type(c).__name__.lower() for p in prefer)]
    for candidate in keyed + configs:
        value = first(candidate, *names)
        if value is not None:
            return value
    return default


def _side(value: Any) -> int:
    if isinstance(value, dict):
        value = value.get("height", next(iter(value.values())))
    return int(value if isinstance(value, int) else value[0])


def _pixels(config, video: bool) -> list[list]:
    prefer = ("video", "vision") if video else ("vision", "image")
    side = _side(_field(config, "image_size", "crop_size", prefer=prefer, default=32))
    channels = int(_field(config, "num_channels", "in_channels", prefer=prefer, default=3))
    frames = _field(config, "num_frames", "frames_per_clip", prefer=prefer)
    video_shape = ["normal", [int(frames) if isinstance(frames, int) else 2, channels, side, side]]
    image_shape = ["normal", [channels, side, side]]
    return [video_shape] if video else [image_shape, video_shape]


def _width(config, name: str) -> int | None:
    """Feature width of ``name`` from the config: ``visual_feats`` -> ``visual_feat_dim``,
    ``encoder_hidden_states`` -> ``encoder_hidden_size``, ``query_embeds`` -> ``hidden_size``."""
    stem = name[:-1] if name.endswith("s") else name
    names = (f"{stem}_dim", f"{name}_dim", name.replace("_states", "_size"))
    found = first(config, *names)
    if found is None and name.endswith("_embeds"):
        found = first(config, "hidden_size", "d_model")
    return int(found) if isinstance(found, int) else None


def candidates(cls: type, config) -> dict[str, list[list]]:
    """Each input of ``cls.forward`` the generator can make, with its ``[kind, dims]`` variants
    (dims after the batch; `SEQ` follows the text)."""
    made: dict[str, list[list]] = {}
    for name in list(inspect.signature(cls.forward).parameters)[1:]:
        if name in ("pixel_values", "pixel_values_videos"):
            made[name] = _pixels(config, video=name.endswith("videos"))
        elif name == "input_values":
            made[name] = [["normal", [SAMPLES]], ["normal", [1, SAMPLES]]]
        elif name == "input_features":
            mels = int(_field(config, "num_mel_bins", "feature_size", prefer=("audio",), default=80))
            made[name] = [["normal", [1, FRAMES, mels]], ["normal", [FRAMES, mels]], ["normal", [mels, FRAMES]]]
        elif name == "bbox":  # (x0, y0, x1, y1) per token: integers out of 1000, or fractions
            made[name] = [["boxes", [SEQ, 4]], ["unit_boxes", [SEQ, 4]]]
        elif name == "query_embeds" and _width(config, name):
            made[name] = [["normal", [SEQ, _width(config, name)]]]
        elif name in ("visual_feats", "visual_pos", "encoder_hidden_states") and _width(config, name):
            made[name] = [["normal", [REGIONS, _width(config, name)]]]
    return made


def side_inputs(spec: dict[str, list], batch: int, size: int) -> dict[str, Any]:
    """The tensors of ``spec`` (``{name: [kind, dims]}``) for ``batch`` rows of ``size`` tokens,
    made exactly as the generated module makes them."""
    import torch

    generator = torch.Generator().manual_seed(batch + 7)
    made = {}
    for name, (kind, dims) in spec.items():
        shape = (batch, *(size if d == SEQ else d for d in dims))
        if kind == "normal":
            made[name] = torch.randn(shape, generator=generator)
            continue
        corner = torch.randint(0, 500, (*shape[:-1], 2), generator=generator)
        extent = torch.randint(0, 500, (*shape[:-1], 2), generator=generator)
        boxes = torch.cat([corner, corner + extent], dim=-1)
        made[name] = boxes if kind == "boxes" else boxes.float() / 1000
    return made


def main_output(outputs, batch: int) -> str | None:
    """``last_hidden_state``, else the embedding output with a row per example and the fewest dimensions,
    else the first output with a row per example."""
    import torch

    named = [(k, v) for k, v in outputs.items() if isinstance(v, torch.Tensor) and v.dim() and v.shape[0] == batch]
    if "last_hidden_state" in dict(named):
        return "last_hidden_state"
    # one vector (or row set) per example: a dual encoder's text_embeds of shape (videos, texts, width)
    # depends on the whole batch, its video_embeds (videos, width) does not
    embeds = sorted((v.dim(), k) for k, v in named if k.endswith(("embeds", "embeddings", "hidden_state")))
    return embeds[0][1] if embeds else (named[0][0] if named else None)


def _attempts(made: dict[str, list[list]]):
    """Input sets to try, smallest first: each subset of the candidates with each of their variants."""
    names = list(made)
    for count in range(len(names) + 1):
        for subset in itertools.combinations(names, count):
            for variants in itertools.product(*(made[n] for n in subset)):
                yield dict(zip(subset, variants, strict=True))


def side_layout(cls: type, config, constants: dict[str, Any]) -> dict[str, Any]:
    """``SIDE_INPUTS``, ``MAIN_OUTPUT`` and ``TEXT_KEYS`` of an encoder that needs more than token ids;
    nothing for one whose token ids alone give a ``last_hidden_state`` (the text template as is)."""
    import torch

    params = list(inspect.signature(cls.forward).parameters)[1:]
    text_keys = [k for k in ("input_ids", "attention_mask") if k in params]
    model = build(cls, config)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, constants["VOCAB_SIZE"], (PROBE_BATCH, constants["SEQ_LEN"]), generator=generator)
    text = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    text = {k: v for k, v in text.items() if k in text_keys}
    tried: list[str] = []
    for number, spec in enumerate(_attempts(candidates(cls, config))):
        if number == MAX_TRIES:
            break
        try:
            with torch.no_grad():
                outputs = model(**text, **side_inputs(spec, PROBE_BATCH, constants["SEQ_LEN"]))
        except Exception as exc:  # this set does not run the model: try the next
            tried.append(f"{', '.join(spec) or 'token ids'}: {_reason(exc)}")
            continue
        if not spec and text_keys == ["input_ids", "attention_mask"] and "last_hidden_state" in outputs:
            return {}
        name = main_output(outputs, PROBE_BATCH)
        if name is None:
            tried.append(f"{', '.join(spec) or 'token ids'}: no output has a row per example")
            continue
        return {"SIDE_INPUTS": spec, "MAIN_OUTPUT": name, "TEXT_KEYS": text_keys}
    raise ValueError(f"no inputs found that run this encoder: {'; '.join(tried[:SHOWN])}")
