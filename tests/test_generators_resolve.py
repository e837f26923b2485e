"""Model resolution and families: model types, ids, checkpoint dirs, the HF cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generators.families import FAMILIES, FamilyError, classify, family_of, known_model_types
from generators.resolve import NAME_TABLE, ResolveError, module_name, resolve


@pytest.mark.parametrize(
    ("model_type", "family", "auto_class"),
    [
        ("bert", "encoder-only", "AutoModel"),  # also in the causal-LM mapping: masked LM wins
        ("gpt2", "decoder-only", "AutoModelForCausalLM"),
        ("llama", "decoder-only", "AutoModelForCausalLM"),
        ("t5", "encoder-decoder", "AutoModelForSeq2SeqLM"),
        ("bart", "encoder-decoder", "AutoModelForSeq2SeqLM"),
        ("vit", "vision", "AutoModelForImageClassification"),
        ("whisper", "speech", "AutoModelForSpeechSeq2Seq"),
        ("wav2vec2", "speech", "AutoModelForCTC"),
        ("clip", "vision-text", "AutoModel"),
        ("llava", "multimodal", "AutoModelForImageTextToText"),
        ("gemma3", "multimodal", "AutoModelForImageTextToText"),  # also a causal LM: images win
        ("detr", "detection", "AutoModelForObjectDetection"),
        ("mask2former", "detection", "AutoModelForUniversalSegmentation"),
        ("glpn", "detection", "AutoModelForDepthEstimation"),
        ("vjepa2", "vision", "AutoModelForVideoClassification"),
        ("timesfm", "time-series", "AutoModelForTimeSeriesPrediction"),
        ("patchtst", "time-series", "AutoModel"),
        ("dac", "audio", "AutoModelForAudioTokenization"),
        ("vits", "audio", "AutoModelForTextToWaveform"),
        # in no task mapping: by the main input of their base class
        ("clip_vision_model", "vision", "AutoModel"),
        ("qwen2_audio_encoder", "speech", "AutoModel"),
        ("encodec", "audio", "AutoModel"),
        ("informer", "time-series", "AutoModel"),
        ("qwen2_vl_text", "encoder-only", "AutoModel"),
        # vision towers whose class keeps main_input_name="input_ids" but takes pixels or patches
        ("qwen2_5_vl_vision", "vision", "AutoModel"),
        ("gemma4_vision", "vision", "AutoModel"),
        ("idefics3_vision", "vision", "AutoModel"),
    ],
)
def test_family_comes_from_the_auto_mappings(model_type, family, auto_class):
    assert classify(model_type) == (family, auto_class)


def test_a_new_architecture_is_classified_without_code_changes(monkeypatch):
    from transformers.models.auto import modeling_auto

    monkeypatch.setitem(modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, "brand_new", "BrandNewForCausalLM")
    assert classify("brand_new") == ("decoder-only", "AutoModelForCausalLM")
    monkeypatch.setitem(modeling_auto.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES, "brand_new_vl", "X")
    assert classify("brand_new_vl") == ("multimodal", "AutoModelForImageTextToText")


def test_known_model_types_cover_every_family():
    known = known_model_types()
    assert set(known) == set(FAMILIES)
    assert all(known[f] for f in FAMILIES)
    assert "bert" in known["encoder-only"] and "clip" in known["vision-text"]
    assert "llava" in known["multimodal"] and "rt_detr" in known["detection"]
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    # nearly every base type has a family now (the rest take no text, image, audio or series)
    assert sum(map(len, known.values())) >= 0.95 * len(MODEL_MAPPING_NAMES)


def test_a_type_outside_every_family_says_what_was_consulted():
    # a decision transformer takes states: no modality the families know
    with pytest.raises(FamilyError, match=r"'decision_transformer' is in none of .*causal lm.*main input.*--family"):
        family_of("decision_transformer")


def test_model_type_reference():
    spec = resolve("bert")
    assert (spec.model_type, spec.family, spec.checkpoint, spec.name) == ("bert", "encoder-only", None, "bert")
    assert spec.source == "transformers model type"


@pytest.mark.parametrize(
    ("reference", "model_type", "name"),
    [
        ("google-bert/bert-base-uncased", "bert", "bert_base_uncased"),
        ("openai/clip-vit-base-patch32", "clip", "clip_vit_base_patch32"),
        ("distilgpt2", "gpt2", "distilgpt2"),
    ],
)
def test_model_ids_from_the_name_table(reference, model_type, name):
    spec = resolve(reference)
    assert (spec.model_type, spec.name, spec.source) == (model_type, name, "name table")


def test_name_table_entries_are_known_model_types():
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    assert set(NAME_TABLE.values()) <= set(CONFIG_MAPPING_NAMES)


def test_checkpoint_directory_reads_its_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "t5"}))
    (tmp_path / "tokenizer.json").write_text("{}")
    spec = resolve(str(tmp_path))
    assert spec.model_type == "t5" and spec.family == "encoder-decoder"
    assert spec.checkpoint == str(tmp_path.resolve())
    assert spec.has_tokenizer


def test_checkpoint_directory_without_config_is_an_error(tmp_path):
    with pytest.raises(ResolveError, match="has no config.json"):
        resolve(str(tmp_path))


def test_checkpoint_config_without_model_type_is_an_error(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 3}))
    with pytest.raises(ResolveError, match="no 'model_type'"):
        resolve(str(tmp_path))


def test_offline_hf_cache_config_wins_over_the_name_table(tmp_path, monkeypatch):
    from huggingface_hub import constants

    # the layout huggingface_hub writes: refs/main names the snapshot
    repo = tmp_path / "models--someone--tiny-model"
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    (snapshot / "config.json").write_text(json.dumps({"model_type": "roberta"}))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    spec = resolve("someone/tiny-model")
    assert spec.model_type == "roberta"
    assert "HF cache" in spec.source
    assert spec.checkpoint is None  # config only, no weights: a tiny config is used
    (snapshot / "model.safetensors").write_bytes(b"")
    assert resolve("someone/tiny-model").checkpoint == str(snapshot)


def test_unresolvable_reference_says_what_was_tried(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ResolveError) as info:
        resolve("nobody/nothing-here")
    message = str(info.value)
    for tried in ("not a directory", "not a transformers model type", "HF cache", "name table"):
        assert tried in message


def test_forced_family():
    spec = resolve("bert", family="decoder-only")
    assert (spec.family, spec.auto_class) == ("decoder-only", "AutoModelForCausalLM")
    with pytest.raises(FamilyError, match="unknown family"):
        resolve("bert", family="quantum")


@pytest.mark.parametrize(
    ("reference", "name"),
    [("bert", "bert"), ("/x/My-Checkpoint/", "my_checkpoint"), ("org/2b-model", "m_2b_model")],
)
def test_module_names_are_identifiers(reference, name):
    assert module_name(reference) == name


def test_importing_the_generators_imports_no_torch():
    import subprocess
    import sys

    code = (
        "import sys, generators, generators.render, generators.generate, "
        "pytest_ipfs_accel.commands.generate, pytest_ipfs_accel.commands.models; "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    repo = str(Path(__file__).resolve().parent.parent)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo
    )
    assert out.stdout.strip() == "[]"


def test_models_cached_lists_each_entry_and_says_why_one_does_not_resolve(tmp_path, monkeypatch, capsys):
    from huggingface_hub import constants

    from pytest_ipfs_accel import cli

    for repo_id, config in (("someone/tiny-bert", {"model_type": "bert"}),
                            ("someone/odd", {"model_type": "no_such_architecture"})):
        repo = tmp_path / ("models--" + repo_id.replace("/", "--"))
        (repo / "snapshots" / "abc").mkdir(parents=True)
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text("abc")
        (repo / "snapshots" / "abc" / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    assert cli.main(["models", "--cached"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("2 model repositories")
    assert "someone/tiny-bert: bert (encoder-only, AutoModel) -> config only (no weights)" in lines[2]
    assert lines[1].startswith("  someone/odd: does not resolve:") and "no_such_architecture" in lines[1]
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "absent"))
    assert cli.main(["models", "--cached"]) == 0
    assert "0 model repositories" in capsys.readouterr().out
