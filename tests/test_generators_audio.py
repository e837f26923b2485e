"""Inputs and checks of the speech and audio families: feature widths, frames and masks, waveform
layouts (mono channel, spectrogram, semantic features beside the waveform, decoder latents),
transducer logits, and the vocabulary of a text-to-speech model wrapped with its vocoder."""

from __future__ import annotations

import pytest

from generators.inputs_codec import codec_layout
from generators.plan import AUDIO_SAMPLES, model_class, plan
from generators.resolve import resolve
from generators.tiny import tiny_config
from tests.generated_modules import basic_module


@pytest.fixture(scope="module")
def cpu():
    from hardware_markers import default_registry

    return default_registry().detect("cpu")


def test_transducer_logits_join_frames_and_positions_and_say_what_they_compare(tmp_path, cpu):
    module = basic_module("parakeet_tdt", tmp_path)
    assert module.NUM_DURATIONS == len(tiny_config("parakeet_tdt").durations)
    model = module.build_model()
    module.test_forward(model, cpu)  # (batch, frames, positions, vocab + durations)
    module.VOCAB_SIZE += 1  # a wrong expectation fails with both shapes in the message
    with pytest.raises(AssertionError, match=r"logits \(2, \d+, 8, 104\), expected .*\(2, \[frames,\] 8, 105\)"):
        module.test_forward(model, cpu)


def test_feature_widths_frames_and_masks_come_from_the_model():
    stacked = tiny_config("fun_asr_nano_encoder")
    assert plan(resolve("fun_asr_nano_encoder"))["FEATURE_SIZE"] == stacked.num_mel_bins * stacked.num_stacked_frames
    assert plan(resolve("gemma4_audio"))["FEATURE_SIZE"] == 128  # the width of gemma4's feature extractor
    chunked = plan(resolve("qwen3_asr_encoder"))
    assert chunked["AUDIO_LEN"] % (2 * tiny_config("qwen3_asr_encoder").n_window) == 0
    assert plan(resolve("audioflamingo3_encoder"))["FEATURE_MASKS"] == ["input_features_mask"]
    assert plan(resolve("whisper"))["FEATURE_MASKS"] == []  # an optional mask only where it is needed


def test_input_values_as_waveform_mono_channel_or_spectrogram(tmp_path, cpu):
    assert "AUDIO_CHANNELS_DIM" not in plan(resolve("wav2vec2"))
    assert plan(resolve("omniasr_ctc"))["AUDIO_CHANNELS_DIM"] is True
    config = tiny_config("audio-spectrogram-transformer")
    module = basic_module("audio-spectrogram-transformer", tmp_path)
    assert (module.SPECTROGRAM_BINS, module.AUDIO_LEN) == (config.num_mel_bins, config.max_length)
    module.test_forward(module.build_model(), cpu)


def test_codec_halves_take_their_own_argument_and_latents(tmp_path, cpu):
    assert plan(resolve("vibevoice_acoustic_tokenizer_encoder"))["AUDIO_ARGUMENT"] == "hidden_states"
    module = basic_module("vibevoice_acoustic_tokenizer_decoder", tmp_path)
    assert module.LATENT_CHANNELS == tiny_config("vibevoice_acoustic_tokenizer_decoder").hidden_size
    module.test_forward(module.build_model(), cpu)


def test_a_codec_no_layout_runs_says_why_for_each():
    spec = resolve("pe_audio_video_encoder")  # wants video frames beside the audio
    config = tiny_config(spec.model_type)
    with pytest.raises(ValueError, match=r"no waveform layout runs: \(2, 1, 8000\): .*; \(2, 8000\): "):
        codec_layout(model_class(spec, config), config, AUDIO_SAMPLES)


def test_text_to_speech_with_its_vocoder_reads_the_vocabulary_of_its_speech_model():
    config = tiny_config("fastspeech2_conformer_with_hifigan")
    assert plan(resolve("fastspeech2_conformer_with_hifigan"))["VOCAB_SIZE"] == config.model_config.vocab_size


def test_prompt_positions_holding_codebook_ids_get_them():
    config = tiny_config("kyutai_speech_to_text")
    constants = plan(resolve("kyutai_speech_to_text"))  # text alone, (B, L), does not run
    assert constants["ID_CODEBOOKS"] == config.num_codebooks + 1
    assert constants["TEXT_TOKEN_IDS"][1] <= config.codebook_vocab_size
    assert "ID_CODEBOOKS" not in plan(resolve("qwen2_audio"))  # runs on text alone
