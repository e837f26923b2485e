"""Input layouts of the media families that the generator finds by running the tiny model once:
vision towers taking patches and their grid, Qwen-VL images, conformer spectrograms, backbone stages."""

from __future__ import annotations

import pytest

from generators.plan import plan
from generators.resolve import resolve
from generators.tiny import tiny_config


@pytest.mark.parametrize(
    ("model_type", "layout", "rows"),
    [
        ("qwen2_5_vl_vision", "flat", True),  # hidden_states (patch rows) + grid_thw; rows of all images stacked
        ("gemma4_vision", "rows", True),  # (batch, patches, values) + each patch's (row, column)
        ("kimi_k25_vision", "patch_images", True),  # one (channels, patch, patch) picture per patch
        ("idefics3_vision", "image", False),  # plain (batch, channels, height, width)
    ],
)
def test_vision_towers_get_the_patch_layout_that_runs(model_type, layout, rows):
    constants = plan(resolve(model_type))
    assert constants["PIXEL_LAYOUT"] == layout
    assert bool(constants["OUTPUT_ROWS"]) is rows


def test_a_tower_requiring_a_grid_gets_one_beside_its_pixels():
    constants = plan(resolve("video_llama_3_vision"))
    assert set(constants["AUX_INPUTS"]) >= {"merge_sizes"}
    assert constants["GRID"][0] % constants["MERGE"] == 0


def test_qwen_vl_images_go_in_as_patches_with_their_grid():
    constants = plan(resolve("qwen2_vl"))
    assert constants["IMAGE_LAYOUT"] == "patches" and constants["TEXT_ONLY_REASON"] is None
    assert constants["TOKEN_TYPES"] and constants["IMAGE_TOKENS"] > 0


def test_conformer_spectrograms_go_in_frames_first():
    assert plan(resolve("parakeet_encoder"))["FEATURES_FIRST"] is False
    assert plan(resolve("whisper"))["FEATURES_FIRST"] is True
    assert plan(resolve("canary"))["FEATURE_SIZE"] == tiny_config("canary").encoder_config.num_mel_bins


def test_backbone_stages_stay_within_the_tiny_depth():
    config = tiny_config("rf_detr").backbone_config
    assert len(config.out_features) == 4 and set(config.out_features) <= set(config.stage_names)


def test_stage_channel_lists_stay_consistent():
    config = tiny_config("hgnet_v2")
    assert config.hidden_sizes[-1] == config.stage_out_channels[-1]
    assert tiny_config("mimi").upsample_groups == tiny_config("mimi").hidden_size
