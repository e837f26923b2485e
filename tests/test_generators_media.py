"""Input layouts of the media families that the generator finds by running the tiny model once:
vision towers taking patches and their grid, Qwen-VL images, conformer spectrograms, backbone stages."""

from __future__ import annotations

import pytest

from generators.plan import plan
from generators.resolve import resolve
from generators.tiny import tiny_config
from tests.generated_modules import basic_module


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


def test_a_tower_needing_an_optional_grid_gets_one():
    # minicpm's target_sizes is optional in the signature, but the tower cannot place its patches without it
    assert "target_sizes" in plan(resolve("minicpm_ocr_vision"))["AUX_INPUTS"]


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


def _run_forward(model_type: str, tmp_path) -> None:
    """Render the basic module of ``model_type``, import it and run its test_forward on the CPU."""
    from hardware_markers import default_registry

    module = basic_module(model_type, tmp_path)
    module.test_forward(module.build_model(), default_registry().detect("cpu"))


def test_encoders_needing_more_than_ids_get_their_inputs_from_signature_and_config(tmp_path):
    # lxmert: region features and their boxes, as wide as the config's visual_feat_dim / visual_pos_dim
    constants = plan(resolve("lxmert"))
    config = tiny_config("lxmert")
    assert constants["SIDE_INPUTS"] == {
        "visual_feats": ["normal", [4, config.visual_feat_dim]],
        "visual_pos": ["normal", [4, config.visual_pos_dim]],
    }
    assert constants["MAIN_OUTPUT"] == "language_output"  # no last_hidden_state: the first row-per-example output
    _run_forward("lxmert", tmp_path)
    # the q-former takes no token ids at all: its queries (a row per position) and the image states
    qformer = plan(resolve("blip_2_qformer"))
    assert qformer["TEXT_KEYS"] == ["attention_mask"] and set(qformer["SIDE_INPUTS"]) == {
        "query_embeds", "encoder_hidden_states"}
    # flava on text alone returns no last_hidden_state: its text embeddings are the main output
    assert plan(resolve("flava"))["MAIN_OUTPUT"] == "text_embeddings"
    assert "SIDE_INPUTS" not in plan(resolve("bert"))  # token ids alone: the text template as it was


def test_vision_models_get_prompts_pairs_and_pixel_ids():
    grounding = plan(resolve("grounding-dino"))  # a phrase to ground beside each image
    assert grounding["EXTRA_INPUTS"] == {"input_ids": "ids"} and grounding["TEXT_VOCAB"] == 99
    assert plan(resolve("lightglue"))["PAIRED"] is True  # a keypoint matcher: (B, 2, C, H, W)
    pixel_ids = plan(resolve("imagegpt"))  # a colour-cluster id per pixel, within its positions
    assert pixel_ids["PIXEL_INPUT"] == "input_ids" and pixel_ids["IMAGE_HEIGHT"] ** 2 <= 512
    task = plan(resolve("oneformer"))["TOKEN_INPUTS"]["task_inputs"]
    assert task == [tiny_config("oneformer").text_encoder_vocab_size, tiny_config("oneformer").task_seq_len]


def test_video_text_models_score_clips():
    from generators.render import render

    source = render(resolve("videoprism"), "basic")
    assert '"pixel_values_videos": pixels' in source and "logits_per_video" in source
