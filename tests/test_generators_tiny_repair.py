"""Tiny configurations transformers' own validation rejected, repaired from the default's relations."""

from __future__ import annotations

import pytest

from generators.tiny import TinyConfigError, tiny_config
from generators.tiny_repair import named_fields, repair


def test_a_sub_config_width_the_default_ties_to_the_backbone_follows_it():
    # flow_head_config.condition_dim == hidden_size in the default; transformers validates it
    config = tiny_config("pocket_tts")
    assert config.hidden_size <= 32
    assert config.flow_head_config.condition_dim == config.hidden_size


def test_widths_a_message_does_not_name_follow_the_shrunk_hidden_size():
    # "vision adapter output width must match the text hidden size" names no field
    config = tiny_config("dots3_note")
    assert config.vision_config.adapter_in_dim == config.vision_config.hidden_size
    assert config.audio_config.adapter_input_size == config.audio_config.hidden_size
    assert config.vision_config.adapter_out_dim == config.text_config.hidden_size <= 32


def test_a_ratio_between_sub_configs_is_kept():
    config = tiny_config("fun_asr_nano")  # adaptor intermediate_size == text hidden_size // 4
    assert config.adaptor_config.intermediate_size == config.text_config.hidden_size // 4


def test_a_size_that_must_tile_grows_back_only_as_far_as_needed():
    config = tiny_config("lw_detr")  # image_size / num_windows must tile in sqrt(num_windows) rows
    backbone = config.backbone_config
    assert 32 < backbone.image_size < 1024
    assert (backbone.image_size // backbone.num_windows) % int(backbone.num_windows**0.5) == 0


def test_rope_declared_per_layer_type_gets_its_mrope_sections_per_layer_type():
    config = tiny_config("cohere_compass_text")
    half = config.head_dim // 2
    for layer_type in set(config.layer_types):
        assert sum(config.rope_parameters[layer_type]["mrope_section"]) == half


def test_named_fields_resolve_sub_config_paths_and_bare_names():
    default = {"hidden_size": 64, "text_config": {"model_type": "t", "hidden_size": 64, "vocab_size": 10}}
    assert named_fields("`text_config.vocab_size` (10) too small", default) == [("text_config", "vocab_size")]
    assert named_fields("hidden_size must match", default) == [("hidden_size",), ("text_config", "hidden_size")]
    assert named_fields("nothing named here", default) == []


def test_named_depths_that_sum_to_the_stack_get_a_layer_each():
    default = {"num_hidden_layers": 12, "n_input_layers": 2, "n_middle_layers": 8, "n_output_layers": 2}
    shrunk = {"num_hidden_layers": 2, "n_input_layers": 0, "n_middle_layers": 1, "n_output_layers": 0}

    def check(candidate):
        parts = candidate["n_input_layers"] + candidate["n_middle_layers"] + candidate["n_output_layers"]
        if min(candidate.values()) < 1 or parts != candidate["num_hidden_layers"]:
            raise ValueError("n_input_layers + n_middle_layers + n_output_layers must equal num_hidden_layers")

    error = ValueError("n_input_layers + n_middle_layers + n_output_layers must equal num_hidden_layers")
    fixed = repair(default, shrunk, check, error)
    assert fixed == {"num_hidden_layers": 3, "n_input_layers": 1, "n_middle_layers": 1, "n_output_layers": 1}


def test_an_unrepairable_config_raises_the_original_error():
    def check(candidate):
        raise ValueError("always wrong")

    error = ValueError("hidden_size is wrong")
    with pytest.raises(ValueError, match="hidden_size is wrong"):
        repair({"hidden_size": 64}, {"hidden_size": 32}, check, error)


def test_a_type_transformers_does_not_know_is_still_a_clear_error():
    with pytest.raises(TinyConfigError, match="no configuration"):
        tiny_config("no_such_model_type")
