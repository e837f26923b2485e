"""Image inputs of vision towers that take patches, found by running the tiny model once.

The vision towers of chat models (``qwen2_5_vl_vision``, ``glm4v_vision``,
``gemma4_vision``, ``kimi_k25_vision`` ...) take an image already cut into
patches by their processor, with its patch grid beside it: flat rows of
``channels * temporal_patch * patch**2`` values and a ``grid_thw`` per image,
one ``(channels, patch, patch)`` picture per patch, or a batch of patch rows
with each patch's ``(row, column)`` position. Which one is not in any mapping,
so the generator builds each layout from the config's patch sizes and keeps
the first that the model runs (as ``probe`` does for chat models), and the
module carries the result as constants. Multimodal chat models reuse
`patch_inputs` for their ``image_grid_thw`` images.
"""

from __future__ import annotations

import inspect
from typing import Any

from generators.patches import LAYOUTS, first, patch_inputs, patch_sizes
from generators.probe import PROBE_BATCH, _reason, build, required_arguments

#: inputs a tower may require beside its pixels, each made from the patch grid (see `aux_inputs`)
AUX_INPUTS: tuple[str, ...] = (
    "grid_thw", "image_grid_thw", "merge_sizes", "spatial_shapes", "pixel_attention_mask", "target_sizes",
)
#: grid inputs a tower declares optional but cannot run without (each image's patch rows and columns)
GRID_INPUTS: tuple[str, ...] = ("target_sizes",)


def needs_probe(cls: type) -> bool:
    """Whether ``cls`` takes its image otherwise than its declared main input says (a tower), or
    requires more than the pixels (a patch grid and such)."""
    params = list(inspect.signature(cls.forward).parameters)[1:]
    return cls.main_input_name not in params or len(required_arguments(cls)) > 1 or bool(set(GRID_INPUTS) & set(params))


def aux_inputs(names: list[str], sizes: dict[str, Any], batch: int) -> dict[str, Any]:
    """The inputs of ``names`` (of `AUX_INPUTS`) for ``batch`` images of the grid in ``sizes``."""
    import torch

    rows, cols = sizes["GRID"]
    made = {
        "grid_thw": lambda: torch.tensor([[1, rows, cols]] * batch),
        "merge_sizes": lambda: torch.tensor([sizes["MERGE"]] * batch),
        "spatial_shapes": lambda: torch.tensor([[rows, cols]] * batch),
        "target_sizes": lambda: torch.tensor([[rows, cols]] * batch),
        "pixel_attention_mask": lambda: torch.ones(batch, rows * cols, dtype=torch.long),
    }
    made["image_grid_thw"] = made["grid_thw"]
    return {name: made[name]() for name in names}


#: tokens of the text prompt a detector or segmenter takes beside its image (grounding-dino's phrases)
TEXT_LEN = 8


def _vocab(config) -> int:
    text = first(config, "text_config", default=config)
    return int(first(text, "vocab_size", default=first(config, "vocab_size", default=2)))


def extra_kinds(cls: type, config, made: list[str]) -> dict[str, str]:
    """The required inputs of ``cls`` beside its pixels and patch grid, by kind: ``ids`` (token ids of a
    text prompt), ``ones`` (its attention mask) or ``image`` (a prompt image or mask, shaped as the pixels).
    A required input of another kind is left out: the model then says what it misses."""
    kinds = {}
    for name in required_arguments(cls):
        if name in made or name in AUX_INPUTS:
            continue
        if name.endswith("input_ids"):
            kinds[name] = "ids"
        elif name.endswith("attention_mask"):
            kinds[name] = "ones"
        elif "pixel_values" in name or name.endswith(("masks", "mask")):
            kinds[name] = "image"
    return kinds


