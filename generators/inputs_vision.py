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
from generators.probe import PROBE_BATCH, _reason, build

#: inputs a tower may require beside its pixels, each made from the patch grid (see `aux_inputs`)
AUX_INPUTS: tuple[str, ...] = ("grid_thw", "image_grid_thw", "merge_sizes", "spatial_shapes", "pixel_attention_mask")


def _required(cls: type) -> list[str]:
    params = inspect.signature(cls.forward).parameters.values()
    return [p.name for p in params if p.default is p.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)][1:]


def needs_probe(cls: type) -> bool:
    """Whether ``cls`` takes its image otherwise than its declared main input says (a tower), or
    requires more than the pixels (a patch grid and such)."""
    params = list(inspect.signature(cls.forward).parameters)[1:]
    return cls.main_input_name not in params or len(_required(cls)) > 1


def aux_inputs(names: list[str], sizes: dict[str, Any], batch: int) -> dict[str, Any]:
    """The inputs of ``names`` (of `AUX_INPUTS`) for ``batch`` images of the grid in ``sizes``."""
    import torch

    rows, cols = sizes["GRID"]
    made = {
        "grid_thw": lambda: torch.tensor([[1, rows, cols]] * batch),
        "merge_sizes": lambda: torch.tensor([sizes["MERGE"]] * batch),
        "spatial_shapes": lambda: torch.tensor([[rows, cols]] * batch),
        "pixel_attention_mask": lambda: torch.ones(batch, rows * cols, dtype=torch.long),
    }
    made["image_grid_thw"] = made["grid_thw"]
    return {name: made[name]() for name in names}


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
        aux = [name for name in _required(cls) if name in AUX_INPUTS and name not in inputs]
        inputs.update(aux_inputs(aux, sizes, PROBE_BATCH))
        try:
            with torch.no_grad():
                main = _main(model(**inputs))
        except Exception as exc:  # this layout does not fit the tower: try the next
            tried.append(f"{layout}: {_reason(exc)}")
            continue
        if main.shape[0] == 1 and main.dim() >= 3:  # every image's rows in one batch row
            main = main.flatten(0, 1)
        found = {"PIXEL_LAYOUT": layout, "PIXEL_INPUT": params[0], "OUTPUT_ROWS": None, "AUX_INPUTS": aux}
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
    (a deep stack of strided stages turns 32 pixels into none)."""
    import torch

    model = build(cls, config)
    tried: list[str] = []
    for side in SIDES:
        pixels = torch.randn(PROBE_BATCH, image["NUM_CHANNELS"], side, side, generator=torch.Generator().manual_seed(0))
        try:
            with torch.no_grad():
                model(**{pixel_input: pixels})
        except Exception as exc:  # too small (or another fault the module will show): try a larger side
            tried.append(f"{side}: {_reason(exc)}")
            continue
        return {"IMAGE_HEIGHT": side, "IMAGE_WIDTH": side}
    return {}
