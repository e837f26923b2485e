"""Input sizes and expectations of a model, worked out when its module is generated.

The generated module carries these as constants (``VOCAB_SIZE = 99``), so it
reads plainly and needs nothing from this package at run time.
"""

from __future__ import annotations

from typing import Any

from generators.families import output_fields
from generators.patches import first as _first
from generators.resolve import ModelSpec

BATCH_SIZE = 2
SEQ_LEN = 8
NEW_TOKENS = 4
AUDIO_SAMPLES = 8000  # half a second at 16 kHz: enough for every conv feature stack
AUDIO_FRAMES = 64


def load_config(spec: ModelSpec):
    """The configuration the generated module will build (checkpoint's or tiny)."""
    from transformers import AutoConfig

    if spec.checkpoint is not None:
        return AutoConfig.from_pretrained(spec.checkpoint)
    if spec.full_size:
        return AutoConfig.for_model(spec.model_type)
    from generators.tiny import tiny_config

    return tiny_config(spec.model_type)


def is_ambiguous(spec: ModelSpec, config) -> bool:
    """Whether the auto class maps this config to several classes (it then needs ``architectures``)."""
    import transformers

    found = getattr(transformers, spec.auto_class)._model_mapping.get(type(config), None)
    return isinstance(found, tuple | list)


def model_class(spec: ModelSpec, config) -> type:
    """The concrete transformers class the spec's auto class picks for ``config``."""
    import transformers

    auto = getattr(transformers, spec.auto_class)
    try:
        found = auto._model_mapping[type(config)]
    except KeyError as exc:
        raise ValueError(
            f"{spec.auto_class} has no class for model type {spec.model_type!r}"
        ) from exc
    # a few types map to several classes; the auto class instantiates the first
    return found[0] if isinstance(found, tuple | list) else found


def _text(config) -> dict[str, Any]:
    text = getattr(config, "text_config", None)
    if text is None:
        try:
            text = config.get_text_config() if hasattr(config, "get_text_config") else config
        except ValueError:  # a text encoder and a decoder (musicgen): the decoder takes the token ids
            text = config.get_text_config(decoder=True)
    vocab = _first(text, "vocab_size")
    if vocab is None:
        raise ValueError("the config has no vocab_size: it takes no token ids")
    pad = _first(text, "pad_token_id", default=0)
    max_pos = _first(text, "max_position_embeddings", "n_positions", "max_seq_len", default=512)
    max_pos = max_pos if isinstance(max_pos, int) and max_pos > 0 else 512  # -1: no limit (xlnet)
    eos = _first(text, "eos_token_id", default=[])
    return {
        "VOCAB_SIZE": int(vocab),
        "PAD_TOKEN_ID": int(pad if isinstance(pad, int) else pad[0]),
        "EOS_TOKEN_IDS": list(eos) if isinstance(eos, list | tuple) else [eos],
        "SEQ_LEN": min(SEQ_LEN, int(max_pos) if isinstance(max_pos, int) else SEQ_LEN),
        "MAX_POSITIONS": int(max_pos) if isinstance(max_pos, int) else 512,
        "HIDDEN_SIZE": _first(text, "hidden_size", "d_model"),
    }


def _image(config) -> dict[str, Any]:
    vision = _first(config, "vision_config", default=config)
    size = _first(vision, "image_size", "crop_size", default=32)
    if isinstance(size, dict):  # {"height": h, "width": w}
        size = [size.get("height", 32), size.get("width", 32)]
    height, width = (size, size) if isinstance(size, int) else tuple(size)[:2]
    out = {"IMAGE_HEIGHT": int(height), "IMAGE_WIDTH": int(width),
           "NUM_CHANNELS": int(_first(vision, "num_channels", default=3))}
    frames = _first(vision, "num_frames", "frames_per_clip")
    if isinstance(frames, int):  # a video model: (batch, frames, channels, height, width)
        out["NUM_FRAMES"] = frames
    return out


