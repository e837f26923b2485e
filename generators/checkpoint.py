"""A tiny checkpoint directory made offline: model, config and its real preprocessors.

``save_tiny_checkpoint("bert", path)`` writes what ``from_pretrained`` needs
(weights, ``config.json``, ``tokenizer.json``, a speech model's feature
extractor, a vision model's image processor), so the generated modules'
checkpoint path -- real loading, real preprocessing -- can be tried without
downloading anything; ``save_to_hub_cache`` puts one where a model id resolves.
"""

from __future__ import annotations

from pathlib import Path

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]", "[MASK]")
#: words the tokenizer knows (the generated tests' sample texts use them)
WORDS = (
    "the quick brown fox jumps over lazy dog hello world a model test written by generator "
    "short sentence of words and more text to read"
).split()


def build_tokenizer():
    """A word-level ``PreTrainedTokenizerFast`` over `WORDS` (ids 0-4 are special tokens)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate((*SPECIAL_TOKENS, *dict.fromkeys(WORDS)))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="[PAD]",
        unk_token="[UNK]",
        bos_token="[BOS]",
        eos_token="[EOS]",
        mask_token="[MASK]",
    )


def save_tiny_checkpoint(model_type: str, path: str | Path, with_tokenizer: bool | None = None) -> Path:
    """Save a tiny random ``model_type`` model (and tokenizer, by default where it takes text) to ``path``."""
    import torch

    from generators.families import family_of
    from generators.plan import model_class
    from generators.resolve import ModelSpec
    from generators.tiny import tiny_config

    family, auto_class = family_of(model_type)
    config = tiny_config(model_type)
    if with_tokenizer is None:
        with_tokenizer = family not in ("vision", "detection", "time-series")
    if with_tokenizer:
        tokenizer = build_tokenizer()
        if len(tokenizer) > getattr(config, "vocab_size", 0):
            raise ValueError(f"the tokenizer's {len(tokenizer)} tokens exceed {model_type}'s vocabulary")
        # the model's special ids are the tokenizer's, as in a real checkpoint
        for name in ("pad", "bos", "eos"):
            if hasattr(config, f"{name}_token_id"):
                setattr(config, f"{name}_token_id", tokenizer.convert_tokens_to_ids(f"[{name.upper()}]"))
        if getattr(config, "is_encoder_decoder", False):
            config.decoder_start_token_id = tokenizer.bos_token_id
    spec = ModelSpec(model_type, model_type, family, auto_class, model_type)
    torch.manual_seed(0)
    model = model_class(spec, config)(config).eval()
    out = Path(path)
    model.save_pretrained(out)
    if with_tokenizer:
        tokenizer.save_pretrained(out)
    if family == "speech":
        build_feature_extractor(model_type, config).save_pretrained(out)
    if family == "vision":
        build_image_processor(model_type, config).save_pretrained(out)
    return out


def save_to_hub_cache(model_type: str, repo_id: str, hub_dir: str | Path, revision: str = "0" * 40) -> Path:
    """A tiny checkpoint stored as ``huggingface_hub`` stores a download of ``repo_id``.

    ``hub_dir`` is the hub cache (``$HF_HOME/hub``): the files go to
    ``models--org--name/snapshots/<revision>/`` and ``refs/main`` names the
    revision, so ``from_pretrained(repo_id)`` finds them with ``HF_HUB_OFFLINE=1``.
    """
    repo = Path(hub_dir) / ("models--" + repo_id.replace("/", "--"))
    snapshot = save_tiny_checkpoint(model_type, repo / "snapshots" / revision)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot


def build_image_processor(model_type: str, config):
    """The model type's own image processor (its Pillow variant), sized to the config's images."""
    import transformers
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES

    from generators.plan import _image

    names = IMAGE_PROCESSOR_MAPPING_NAMES.get(model_type)
    name = names.get("pil") or next(iter(names.values())) if isinstance(names, dict) else names
    if name is None:
        raise ValueError(f"transformers has no image processor for {model_type!r}")
    size = _image(config)
    return getattr(transformers, name)(size={"height": size["IMAGE_HEIGHT"], "width": size["IMAGE_WIDTH"]})


def build_feature_extractor(model_type: str, config):
    """The model type's own feature extractor, sized to the (tiny) config."""
    import transformers
    from transformers.models.auto.feature_extraction_auto import FEATURE_EXTRACTOR_MAPPING_NAMES

    name = FEATURE_EXTRACTOR_MAPPING_NAMES.get(model_type)
    if name is None:
        raise ValueError(f"transformers has no feature extractor for {model_type!r}")
    kwargs = {}
    if getattr(config, "num_mel_bins", None):
        kwargs["feature_size"] = config.num_mel_bins
    return getattr(transformers, name)(**kwargs)
