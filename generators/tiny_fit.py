"""Consistency rules a shrunk configuration must keep, read off the default configuration.

Shrinking every size on its own can break relations the architecture relies
on: a mixture of experts routing more experts per token than it has left, a
query head whose width is the sum of two other head widths, a hybrid stack
whose few remaining layers are all recurrent. Each rule here looks at the
default configuration (the relation it holds there, or the pattern it
declares) and restores it in the shrunk one, so no model type is named.
"""

from __future__ import annotations

from typing import Any

#: how many experts a token is routed to
TOPK_KEYS = ("num_experts_per_tok", "num_experts_per_token", "moe_topk", "moe_k", "top_k", "num_selected_experts")
#: how many experts a layer holds
EXPERT_KEYS = ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts")
_KV_HEAD_KEYS = ("num_key_value_heads", "num_kv_heads", "n_kv_heads")
_TINY_EXPERTS = 4
#: depths of a whole stack (the encoder, the decoder), not of a share of it
_DEPTH_KEYS = (
    "num_hidden_layers", "num_layers", "n_layer", "n_layers", "encoder_layers", "decoder_layers",
    "num_encoder_layers", "num_decoder_layers", "num_blocks",
)


def is_int(value: Any) -> bool:
    """An int that is not a bool (config flags are bools; sizes are ints)."""
    return isinstance(value, int) and not isinstance(value, bool)


def fit(default: dict[str, Any], shrunk: dict[str, Any], layers: int) -> None:
    """Restore in ``shrunk`` (in place) the relations ``default`` holds, in it and its sub-configs."""
    for key, value in default.items():
        if isinstance(value, dict) and "model_type" in value and isinstance(shrunk.get(key), dict):
            fit(value, shrunk[key], layers)
    _fit_experts(default, shrunk)
    _fit_vocab(default, shrunk)
    _fit_kv_heads(default, shrunk)
    _fit_head_sums(default, shrunk)
    _fit_rotary(default, shrunk)
    _fit_width_splits(default, shrunk)
    _fit_default_choice(shrunk)
    _fit_windows(shrunk)
    _fit_sibling_widths(default, shrunk)
    _fit_layer_pattern(default, shrunk, layers)


def _fit_experts(default: dict[str, Any], shrunk: dict[str, Any]) -> None:
    """No more experts per token than experts; a routed model whose expert count the default leaves unset gets a few."""
    topk = [k for k in TOPK_KEYS if is_int(shrunk.get(k)) and shrunk[k] > 0]
    routed = topk or any(k in default and default[k] is None for k in TOPK_KEYS)
    for key in EXPERT_KEYS:  # experts (and routing) left to the checkpoint, but the layers are built
        if key in default and default[key] is None and routed and "moe_intermediate_size" in default:
            shrunk[key] = _TINY_EXPERTS
    counts = [shrunk[k] for k in EXPERT_KEYS if is_int(shrunk.get(k)) and shrunk[k] > 0]
    if not counts:
        return
    for key in TOPK_KEYS:
        if key not in shrunk:
            continue
        if is_int(shrunk[key]):
            shrunk[key] = min(shrunk[key], min(counts))
        elif shrunk[key] is None and default.get(key, 0) is None:  # left to the checkpoint: route to two
            shrunk[key] = min(2, min(counts))


def _fit_vocab(default: dict[str, Any], shrunk: dict[str, Any]) -> None:
    """Another vocabulary the default sizes like ``vocab_size`` (the same one unpadded) shrinks with it."""
    vocab = default.get("vocab_size")
    if not is_int(vocab) or not is_int(shrunk.get("vocab_size")):
        return
    for key, value in default.items():
        if key != "vocab_size" and key.endswith("vocab_size") and is_int(value) and 0.9 * vocab <= value <= vocab:
            shrunk[key] = shrunk["vocab_size"]


def _fit_kv_heads(default: dict[str, Any], shrunk: dict[str, Any]) -> None:
    """One key/value head per query head where the default has as many (or leaves them unset)."""
    heads = shrunk.get("num_attention_heads")
    for key in _KV_HEAD_KEYS:
        if key in shrunk and is_int(heads) and (
            shrunk[key] is None or default[key] == default.get("num_attention_heads")
        ):
            shrunk[key] = heads


def _rotary_factors(d: dict[str, Any]) -> list[float]:
    """Every ``partial_rotary_factor`` of a config: its own and those of its rope parameters (per layer type)."""
    found = [d.get("partial_rotary_factor")]
    rope = d.get("rope_parameters")
    if isinstance(rope, dict):
        found.append(rope.get("partial_rotary_factor"))
        found += [v.get("partial_rotary_factor") for v in rope.values() if isinstance(v, dict)]
    return [f for f in found if isinstance(f, float | int) and 0 < f < 1]


