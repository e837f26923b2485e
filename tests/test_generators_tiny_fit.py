"""Tiny configurations keep the relations their default configurations hold (``generators.tiny_fit``)."""

from __future__ import annotations

import pytest

from generators.families import classify
from generators.tiny import LAYERS, tiny_config
from generators.tiny_fit import fit


def test_experts_per_token_stay_within_the_experts():
    config = tiny_config("ernie4_5_moe")  # default: 6 of 64 experts per token
    assert 0 < config.num_experts_per_tok <= config.num_experts


def test_routing_left_to_the_checkpoint_gets_a_few_experts():
    config = tiny_config("deepseek_v2")  # default: num_experts_per_tok None
    assert 0 < config.num_experts_per_tok <= config.n_routed_experts


def test_a_head_width_that_is_a_sum_stays_that_sum():
    config = tiny_config("longcat_flash")  # qk_head_dim = qk_nope_head_dim + qk_rope_head_dim
    assert config.qk_head_dim == config.qk_nope_head_dim + config.qk_rope_head_dim


@pytest.mark.parametrize(
    ("model_type", "attribute"),
    [("bamba", "layers_block_type"), ("granitemoehybrid", "layer_types"), ("recurrent_gemma", "layers_block_type"),
     ("jamba", "layer_types")],
)
def test_hybrid_stacks_keep_an_attention_layer(model_type, attribute):
    kinds = getattr(tiny_config(model_type), attribute)
    assert any("attention" in kind and kind != "linear_attention" for kind in kinds), kinds


@pytest.mark.parametrize("model_type", ["esmc", "gemma4_text", "neomme", "embedding_gemma2_text"])
def test_configs_rejected_before_now_build(model_type):
    # validators (esmc, neomme) and per-layer configs that refuse global reads (gemma4, embedding_gemma2)
    assert tiny_config(model_type).model_type == model_type


def test_multi_head_attention_stays_multi_head():
    config = tiny_config("esmc")  # validated: no grouped-query attention
    assert config.num_key_value_heads == config.num_attention_heads


def test_a_share_of_the_layers_shrinks_with_the_stack():
    default = {"num_hidden_layers": 35, "num_kv_shared_layers": 15}
    shrunk = {"num_hidden_layers": LAYERS, "num_kv_shared_layers": 15}
    fit(default, shrunk, LAYERS)
    assert shrunk["num_kv_shared_layers"] == 15 * LAYERS // 35


def test_period_and_offset_fall_inside_the_tiny_stack():
    default = {"num_hidden_layers": 32, "attn_layer_period": 8, "attn_layer_offset": 4}
    shrunk = {**default, "num_hidden_layers": LAYERS}
    fit(default, shrunk, LAYERS)
    assert shrunk["attn_layer_offset"] < LAYERS and shrunk["attn_layer_period"] <= LAYERS


def test_width_splits_and_default_choices():
    default = {"hidden_size": 256, "axial_pos_embds_dim": [64, 192], "default_language": None, "languages": ["en_XX"]}
    shrunk = {**default, "hidden_size": 32}
    fit(default, shrunk, LAYERS)
    assert shrunk["axial_pos_embds_dim"] == [8, 24]
    assert shrunk["default_language"] == "en_XX"


def test_dual_encoders_no_mapping_names_are_vision_text():
    assert classify("owlvit")[0] == "vision-text"
    assert classify("bert")[0] == "encoder-only"


def test_an_encoder_returning_only_its_pooled_vector_is_checked_on_it():
    from generators.plan import plan
    from generators.resolve import resolve

    assert plan(resolve("dpr")).get("POOLED_ONLY") is True
    assert "POOLED_ONLY" not in plan(resolve("bert"))


def test_the_context_holds_the_label_window():
    shrunk = {"context_length": None, "prediction_length": 8, "label_length": 10}
    fit(dict(shrunk), shrunk, LAYERS)
    assert shrunk["context_length"] == 10


def test_a_sub_config_width_follows_the_sub_config_it_names():
    # validated: head_config.audio_hidden_size == audio_config.hidden_size (rejected before)
    assert tiny_config("nemo_speechlm").model_type == "nemo_speechlm"


def test_head_dim_follows_the_qk_head_sum_it_equals_in_the_default():
    config = tiny_config("mistral4")  # head_dim == qk_head_dim; the rotary factor is read off head_dim
    assert config.head_dim == config.qk_head_dim == config.qk_nope_head_dim + config.qk_rope_head_dim
    assert int(config.head_dim * config.rope_parameters["partial_rotary_factor"]) == config.qk_rope_head_dim


def test_vision_language_text_configs_get_mrope_sections_for_the_tiny_head():
    text = tiny_config("paddleocr_vl").text_config  # reads mrope_section without declaring it
    assert sum(text.rope_parameters["mrope_section"]) == text.head_dim // 2


def test_a_count_of_list_entries_is_not_shrunk_as_a_share_of_the_stack():
    config = tiny_config("wav2vec2")  # num_feat_extract_layers == len(conv_dim), not a share of the layers
    assert config.num_feat_extract_layers == len(config.conv_dim) == len(config.conv_kernel)
