"""Patch geometry of vision configs and random images cut into patches (no model runs here).

The bottom of the generator's input modules: `probe` (chat models' ``image_grid_thw``
images) and `inputs_vision` (vision towers) both build their patch inputs from it.
"""

from __future__ import annotations

from typing import Any

#: how a tower takes its image: (B, C, H, W) pixels or one of the patch layouts
LAYOUTS: tuple[str, ...] = ("flat", "patch_images", "rows", "image")


def first(config, *names: str, default: Any = None) -> Any:
    """The first of ``names`` that ``config`` sets (not None), else ``default``."""
    for name in names:
        value = getattr(config, name, None)
        if value is not None:
            return value
    return default


def _side(value: Any) -> int:
    return int(value if isinstance(value, int) else value[0])


def patch_sizes(config) -> dict[str, Any]:
    """Patch size, temporal patch, channels and merge factor of a (vision) config, and a grid that fits."""
    vision = first(config, "vision_config", default=config)
    patch = _side(first(vision, "patch_size", default=14))
    merge = _side(first(vision, "spatial_merge_size", "merge_kernel_size", "pooling_kernel_size", default=1))
    return {
        "PATCH_SIZE": patch,
        "TEMPORAL_PATCH": int(first(vision, "temporal_patch_size", default=1)),
        "NUM_CHANNELS": int(first(vision, "in_channels", "num_channels", default=3)),
        # patches per side: twice the merge window, so merged tokens tile it
        "GRID": [2 * merge, 2 * merge],
        "MERGE": merge,
    }


def patch_inputs(layout: str, sizes: dict[str, Any], batch: int, seed: int = 0) -> tuple[Any, Any]:
    """``(pixels, grid)`` of ``batch`` random images in ``layout`` (as the module builds them)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    rows, cols = sizes["GRID"]
    channels, patch, temporal = sizes["NUM_CHANNELS"], sizes["PATCH_SIZE"], sizes["TEMPORAL_PATCH"]
    if layout == "flat":
        pixels = torch.randn(batch * rows * cols, channels * temporal * patch * patch, generator=generator)
        return pixels, torch.tensor([[1, rows, cols]] * batch)
    if layout == "patch_images":
        pixels = torch.randn(batch * rows * cols, channels, patch, patch, generator=generator)
        return pixels, torch.tensor([[1, rows, cols]] * batch)
    if layout == "rows":
        pixels = torch.randn(batch, rows * cols, channels * patch * patch, generator=generator)
        grid = torch.stack(torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij"), dim=-1)
        return pixels, grid.reshape(1, rows * cols, 2).repeat(batch, 1, 1)
    raise ValueError(f"unknown patch layout {layout!r}; one of {', '.join(LAYOUTS[:-1])}")
