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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def fit(default: dict[str, Any], shrunk: dict[str, Any], layers: int) -> None:
    """Restore in ``shrunk`` (in place) the relations ``default`` holds, in it and its sub-configs."""
    for key, value in default.items():
        if isinstance(value, dict) and "model_type" in value and isinstance(shrunk.get(key), dict):
            fit(value, shrunk[key], layers)
    _fit_experts(default, shrunk)
    _fit_vocab(default, shrunk)
    _fit_kv_heads(shrunk)
    _fit_head_sums(default, shrunk)
    _fit_layer_pattern(default, shrunk, layers)


def _fit_experts(default: dict[str, Any], shrunk: dict[str, Any]) -> None:
    """No more experts per token than experts; a routed model whose expert count the default leaves unset gets a few."""
    topk = [k for k in TOPK_KEYS if _is_int(shrunk.get(k)) and shrunk[k] > 0]
    routed = topk or any(k in default and default[k] is None for k in TOPK_KEYS)
    for key in EXPERT_KEYS:  # experts (and routing) left to the checkpoint, but the layers are built
        if key in default and default[key] is None and routed and "moe_intermediate_size" in default:
            shrunk[key] = _TINY_EXPERTS
    counts = [shrunk[k] for k in EXPERT_KEYS if _is_int(shrunk.get(k)) and shrunk[k] > 0]
    if not counts:
        return
    for key in TOPK_KEYS:
        if key not in shrunk:
            continue
        if _is_int(shrunk[key]):
            shrunk[key] = min(shrunk[key], min(counts))
        elif shrunk[key] is None and default.get(key, 0) is None:  # left to the checkpoint: route to two
            shrunk[key] = min(2, min(counts))


def _fit_vocab(default: dict[str, Any], shrunk: dict[str, Any]) -> None:
    """Another vocabulary the default sizes like ``vocab_size`` (the same one unpadded) shrinks with it."""
    vocab = default.get("vocab_size")
    if not _is_int(vocab) or not _is_int(shrunk.get("vocab_size")):
        return
    for key, value in default.items():
        if key != "vocab_size" and key.endswith("vocab_size") and _is_int(value) and 0.9 * vocab <= value <= vocab:
            shrunk[key] = shrunk["vocab_size"]


def _fit_kv_heads(shrunk: dict[str, Any]) -> None:
    """Key/value heads left unset by a config that does not fill them in: one per query head."""
    heads = shrunk.get("num_attention_heads")
    for key in _KV_HEAD_KEYS:
        if key in shrunk and shrunk[key] is None and _is_int(heads):
            shrunk[key] = heads


def _fit_head_sums(default: dict[str, Any], shrunk: dict[str, Any]) -> None:
    """A head width the default makes the sum of two of its kind (``qk_head_dim = qk_nope_ + qk_rope_``) stays that sum."""
    dims = {k: v for k, v in default.items() if k.endswith("head_dim") and _is_int(v) and v > 0}
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
        if total in used or len(parts) != 1 or not all(_is_int(shrunk.get(k)) for k in parts[0]):
            continue
        a, b = parts[0]
        shrunk[total] = shrunk[a] + shrunk[b]
        used.update(parts[0])


def _fit_layer_pattern(default: dict[str, Any], shrunk: dict[str, Any], layers: int) -> None:
    """Hybrid stacks keep one layer of each kind their default declares.

    Two declarations exist: a period and offset (``attn_layer_period=8,
    attn_layer_offset=4``: every 8th layer from the 4th), cut so the offset
    falls inside the tiny stack; and a short list of kinds cycled over the
    layers (``block_types=[recurrent, recurrent, attention]``), for which the
    stack keeps as many layers as the list has kinds.
    """
    depth_key = next((k for k in ("num_hidden_layers", "num_layers") if _is_int(shrunk.get(k))), None)
    if depth_key is None or not _is_int(default.get(depth_key)):
        return
    depth = shrunk[depth_key]
    for key, value in default.items():
        if (
            key.startswith(("num_", "n_")) and key.endswith("_layers") and _is_int(value)
            and 0 < value < default[depth_key] and key not in (depth_key, *_DEPTH_KEYS)
        ):  # how many of the layers do something (share a cache, stay dense): the same share of the tiny stack
            shrunk[key] = value * depth // default[depth_key]
        if key.endswith("layer_indices") and ("attn" in key or "attention" in key) and not value:
            shrunk[key] = [depth - 1]  # attention layers left to the checkpoint: the last one attends
        if key == "layer_types" and isinstance(value, list) and value and set(value) == {"linear_attention"}:
            # a stack of linear attention alone builds no causal mask: the last layer gets full attention
            shrunk[key] = [*shrunk[key][: depth - 1], "full_attention"][:depth]
        if key.endswith("_period") and _is_int(value) and _is_int(default.get(key[: -len("period")] + "offset")):
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
