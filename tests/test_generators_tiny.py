"""Tiny configurations, rendering and the ``ipfs-accel generate/models`` commands."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from generators.render import module_filename, py_literal, render
from generators.resolve import resolve
from generators.tiny import tiny_config, tiny_config_overrides
from pytest_ipfs_accel import cli


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_tiny_bert_is_tiny_and_rebuilds_from_its_overrides():
    from transformers import AutoConfig

    config = tiny_config("bert")
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (32, 2, 4)
    assert config.vocab_size <= 1000 and config.intermediate_size <= 64
    rebuilt = AutoConfig.for_model("bert", **tiny_config_overrides("bert"))
    assert rebuilt.to_dict() == config.to_dict()


def test_sub_configs_are_shrunk_recursively():
    config = tiny_config("clip")
    for sub in (config.text_config, config.vision_config):
        assert sub.hidden_size == 32 and sub.num_hidden_layers == 2
    assert config.vision_config.image_size <= 32


def test_special_token_ids_fit_the_tiny_vocabulary():
    config = tiny_config("gpt2")  # gpt2's default eos/bos is 50256
    assert config.vocab_size < 1000
    assert config.eos_token_id < config.vocab_size and config.bos_token_id < config.vocab_size


def test_hybrid_models_keep_every_layer_type():
    from transformers import AutoConfig

    default = AutoConfig.for_model("qwen3_next")
    tiny = tiny_config("qwen3_next")
    assert set(tiny.layer_types) == set(default.layer_types)
    assert len(tiny.layer_types) == tiny.num_hidden_layers <= 3


@pytest.mark.parametrize("model_type", ["bert", "gpt2", "t5", "vit", "whisper", "clip", "llama"])
def test_tiny_models_are_small(model_type):
    from transformers import AutoModel

    model = AutoModel.from_config(tiny_config(model_type))
    assert _params(model) < 500_000


def test_py_literal_is_valid_python():
    value = {"a": [1, 2.5, None, True], "b": {"c": "x'y"}, "inf": math.inf, "t": (1,)}
    assert eval(py_literal(value)) == value  # noqa: S307 - the point is that it evaluates


def test_rendered_module_declares_its_model_and_uses_ipfs_hw():
    spec = resolve("distilgpt2")
    source = render(spec, "comprehensive")
    assert 'MODEL_REF = "distilgpt2"' in source
    assert "pytestmark = [pytest.mark.ipfs_model(MODEL_REF)]" in source
    assert "ipfs_hw.prepare(model, inputs, precision=precision)" in source  # through the backend's runtime
    assert "torch_device" not in source  # nothing in a module names a backend
    assert "test_greedy_decoding_matches_torch_generate" in source
    assert module_filename(spec, "comprehensive") == "test_distilgpt2_comprehensive.py"
    assert module_filename(spec, "basic") == "test_distilgpt2.py"


def test_benchmark_module_sweeps_with_readable_ids():
    source = render(resolve("gpt2"), "benchmark")
    assert 'id=f"b{batch_size}-s{size}-{dtype}"' in source
    for kind in ('kind="forward"', 'kind="ttft"', 'kind="decode"'):
        assert kind in source
    assert "min_new_tokens=new_tokens" in source


def test_unknown_test_type_is_rejected():
    with pytest.raises(ValueError, match="unknown test type 'smoke'"):
        render(resolve("bert"), "smoke")


def test_generate_command_writes_refuses_and_forces(tmp_path, capsys):
    assert cli.main(["generate", "bert", "vit", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_bert.py", "test_vit.py"]
    assert "wrote" in capsys.readouterr().out

    (tmp_path / "test_bert.py").write_text("# edited by hand\n")
    assert cli.main(["generate", "bert", "--out", str(tmp_path)]) == 1
    assert "exists; pass --force" in capsys.readouterr().err
    assert (tmp_path / "test_bert.py").read_text() == "# edited by hand\n"

    assert cli.main(["generate", "bert", "--out", str(tmp_path), "--force"]) == 0
    assert "MODEL_REF" in (tmp_path / "test_bert.py").read_text()


def test_generate_reports_each_failure_and_keeps_going(tmp_path, capsys):
    code = cli.main(
        ["generate", "nobody/none", "t5", "decision_transformer", "--test-type", "comprehensive", "--out", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert (tmp_path / "test_t5_comprehensive.py").is_file()
    assert "nobody/none: cannot resolve" in err and "decision_transformer: model type 'decision_transformer'" in err
    assert "2 of 3 models failed" in err


def test_generate_with_forced_family(tmp_path):
    assert cli.main(["generate", "bert", "--family", "decoder-only", "--out", str(tmp_path)]) == 0
    assert "AutoModelForCausalLM" in (tmp_path / "test_bert.py").read_text()


def test_models_command_json(capsys):
    assert cli.main(["models", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "whisper" in data["families"]["speech"]
    assert data["model_ids"]["distilgpt2"] == "gpt2"


def test_models_command_text_and_bad_family(capsys):
    assert cli.main(["models", "--family", "vision-text"]) == 0
    assert "clip" in capsys.readouterr().out
    assert cli.main(["models", "--family", "nope"]) == 2
    assert "unknown family 'nope'" in capsys.readouterr().err


def test_full_size_modules_use_the_default_configuration(tmp_path):
    assert cli.main(["generate", "bert", "--full-size", "--test-type", "benchmark", "--out", str(tmp_path)]) == 0
    source = (tmp_path / "test_bert_benchmark.py").read_text()
    assert "CONFIG_OVERRIDES = {}" in source and "HIDDEN_SIZE = 768" in source
    # realistic sizes for a realistic model
    assert 'sweep_sizes("IPFS_ACCEL_BENCH_SEQ_LENS", [128, 512])' in source
    assert 'sweep_sizes("IPFS_ACCEL_BENCH_BATCH_SIZES", [1, 8])' in source


def test_coverage_script_runs_generated_code(tmp_path):
    repo = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "benchmarks/model_coverage.py", "--jobs", "1", "--only", "bert", "decision_transformer",
         "--out", str(tmp_path), "--json", str(tmp_path / "r.json")],
        capture_output=True, text=True, cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "1 of 2 model types pass" in out.stdout
    results = {r["model_type"]: r for r in json.loads((tmp_path / "r.json").read_text())}
    assert results["bert"]["ok"] and results["bert"]["family"] == "encoder-only"
    failed = results["decision_transformer"]
    assert failed["stage"] == "resolve" and "FamilyError" in failed["reason"] and failed["cause"] == "generator"
    assert "1 cpu failures by cause: {'generator': 1}" in out.stdout
    assert (tmp_path / "test_bert.py").is_file()


def test_coverage_tells_model_behaviour_from_the_generators_failures():
    """A model whose forward is not deterministic fails for its own reasons, not the generator's."""
    import importlib.util
    import types

    import torch

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "model_coverage.py"
    spec = importlib.util.spec_from_file_location("model_coverage", path)
    coverage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(coverage)

    def module(noise: float):
        return types.SimpleNamespace(
            build_model=lambda: torch.nn.Identity(),
            make_inputs=lambda: {"x": torch.ones(2)},
            reference=lambda model, inputs: {"out": inputs["x"] + noise * torch.rand(2)},
        )

    mismatch = AssertionError("out: tensors are not close")
    for noise, cause in ((1.0, "model"), (0.0, "generator")):
        result = {"stage": "forward", "_module": module(noise), "reason": "AssertionError: not close"}
        assert coverage._cause(mismatch, result) == cause
        assert ("not deterministic" in result["reason"]) == (cause == "model")
    missing = ImportError("X requires the natten library but it was not found")
    assert coverage._cause(missing, {"stage": "build"}) == "environment"


@pytest.mark.parametrize("model_type", ["mamba2", "bamba"])
def test_tiny_state_space_configs_pass_their_own_validation(model_type):
    """Heads x head size must tile the expanded width; the shrunk sizes are made to."""
    config = tiny_config(model_type)
    assert config.hidden_size <= 32


def test_text_token_range_avoids_special_tokens():
    from generators.plan import text_token_range

    config = {"pad_token_id": 0, "bos_token_id": 1, "text_config": {"image_token_id": 98, "eos_token_id": 2}}
    assert text_token_range(config, 99) == [3, 98]
