"""Input layouts of the newer families, found by running the (tiny) model once when generating.

Multimodal chat models, codecs and time-series models differ in how their
inputs are laid out (images as 4-D or 5-D tensors, how many placeholder tokens
an image takes, mono audio as ``(B, T)`` or ``(B, 1, T)``). Rather than a table
per architecture, the generator tries the few layouts transformers uses on the
model itself and writes the one that runs into the module as constants, so the
generated module stays plain and needs nothing from here at run time.
"""

from __future__ import annotations

import inspect
from typing import Any

from generators.patches import patch_inputs, patch_sizes

PROBE_BATCH = 2


def _tensors(value: Any) -> list:
    """Every tensor in a model output, list or tuple (nested), in order."""
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if hasattr(value, "values") and callable(value.values):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return [t for v in value for t in _tensors(v)]
    return []


def build(cls: type, config):
    """The model of ``cls`` for ``config``, seeded, in eval mode (float32 on the CPU)."""
    import torch

    torch.manual_seed(0)
    return cls(config).eval()


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:160]}"


def image_tokens(model, pixel_values, extra: dict | None = None, batch: int | None = None) -> int:
    """How many placeholder tokens one image takes: the rows ``get_image_features`` returns per image
    (``batch`` images; by default as many as ``pixel_values`` has rows)."""
    import torch

    with torch.no_grad():
        found = model.get_image_features(pixel_values=pixel_values, **(extra or {}))
    pooled = getattr(found, "pooler_output", None) if not isinstance(found, torch.Tensor | list | tuple) else found
    if pooled is None:
        pooled = found if isinstance(found, torch.Tensor | list | tuple) else found.last_hidden_state
    batch = pixel_values.shape[0] if batch is None else batch
    if isinstance(pooled, torch.Tensor):
        rows = pooled.shape[1] * pooled.shape[0] if pooled.dim() == 3 else pooled.shape[0]
    else:
        rows = sum(t.reshape(-1, t.shape[-1]).shape[0] for t in _tensors(pooled))
    if rows % batch:
        raise ValueError(f"{rows} image feature rows for {batch} images")
    return rows // batch


def text_ids(constants: dict[str, Any], batch: int, length: int, seed: int = 0):
    """Token ids drawn from ``TEXT_TOKEN_IDS`` (no special token), as the module draws them."""
    import torch

    low, high = constants["TEXT_TOKEN_IDS"]
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(low, high, (batch, length), generator=generator)


def multimodal(cls: type, config, constants: dict[str, Any]) -> dict[str, Any]:
    """``IMAGE_LAYOUT`` ("4d", "5d" or None for text only), ``IMAGE_TOKENS`` and why not images."""
    import torch

    model = build(cls, config)
    height, width, channels = constants["IMAGE_HEIGHT"], constants["IMAGE_WIDTH"], constants["NUM_CHANNELS"]
    token = constants.get("IMAGE_TOKEN_ID")
    tried: list[str] = []
    if token is None:
        tried.append("the config names no image token id")
    sized = "image_sizes" in inspect.signature(model.get_image_features).parameters if hasattr(
        model, "get_image_features") else False
    gridded = "image_grid_thw" in inspect.signature(model.get_image_features).parameters if hasattr(
        model, "get_image_features") else False
    for layout in ("4d", "5d", "patches") if gridded else ("4d", "5d"):
        if token is None:
            break
        shape = (PROBE_BATCH, channels, height, width)
        if layout == "5d":
            shape = (PROBE_BATCH, 1, channels, height, width)
        pixels = torch.randn(shape, generator=torch.Generator().manual_seed(0))
        extra = {"image_sizes": torch.tensor([[height, width]] * PROBE_BATCH)} if sized else {}
        if layout == "patches":  # Qwen-VL style: patch rows and each image's (frames, rows, columns)
            sizes = patch_sizes(config)
            pixels, extra["image_grid_thw"] = patch_inputs("flat", sizes, PROBE_BATCH)
        try:
            count = image_tokens(model, pixels, extra, PROBE_BATCH)
            ids = torch.cat(
                [torch.full((PROBE_BATCH, count), token), text_ids(constants, PROBE_BATCH, constants["SEQ_LEN"])],
                dim=1,
            )
            typed = "mm_token_type_ids" in forward_arguments(type(model))  # 1 marks an image token
            if typed:
                extra["mm_token_type_ids"] = (ids == token).long()
            with torch.no_grad():
                model(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pixels, **extra)
        except Exception as exc:  # this layout does not fit the model: try the next
            tried.append(f"{layout} pixels: {_reason(exc)}")
            continue
        found = {"IMAGE_LAYOUT": layout, "IMAGE_TOKENS": count, "IMAGE_SIZES": sized, "TEXT_ONLY_REASON": None}
        found["TOKEN_TYPES"] = typed
        if layout == "patches":
            found.update({k: sizes[k] for k in ("GRID", "PATCH_SIZE", "TEMPORAL_PATCH")})
        return found
    ids = text_ids(constants, PROBE_BATCH, constants["SEQ_LEN"])
    with torch.no_grad():  # not even text alone: the generator reports the model's own error
        model(input_ids=ids, attention_mask=torch.ones_like(ids))
    return {"IMAGE_LAYOUT": None, "IMAGE_TOKENS": 0, "IMAGE_SIZES": False, "TOKEN_TYPES": False,
            "TEXT_ONLY_REASON": "; ".join(tried)}


def forward_arguments(cls: type) -> set[str]:
    return set(inspect.signature(cls.forward).parameters)


def required_arguments(cls: type) -> list[str]:
    """The arguments ``cls.forward`` requires (no default, not ``*args``/``**kwargs``), ``self`` left out."""
    params = list(inspect.signature(cls.forward).parameters.values())[1:]
    return [p.name for p in params if p.default is p.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]