def _audio(config, input_name: str) -> dict[str, Any]:
    if input_name == "input_features":
        from generators.inputs_audio import mel_bins

        mels = mel_bins(config)
        features = _first(
            config, "feature_projection_input_dim", "input_feat_per_channel", "feature_size", default=80
        )
        channels = _first(config, "input_channels", default=1)
        source = _first(config, "max_source_positions")
        # whisper-like encoders accept exactly 2 * max_source_positions frames
        frames = 2 * source if isinstance(source, int) and source <= 64 else AUDIO_FRAMES
        return {
            "FEATURE_SIZE": int(mels) if mels else int(features) * int(channels),
            "AUDIO_LEN": int(frames),
            # mel-spectrogram encoders (whisper) take (batch, mels, frames); others (batch, frames, features)
            "FEATURES_FIRST": bool(mels),
        }
    if input_name == "input_values":
        return {"AUDIO_LEN": AUDIO_SAMPLES}
    raise ValueError(f"speech models taking {input_name!r} are not supported")


def _special_ids(config) -> set[int]:
    """Every special token id a config (and its sub-configs) names."""
    found: set[int] = set()
    for key, value in config.to_dict().items() if hasattr(config, "to_dict") else config.items():
        if isinstance(value, dict):
            found |= _special_ids(value)
        elif str(key).endswith(("_token_id", "_token_index", "_token_ids")):
            values = value if isinstance(value, list | tuple) else [value]
            found |= {v for v in values if isinstance(v, int) and not isinstance(v, bool)}
    return found


def text_token_range(config, vocab: int) -> list[int]:
    """``[low, high)``: the longest run of ids in the vocabulary that are no special token."""
    special = sorted(i for i in _special_ids(config) if 0 <= i < vocab) + [vocab]
    best, start = (1, 1), 1
    for stop in special:
        if stop - start > best[1] - best[0]:
            best = (start, stop)
        start = max(start, stop + 1)
    return list(best)


def _multimodal(config) -> dict[str, Any]:
    out = {**_text(config), **_image(config)}
    token = _first(config, "image_token_id", "image_token_index")
    text = getattr(config, "text_config", None)
    if token is None and text is not None:
        token = _first(text, "image_token_id", "image_token_index")
    out["IMAGE_TOKEN_ID"] = int(token) if isinstance(token, int) else None
    out["TEXT_TOKEN_IDS"] = text_token_range(config, out["VOCAB_SIZE"])
    return out


def _time_series(config, cls) -> dict[str, Any]:
    from generators.probe import forward_arguments

    args = forward_arguments(cls)
    lags = _first(config, "lags_sequence", default=[0]) or [0]
    context = _first(config, "context_length", "context_len", default=32)
    channels = _first(config, "num_input_channels", "input_size", default=1)
    multivariate = hasattr(config, "num_input_channels") or channels != 1
    out = {
        "CONTEXT_LEN": int(context) + max(lags),
        # (batch, length, channels) for multivariate models, (batch, length) otherwise
        "NUM_CHANNELS": int(channels) if multivariate else None,
        "PREDICTION_LEN": int(_first(config, "prediction_length", "horizon_length", default=8)),
        "INPUT_KEYS": sorted(args & {
            "past_values", "past_time_features", "past_observed_mask", "future_values",
            "future_time_features", "past_values_padding", "freq",
        }),
    }
    features = _first(config, "num_time_features", default=0) + _first(config, "num_dynamic_real_features", default=0)
    out["NUM_TIME_FEATURES"] = int(features)  # may be 0: an empty last dimension
    return out


