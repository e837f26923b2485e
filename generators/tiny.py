"""Tiny random configurations for any transformers model type.

The default configuration of a model type is shrunk generically: every width,
depth, head count, vocabulary, image and audio size found in it (and in its
sub-configurations, recursively) is replaced by a small value, in the spirit of
transformers' own ``ModelTester`` classes. A short override table handles the
few architectures whose constraints the generic rules cannot guess.

The result is expressed as *overrides* of the default configuration, so that a
generated test module can rebuild the same configuration with
``AutoConfig.for_model(model_type, **overrides)`` without importing this module.
"""

from __future__ import annotations

import copy
from typing import Any

from generators.tiny_fit import fit, fit_mrope, is_int
from generators.tiny_repair import repair

#: The small sizes every tiny configuration uses.
WIDTH = 32
HEADS = 4
KV_HEADS = 2
HEAD_DIM = WIDTH // HEADS
LAYERS = 2
FFN = 64
VOCAB = 99
IMAGE = 32
PATCH = 4
MAX_POSITIONS = 512

_WIDTH_KEYS = {
    "hidden_size", "d_model", "n_embd", "embed_dim", "dim", "hidden_dim", "embedding_size",
    "word_embed_proj_dim", "projection_dim", "text_embed_dim", "vision_embed_dim",
    "d_embed", "emb_dim", "n_embed", "embedding_dim", "projection_size", "proj_dim",
    "encoder_hidden_size", "decoder_hidden_size", "hidden_dims", "model_dim",
    "pooler_output_size", "classifier_proj_size", "codevector_dim", "proj_codevector_dim",
    "output_hidden_size", "adapter_hidden_size", "d_inner_hidden", "block_size_hidden",
    "codebook_dim", "out_hidden_size", "vector_quantization_hidden_dimension",
}
_HEAD_KEYS = {
    "num_attention_heads", "n_head", "n_heads", "encoder_attention_heads",
    "decoder_attention_heads", "num_heads", "attention_heads", "num_attention_heads_decoder",
}
_KV_HEAD_KEYS = {"num_key_value_heads", "num_kv_heads", "multi_query_group_num", "n_kv_heads"}
_HEAD_DIM_KEYS = {"head_dim", "d_kv", "attention_head_size", "kv_channels", "d_head"}
_LAYER_KEYS = {
    "num_hidden_layers", "num_layers", "n_layer", "n_layers", "encoder_layers",
    "decoder_layers", "num_encoder_layers", "num_decoder_layers", "decoder_num_layers",
    "encoder_num_layers", "num_blocks",
}
_FFN_KEYS = {
    "intermediate_size", "ffn_dim", "encoder_ffn_dim", "decoder_ffn_dim", "n_inner", "d_ff",
    "ffn_hidden_size", "moe_intermediate_size", "shared_expert_intermediate_size",
    "decoder_intermediate_size", "encoder_intermediate_size", "inner_dim", "d_inner",
}
_EXPERT_KEYS = {"num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts"}
_TOPK_KEYS = {"num_experts_per_tok", "moe_topk", "top_k", "num_selected_experts"}
_POSITION_KEYS = {"max_position_embeddings", "n_positions", "max_target_positions", "n_ctx"}
#: integer lists whose values are channel widths (one per stage)
_WIDTH_LIST_KEYS = {
    "hidden_sizes", "embed_dims", "dims", "channels", "neck_hidden_sizes", "conv_dim",
    "embed_dim", "hidden_dim", "widths", "stage_dims", "tdnn_dim", "out_channels",
}
_DEPTH_LIST_KEYS = {"depths", "num_layers", "layer_depths", "blocks", "num_blocks", "stage_depths"}
_HEADS_LIST_KEYS = {"num_heads", "num_attention_heads", "heads"}
# latent-array models (perceiver): the latents' width and the self-attention layers per block
_WIDTH_KEYS |= {"d_latents"}
_LAYER_KEYS |= {"num_self_attends_per_block"}

#: Where the generic rules cannot know an architecture's constraints.
#: model type -> overrides applied after shrinking (sub-config keys as dicts).
OVERRIDES: dict[str, dict[str, Any]] = {
    # CTC heads need a vocabulary the default configs leave to the checkpoint
    "wav2vec2-bert": {"vocab_size": 32},
    "wav2vec2-conformer": {"vocab_size": 32},
    "esm": {"vocab_size": 33, "pad_token_id": 1},
}