def _fit_rotary(default: dict[str, Any], shrunk: dict[str, Any]) -> None:
    """A partially rotated head keeps its rotated width a multiple of 4, as in the default (pairs per axis)."""
    factors = _rotary_factors(default)
    head = shrunk.get("head_dim")
    if not factors or not is_int(head) or not is_int(default.get("head_dim")):
        return
    if any((default["head_dim"] * f) % 4 for f in factors):
        return  # the default itself does not keep the relation
    while any((head * f) % 4 for f in factors) and head < default["head_dim"]:
        head *= 2
    shrunk["head_dim"] = head


def _fit_width_splits(default: dict[str, Any], shrunk: dict[str, Any]) -> None:
    """An integer list the default makes sum to the width (axial position embeddings) splits the tiny width alike."""
    width, tiny = default.get("hidden_size"), shrunk.get("hidden_size")
    if not is_int(width) or not is_int(tiny) or tiny >= width:
        return
    for key, value in default.items():
        if isinstance(value, list | tuple) and len(value) > 1 and all(is_int(v) for v in value) and sum(value) == width:
            parts = [v * tiny // width for v in value]
            if sum(parts) == tiny and all(parts):
                shrunk[key] = parts


def _fit_default_choice(shrunk: dict[str, Any]) -> None:
    """``default_<x>`` left unset while the config lists the ``<x>s`` it knows: the first of them."""
    for key, value in list(shrunk.items()):
        choices = shrunk.get(key.removeprefix("default_") + "s")
        if key.startswith("default_") and value is None and isinstance(choices, list | tuple) and choices:
            shrunk[key] = choices[0]


def _fit_head_sums(default: dict[str, Any], shrunk: dict[str, Any]) -> None:
    """A head width the default makes the sum of two of its kind (``qk_head_dim = qk_nope_ + qk_rope_``) stays that sum."""
    dims = {k: v for k, v in default.items() if k.endswith("head_dim") and is_int(v) and v > 0}
    used: set[str] = set()
    for total in sorted(dims, key=dims.get, reverse=True):  # the widest sum first; its parts are no sums
        prefix = total.removesuffix("head_dim")
        if not prefix:
            continue
        parts = [
            (a, b) for a in dims for b in dims
            if a < b and total not in (a, b) and dims[a] + dims[b] == dims[total]
            and a.startswith(prefix) and b.startswith(prefix)  # qk_head_dim: of qk_nope_ and qk_rope_
        ]
        if total in used or len(parts) != 1 or not all(is_int(shrunk.get(k)) for k in parts[0]):
            continue
        a, b = parts[0]
        shrunk[total] = shrunk[a] + shrunk[b]
        used.update(parts[0])
        if total != "head_dim" and default.get("head_dim") == dims[total]:  # the head the rotary factor is read off
            shrunk["head_dim"] = shrunk[total]


def _fit_layer_pattern(default: dict[str, Any], shrunk: dict[str, Any], layers: int) -> None:
    """Hybrid stacks keep one layer of each kind their default declares.

    Two declarations exist: a period and offset (``attn_layer_period=8,
    attn_layer_offset=4``: every 8th layer from the 4th), cut so the offset
    falls inside the tiny stack; and a short list of kinds cycled over the
    layers (``block_types=[recurrent, recurrent, attention]``), for which the
    stack keeps as many layers as the list has kinds.
    """
    depth_key = next((k for k in ("num_hidden_layers", "num_layers") if is_int(shrunk.get(k))), None)
    if depth_key is None or not is_int(default.get(depth_key)):
        return
    depth = shrunk[depth_key]
    for key, value in default.items():
        if (
            key.startswith(("num_", "n_")) and key.endswith("_layers") and is_int(value)
            and 0 < value < default[depth_key] and key not in (depth_key, *_DEPTH_KEYS)
            and not any(isinstance(v, list | tuple) and len(v) == value for v in default.values())  # no list's length
        ):  # how many of the layers do something (share a cache, stay dense): the same share of the tiny stack
            shrunk[key] = value * depth // default[depth_key]
        if key.endswith("layer_indices") and ("attn" in key or "attention" in key) and not value:
            shrunk[key] = [depth - 1]  # attention layers left to the checkpoint: the last one attends
        if key == "layer_types" and isinstance(value, list) and value and set(value) == {"linear_attention"}:
            # a stack of linear attention alone builds no causal mask: the last layer gets full attention
            shrunk[key] = [*shrunk[key][: depth - 1], "full_attention"][:depth]
        if key.endswith("_period") and is_int(value) and is_int(default.get(key[: -len("period")] + "offset")):
            offset_key = key[: -len("period")] + "offset"
            if default[offset_key] >= depth:
                shrunk[key] = depth
                shrunk[offset_key] = depth - 1
        elif (
            key.endswith("_types") and isinstance(value, list | tuple) and value
            and all(isinstance(v, str) for v in value)
            and len(value) < default[depth_key] and len(set(value)) > 1 and depth < len(value) <= 2 * layers
        ):
            shrunk[depth_key] = len(value)


def _fit_windows(shrunk: dict[str, Any]) -> None:
    """A time-series decoder starts from the last ``label_length`` steps of the context: the context holds them."""
    label = shrunk.get("label_length")
    if not is_int(label) or "context_length" not in shrunk:
        return
    context = shrunk["context_length"] if is_int(shrunk["context_length"]) else shrunk.get("prediction_length")
    if is_int(context) and context < label:
        shrunk["context_length"] = label


def _fit_sibling_widths(default: dict[str, Any], shrunk: dict[str, Any]) -> None:
    """``<x>_hidden_size`` in one sub-config that the default sets to ``<x>_config.hidden_size`` follows it."""
    for key, sub in default.items():
        if not isinstance(sub, dict) or "model_type" not in sub or not isinstance(shrunk.get(key), dict):
            continue
        for name, value in sub.items():
            if not isinstance(name, str):
                continue
            source = name.removesuffix("_hidden_size") + "_config"
            if not name.endswith("_hidden_size") or source not in default or not is_int(value):
                continue
            width = (default[source] or {}).get("hidden_size") if isinstance(default[source], dict) else None
            tiny = (shrunk.get(source) or {}).get("hidden_size")
            if width == value and is_int(tiny):
                shrunk[key][name] = tiny


def fit_mrope(config, shrunk: dict[str, Any]) -> None:
    """Multimodal rotary sections (temporal, height, width) split the tiny head's rotary half.

    Configs that take ``mrope_section`` say so (``ignore_keys_at_rope_validation``);
    the model otherwise falls back to sections sized for a full head.  Some
    vision-language text configs read it without declaring it: beside a
    ``vision_config``, a text config's flat rope parameters get sections too (an
    unused key is only a warning to the others).
    """
    subs = [k for k, v in shrunk.items() if isinstance(v, dict)]  # per-layer configs refuse other reads
    for key, sub in [(None, config), *((k, getattr(config, k, None)) for k in subs)]:
        target = shrunk if key is None else shrunk.get(key)
        if not isinstance(target, dict) or not (
            "mrope_section" in getattr(type(sub), "ignore_keys_at_rope_validation", ()) or _reads_3d_positions(key, shrunk)
        ):
            continue
        head = target.get("head_dim") or target["hidden_size"] // target["num_attention_heads"]
        factor = target.get("partial_rotary_factor") or (target.get("rope_parameters") or {}).get("partial_rotary_factor")
        half = int(head * (factor or 1)) // 2  # the rotated part of the head
        sections = [half // 4, half // 4, half - 2 * (half // 4)]
        rope = target.get("rope_parameters") or {"rope_type": "default", "rope_theta": target.get("rope_theta", 1e4)}
        if _rope_per_layer_type(sub) and isinstance(target.get("layer_types"), list):  # {layer type: its rope}
            target["rope_parameters"] = {t: {**rope, "mrope_section": sections} for t in set(target["layer_types"])}
        else:
            target["rope_parameters"] = {**rope, "mrope_section": sections}


def _rope_per_layer_type(config: Any) -> bool:
    """Whether the config class declares ``rope_parameters`` as a mapping of layer type to parameters."""
    for cls in type(config).__mro__:
        declared = getattr(cls, "__annotations__", {}).get("rope_parameters")
        if declared is not None:
            return str(declared).startswith("dict[str")
    return False


def _reads_3d_positions(key: str | None, shrunk: dict[str, Any]) -> bool:
    """A vision-language model's text config with flat (not per-layer-type) rope parameters."""
    target = shrunk.get(key) if key else None
    rope = target.get("rope_parameters") if isinstance(target, dict) else None
    return bool(key and key.endswith("text_config") and "vision_config" in shrunk and isinstance(rope, dict) and "rope_type" in rope)