def extra_inputs(kinds: dict[str, str], pixels, vocab: int) -> dict[str, Any]:
    """The tensors of ``kinds`` (see `extra_kinds`) for the images in ``pixels``, as the module makes them."""
    import torch

    generator = torch.Generator().manual_seed(1)
    batch, made = pixels.shape[0], {}
    for name, kind in kinds.items():
        if kind == "ids":
            made[name] = torch.randint(0, vocab, (batch, TEXT_LEN), generator=generator)
        elif kind == "ones":
            made[name] = torch.ones(batch, TEXT_LEN, dtype=torch.long)
        else:
            made[name] = torch.randn(pixels.shape, generator=generator)
    return made


#: pixels per side of an image given as colour-cluster ids (a token per pixel: 64 tokens)
ID_SIDE = 8


def pixel_ids(config) -> dict[str, Any]:
    """``VOCAB_SIZE`` and the image side of a model that takes each pixel as a token id (imagegpt's colour
    clusters): ``ID_SIDE`` or less, so that ``side**2`` tokens fit in its positions."""
    positions = int(first(config, "n_positions", "max_position_embeddings", default=ID_SIDE**2))
    side = min(ID_SIDE, int(positions**0.5))
    return {"VOCAB_SIZE": int(first(config, "vocab_size")), "IMAGE_HEIGHT": side, "IMAGE_WIDTH": side}


def token_inputs(cls: type, config) -> dict[str, Any]:
    """``TOKEN_INPUTS`` (``{name: [vocab, length]}``): the required token-id inputs of a detector or segmenter
    beside its pixels (oneformer's ``task_inputs``), each as long as the config's ``<name>_seq_len``
    (``task_seq_len``) and drawn from its vocabulary (``vocab_size`` or a ``*_vocab_size``)."""
    config_fields = config.to_dict()
    vocab = first(config, "vocab_size") or next(
        (v for k, v in config_fields.items() if k.endswith("vocab_size") and isinstance(v, int)), None)
    made = {}
    for name in required_arguments(cls):
        if vocab and (name.endswith("input_ids") or name.endswith("_inputs")):
            stem = name.removesuffix("_input_ids").removesuffix("_inputs")
            length = first(config, f"{stem}_seq_len", f"{stem}_length", default=TEXT_LEN)
            made[name] = [int(vocab), int(length)]
    return {"TOKEN_INPUTS": made} if made else {}


def main_field(cls: type, labels: int | None) -> dict[str, Any]:
    """``MAIN_OUTPUT`` of a model whose output class has neither hidden states nor labels' logits
    (a keypoint matcher's ``matches``): the first field of that class after the loss; else nothing."""
    import dataclasses
    import typing

    try:
        returned = typing.get_type_hints(cls.forward).get("return")
    except Exception:  # an annotation that does not resolve: the template's default
        return {}
    kinds = [k for k in typing.get_args(returned) or (returned,) if dataclasses.is_dataclass(k)]
    fields = [f.name for f in dataclasses.fields(kinds[0])] if kinds else []
    if labels or not fields or {"last_hidden_state", "pooler_output"} & set(fields):
        return {}
    return {"MAIN_OUTPUT": next(f for f in fields if f != "loss")}


def _has(config, name: str) -> bool:
    vision = first(config, "vision_config", default=config)
    return getattr(vision, name, None) is not None


def _main(outputs) -> Any:
    pooled = outputs.get("pooler_output") if hasattr(outputs, "get") else None
    return pooled if pooled is not None else outputs["last_hidden_state"]