def plan(spec: ModelSpec, config=None) -> dict[str, Any]:
    """Constants for the module of ``spec``: input sizes, expected output sizes."""
    config = load_config(spec) if config is None else config
    cls = model_class(spec, config)
    out: dict[str, Any] = {
        "BATCH_SIZE": BATCH_SIZE,
        "INPUT_NAME": cls.main_input_name,
        "MODEL_CLASS": cls.__name__,
        "NEW_TOKENS": NEW_TOKENS,
        "IS_ENCODER_DECODER": bool(getattr(config, "is_encoder_decoder", False)),
        "CAN_GENERATE": bool(getattr(cls, "can_generate", lambda: False)()),
    }
    family = spec.family
    if family in ("encoder-only", "decoder-only", "encoder-decoder", "vision-text"):
        out.update(_text(config))
    fields = output_fields(cls) if family == "encoder-only" else set()
    if "pooler_output" in fields and "last_hidden_state" not in fields:
        out["POOLED_ONLY"] = True  # an encoder that returns only its pooled vector (dpr)
    if family == "encoder-only" and spec.checkpoint is None and not spec.full_size and "POOLED_ONLY" not in out:
        from generators.inputs_side import side_layout

        out.update(side_layout(cls, config, out))  # pixels, boxes, features beside the ids: probed
    if family in ("vision", "vision-text"):
        out.update(_image(config))
    if family == "vision":
        out["NUM_LABELS"] = int(config.num_labels) if spec.auto_class.endswith("Classification") else None
        from generators import inputs_vision
        from generators.probe import forward_arguments

        takes = cls.main_input_name if cls.main_input_name in forward_arguments(cls) else "pixel_values"
        if "video" not in takes and "Video" not in cls.__name__:
            out.pop("NUM_FRAMES", None)  # frames of a config shared with video models: not this one's
        out["PIXEL_INPUT"] = takes
        out.update(inputs_vision.main_field(cls, out["NUM_LABELS"]))
        if takes == "input_ids":  # pixels as colour-cluster ids, a token each (imagegpt)
            out.update(inputs_vision.pixel_ids(config))
        elif inputs_vision.needs_probe(cls):  # a tower taking patches and their grid: probed
            out.update(inputs_vision.tower_layout(cls, config, out))
        elif "NUM_FRAMES" not in out and _first(_first(config, "vision_config", default=config), "image_size") is None:
            out.update(inputs_vision.image_side(cls, config, out, takes))  # no size named: the smallest that runs
    if family == "speech" and cls.main_input_name == "input_ids":
        # audio-chat models in the speech mappings: their forward runs on the text prompt alone
        out.update(_text(config))
        out["TEXT_TOKEN_IDS"] = text_token_range(config, out["VOCAB_SIZE"])
        out["NUM_LABELS"] = None
        from generators.inputs_audio import token_layout

        out.update(token_layout(cls, config, out))
    elif family == "speech":
        out.update(_audio(config, cls.main_input_name))
        if cls.main_input_name == "input_features":
            from generators.inputs_audio import feature_layout

            out.update(feature_layout(cls, config, out))
        elif cls.main_input_name == "input_values":
            from generators.inputs_audio import values_layout

            out.update(values_layout(cls, config, AUDIO_SAMPLES))
        if out["IS_ENCODER_DECODER"]:
            from generators.inputs_audio import logits_extra

            out.update(_text(config))
            out.update(logits_extra(config))
        out["NUM_LABELS"] = int(config.num_labels) if spec.auto_class.endswith("Classification") else None
    if family == "multimodal":
        from generators import probe

        out.update(_multimodal(config))
        out.update(probe.multimodal(cls, config, out))
    if family == "detection":
        out.update(_image(config))
        if isinstance(_first(config, "num_coords"), int):  # boxes of other than (cx, cy, w, h): corners
            out["BOX_COORDS"] = int(config.num_coords)
        from generators.inputs_vision import token_inputs

        out.update(token_inputs(model_class(spec, config), config))  # a task prompt beside the pixels
    if family == "time-series":
        out.update(_time_series(config, cls))
    if family == "audio":
        if cls.main_input_name == "input_values":
            from generators.inputs_codec import codec_layout

            out["AUDIO_LEN"] = AUDIO_SAMPLES
            out.update(codec_layout(cls, config, AUDIO_SAMPLES))
        else:
            from generators.inputs_audio import token_config

            out.update(_text(token_config(config)))
            out["TEXT_TOKEN_IDS"] = text_token_range(config, out["VOCAB_SIZE"])
    if (out["IS_ENCODER_DECODER"] or family == "encoder-decoder") and family not in ("audio", "time-series"):
        start = _first(config, "decoder_start_token_id", "pad_token_id", default=0)
        out["DECODER_START_TOKEN_ID"] = int(start)
    return out