class TinyConfigError(ValueError):
    """No tiny configuration could be made for a model type."""


def _is_int_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and bool(value) and all(is_int(v) for v in value)


def _shrink_list(key: str, value: list, width: int) -> list | None:
    if not value or not all(is_int(v) for v in value):
        return None
    if key in _DEPTH_LIST_KEYS:
        return [1 for _ in value]
    if key in _HEADS_LIST_KEYS:
        return [min(v, 2) for v in value]
    if key in _WIDTH_LIST_KEYS:
        # keep the ratios between stages (architectures assume them), scaled down
        smallest = min(value)
        return [max(8, int(v * width / smallest) // 8 * 8) if smallest > width else v for v in value]
    return None


def _shrink_dict(d: dict[str, Any]) -> dict[str, Any]:
    """The shrunk copy of one (sub-)configuration dictionary."""
    out = copy.deepcopy(d)
    heads = HEADS
    for key, value in d.items():
        # hybrid models prefix their state-space block's sizes, predictors (vjepa2) theirs
        name = key.removeprefix("mamba_").removeprefix("pred_")
        if isinstance(value, dict) and "model_type" in value:
            out[key] = _shrink_dict(value)
        elif isinstance(value, list | tuple):
            if key in _WIDTH_LIST_KEYS and _is_int_list(d.get("stage_out_channels")):
                continue  # the stages' own channel lists are the real widths: shrinking this one alone breaks them
            shrunk = _shrink_list(key, list(value), WIDTH // 2)
            if shrunk is not None:
                out[key] = shrunk
        elif not is_int(value):
            continue
        elif name in _WIDTH_KEYS:
            out[key] = min(value, WIDTH)
        elif name in _HEAD_KEYS:
            out[key] = min(value, heads)
        elif name in _KV_HEAD_KEYS:
            out[key] = 1 if value == 1 else min(value, KV_HEADS)
        elif name in _HEAD_DIM_KEYS or key.endswith("_head_dim"):
            out[key] = min(value, HEAD_DIM)
        elif key.endswith("_groups") and value == d.get("hidden_size"):  # depthwise over the width (mimi)
            out[key] = min(value, WIDTH)
        elif key.endswith("_lora_rank"):
            out[key] = min(value, 16)
        elif key in ("n_group", "topk_group", "num_expert_groups", "num_expert_group", "topk_groups"):
            out[key] = 1
        elif name in _LAYER_KEYS:
            out[key] = min(value, LAYERS)
        elif name in _FFN_KEYS:
            out[key] = min(value, FFN)
        elif name in _EXPERT_KEYS:
            out[key] = min(value, 4)
        elif name in _TOPK_KEYS:
            out[key] = min(value, 2)
        elif name in _POSITION_KEYS:
            out[key] = min(value, MAX_POSITIONS)
        elif key in ("rotary_dim", "rotary_emb_base_dim"):
            out[key] = min(value, HEAD_DIM)
        elif key == "window_size" and is_int(d.get("image_size")):
            out[key] = min(value, 2)
        elif key in ("num_frames", "frames_per_clip") and ("image_size" in d or "crop_size" in d):
            out[key] = min(value, 4)  # video models: a multiple of any tubelet size
        elif key in ("image_size", "crop_size"):
            out[key] = min(value, IMAGE)
        elif key == "patch_size" and is_int(d.get("image_size", d.get("crop_size"))) and (
            d.get("image_size", d.get("crop_size")) > IMAGE
        ):
            out[key] = min(value, PATCH)
        elif key == "vocab_size":
            out[key] = min(value, VOCAB)
        elif key == "num_queries":  # detection queries: no more than a tiny image's anchors
            out[key] = min(value, 10)
        elif key == "max_source_positions" and "num_mel_bins" in d:
            out[key] = min(value, 32)  # whisper-like encoders take exactly 2 * this many mel frames
        elif key.endswith("feature_layer") and value >= LAYERS:  # a layer of a (now shallower) tower
            out[key] = LAYERS - 1
        elif key.endswith("tokens_per_image"):  # pooled image tokens: no more than the tiny image's patches
            out[key] = min(value, 16)
    for key, value in d.items():
        if key.endswith(("feature_layer", "feature_layers")) and isinstance(value, list | tuple):
            out[key] = [min(v, LAYERS - 1) if is_int(v) else v for v in value]
        if key.startswith("per_layer") and isinstance(value, dict) and all(str(k).isdigit() for k in value):
            # settings by layer index: those of the layers that remain
            out[key] = {k: v for k, v in value.items() if int(k) < LAYERS}
    if isinstance(d.get("image_size"), list | tuple) and len(d["image_size"]) == 2:
        out["image_size"] = [min(v, IMAGE) for v in d["image_size"]]
        if is_int(d.get("patch_size")):
            out["patch_size"] = min(d["patch_size"], PATCH)
    if is_int(d.get("window_size")) and is_int(d.get("image_size")) and d["image_size"] > 2 * IMAGE:
        # windowed attention over several stages: each stage's grid must hold a window
        out["image_size"] = 2 * IMAGE
    if is_int(d.get("num_groups")) and d["num_groups"] > 8:  # group norms over the narrower channels
        out["num_groups"] = 8
    for expand, heads_key, dim in (
        ("expand", "num_heads", "head_dim"), ("mamba_expand", "mamba_n_heads", "mamba_d_head"),
        ("expand", "mamba_num_heads", "mamba_head_dim"),
    ):
        if {expand, heads_key, dim} <= d.keys() and is_int(out.get("hidden_size")) and is_int(out[dim]):
            # state-space heads tile the expanded width: heads * head dim == expand * hidden_size
            out[heads_key] = out[expand] * out["hidden_size"] // out[dim]
    if "prediction_length" in d and d["prediction_length"] is None:  # time series: the horizon is required
        out["prediction_length"] = 8
    if "head_dim" in d and d["head_dim"] is None and is_int(out.get("hidden_size")):
        out["head_dim"] = HEAD_DIM  # some configs leave it to the checkpoint
    if "kv_lora_rank" in d:  # multi-head latent attention: one key/value per query head
        for key in _KV_HEAD_KEYS & d.keys():
            out[key] = out.get("num_attention_heads", HEADS)
    _fit_layer_lists(d, out)
    _fit_out_stages(out)
    _fit_token_ids(out)
    return out


def _fit_out_stages(out: dict[str, Any]) -> None:
    """Backbone outputs named by layer (``out_features=["stage12"]``, ``out_indices``) kept within
    the fewer layers: as many as before, the last ones (a neck expects one per feature)."""
    if "depths" in out or not is_int(out.get("num_hidden_layers")):
        return  # stage-based backbones keep their stages
    for key in ("out_features", "out_indices", "backbone_out_indices"):
        value = out.get(key)
        if not isinstance(value, list | tuple) or not value:
            continue
        numbers = [int(str(v).removeprefix("stage")) if str(v).removeprefix("stage").isdigit() else -1 for v in value]
        if -1 in numbers or max(numbers) <= out["num_hidden_layers"]:
            continue
        layers = max(out["num_hidden_layers"], len(value))
        out["num_hidden_layers"] = layers
        kept = range(layers - len(value) + 1, layers + 1)
        out[key] = [f"stage{i}" if isinstance(value[0], str) else i for i in kept]


def _fit_layer_lists(d: dict[str, Any], out: dict[str, Any]) -> None:
    """Per-layer lists (layer types, block types ...) cut to the fewer layers.

    The layers kept include one of each distinct layer type, in their original
    order, because hybrid architectures require every kind to be present.
    """
    for key in ("num_hidden_layers", "num_layers", "n_layer", "n_layers"):
        if is_int(d.get(key)) and is_int(out.get(key)) and out[key] < d[key]:
            break
    else:
        return
    if "depths" in d:  # stage-based (swin-like): lists are per stage, not per layer
        return
    original = d[key]
    lists = [k for k, v in d.items() if isinstance(v, list | tuple) and len(v) == original and k != "depths"]
    if not lists:
        return
    kinds = d.get("layer_types") if "layer_types" in lists else d[lists[0]]
    keep: list[int] = []
    seen: set[str] = set()
    for index, kind in enumerate(kinds):
        marker = repr(kind)
        if marker not in seen:
            seen.add(marker)
            keep.append(index)
    for index in range(original):  # then the first layers, up to the tiny count
        if len(keep) >= out[key]:
            break
        if index not in keep:
            keep.append(index)
    keep.sort()
    for name in lists:
        out[name] = [out[name][i] for i in keep]
    out[key] = len(keep)


def _fit_token_ids(d: dict[str, Any]) -> None:
    """Special token ids of a large vocabulary moved inside the tiny one."""
    vocab = d.get("vocab_size")
    if vocab is None and isinstance(d.get("text_config"), dict):  # a multimodal model's placeholders
        vocab = d["text_config"].get("vocab_size")
    if not is_int(vocab):
        return
    next_free = vocab - 1
    remapped: dict[int, int] = {}

    def fit(token: Any) -> Any:
        nonlocal next_free
        if not is_int(token) or token < vocab:
            return token
        if token not in remapped:
            remapped[token] = next_free
            next_free -= 1
        return remapped[token]

    for key, value in list(d.items()):
        if key.endswith("_token_id") or key.endswith("_token_index"):
            d[key] = [fit(t) for t in value] if isinstance(value, list) else fit(value)
        elif key in ("suppress_tokens", "begin_suppress_tokens", "forced_decoder_ids"):
            d[key] = None


def default_config_dict(model_type: str) -> dict[str, Any]:
    """The full default configuration of ``model_type`` as a dictionary."""
    from transformers import AutoConfig

    try:
        return AutoConfig.for_model(model_type).to_dict()
    except ValueError as exc:
        raise TinyConfigError(f"transformers has no configuration for {model_type!r}") from exc


def _diff(shrunk: dict[str, Any], default: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in shrunk.items():
        base = default.get(key)
        if value == base:
            continue
        if isinstance(value, dict) and "model_type" in value and isinstance(base, dict):
            sub = _diff(value, base)
            out[key] = {"model_type": value["model_type"], **sub}
        else:
            out[key] = value
    return out


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


_META_KEYS = {"transformers_version", "_name_or_path", "architectures", "id2label", "label2id"}


def _overrides(shrunk: dict[str, Any], default: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in _diff(shrunk, default).items() if k not in _META_KEYS}


def tiny_config_overrides(model_type: str, shrink: dict[str, Any] | None = None) -> dict[str, Any]:
    """Keyword arguments that turn ``model_type``'s default config into a tiny one.

    ``AutoConfig.for_model(model_type, **tiny_config_overrides(model_type))``
    builds the tiny configuration. ``shrink`` adds overrides of your own.
    """
    from transformers import AutoConfig

    default = default_config_dict(model_type)
    shrunk = _shrink_dict(default)
    fit(default, shrunk, LAYERS)  # relations the default holds (experts, head sums, hybrid layers)
    shrunk = _merge(shrunk, OVERRIDES.get(model_type, {}))
    fit_mrope(AutoConfig.for_model(model_type), shrunk)
    if shrink:
        shrunk = _merge(shrunk, shrink)

    def check(candidate: dict[str, Any]) -> None:
        AutoConfig.for_model(model_type, **_overrides(candidate, default))

    try:
        check(shrunk)
    except Exception as exc:
        try:  # a relation transformers validates broke: restore it as the default holds it
            shrunk = repair(default, shrunk, check, exc)
        except Exception as exc:
            raise TinyConfigError(
                f"tiny configuration of {model_type!r} is rejected by transformers: {exc}"
            ) from exc
    overrides = _overrides(shrunk, default)
    rebuilt = AutoConfig.for_model(model_type, **overrides).to_dict()
    # partial sub-config dictionaries are not always completed from the same
    # defaults: where the rebuilt config differs, spell the sub-configs out in full
    for key, value in overrides.items():
        if isinstance(value, dict) and "model_type" in value:
            if _strip(rebuilt.get(key)) != _strip(shrunk[key]):
                overrides[key] = _strip(shrunk[key])
    return overrides


def _strip(d: Any) -> Any:
    if not isinstance(d, dict):
        return d
    return {k: _strip(v) for k, v in d.items() if k not in _META_KEYS}


def tiny_config(model_type: str, shrink: dict[str, Any] | None = None):
    """The tiny ``PretrainedConfig`` of ``model_type``."""
    from transformers import AutoConfig

    return AutoConfig.for_model(model_type, **tiny_config_overrides(model_type, shrink))