def tower_layout(cls: type, config, image: dict[str, Any]) -> dict[str, Any]:
    """``PIXEL_LAYOUT``, the input names, patch sizes and ``OUTPUT_ROWS`` of a vision tower.

    ``OUTPUT_ROWS`` is the rows per image of the main output where the tower
    returns every image's rows stacked (no batch dimension), else ``None``.
    """
    import torch

    params = list(inspect.signature(cls.forward).parameters)[1:]
    model = build(cls, config)
    sizes = patch_sizes(config)
    tried: list[str] = []
    # a config that names no temporal patch leaves it to the model's default: 1 or 2 frames
    temporals = [sizes["TEMPORAL_PATCH"]] if _has(config, "temporal_patch_size") else [1, 2]
    attempts = [(layout, t) for layout in LAYOUTS for t in (temporals if layout == "flat" else [1])]
    for layout, temporal in attempts:
        sizes["TEMPORAL_PATCH"] = temporal
        if layout == "image":
            shape = (PROBE_BATCH, image["NUM_CHANNELS"], image["IMAGE_HEIGHT"], image["IMAGE_WIDTH"])
            inputs = {params[0]: torch.randn(shape, generator=torch.Generator().manual_seed(0))}
        elif len(params) < 2:
            continue
        else:
            pixels, grid = patch_inputs(layout, sizes, PROBE_BATCH)
            inputs = {params[0]: pixels}
            if params[1] not in AUX_INPUTS:  # else made below, by its name
                inputs[params[1]] = grid
        wanted = required_arguments(cls) + [name for name in params if name in GRID_INPUTS]
        aux = [name for name in wanted if name in AUX_INPUTS and name not in inputs]
        inputs.update(aux_inputs(aux, sizes, PROBE_BATCH))
        extra = extra_kinds(cls, config, list(inputs)) if layout == "image" else {}
        inputs.update(extra_inputs(extra, inputs[params[0]], _vocab(config)))
        try:
            with torch.no_grad():
                main = _main(model(**inputs))
        except Exception as exc:  # this layout does not fit the tower: try the next
            tried.append(f"{layout}: {_reason(exc)}")
            continue
        if main.shape[0] == 1 and main.dim() >= 3:  # every image's rows in one batch row
            main = main.flatten(0, 1)
        found = {"PIXEL_LAYOUT": layout, "PIXEL_INPUT": params[0], "OUTPUT_ROWS": None, "AUX_INPUTS": aux}
        if extra:  # a prompt beside the image: its kinds, and the text's vocabulary and length
            found.update({"EXTRA_INPUTS": extra, "TEXT_VOCAB": _vocab(config), "TEXT_LEN": TEXT_LEN})
        if main.shape[0] != PROBE_BATCH:
            found["OUTPUT_ROWS"] = main.shape[0] // PROBE_BATCH
        if layout != "image" or aux:
            found.update(sizes)
        if layout != "image":
            found["GRID_INPUT"] = params[1] if params[1] not in AUX_INPUTS else None
            found["IMAGE_HEIGHT"] = found["IMAGE_WIDTH"] = sizes["GRID"][0] * sizes["PATCH_SIZE"]
        return found
    raise ValueError(f"no image layout runs this vision tower: {'; '.join(tried)}")


#: image sides tried for a model whose config names no image size (convnets, text recognizers)
SIDES: tuple[int, ...] = (32, 64, 128)


def image_side(cls: type, config, image: dict[str, Any], pixel_input: str) -> dict[str, Any]:
    """``IMAGE_HEIGHT``/``IMAGE_WIDTH``: the smallest of `SIDES` whose image survives every downsampling
    (a deep stack of strided stages turns 32 pixels into none); ``PAIRED`` where the model takes its
    images two by two (``(B, 2, C, H, W)``: keypoint matchers) and no single image runs."""
    import torch

    model = build(cls, config)
    tried: list[str] = []
    for side, paired in ((side, paired) for side in SIDES for paired in (False, True)):
        shape = (PROBE_BATCH, *((2,) if paired else ()), image["NUM_CHANNELS"], side, side)
        pixels = torch.randn(shape, generator=torch.Generator().manual_seed(0))
        try:
            with torch.no_grad():
                model(**{pixel_input: pixels})
        except Exception as exc:  # too small (or another fault the module will show): try a larger side
            tried.append(f"{side}{' pair' if paired else ''}: {_reason(exc)}")
            continue
        # PAIRED: the model matches two images (keypoint matching): (B, 2, C, H, W)
        return {"IMAGE_HEIGHT": side, "IMAGE_WIDTH": side, **({"PAIRED": True} if paired else {})}
    return {}
