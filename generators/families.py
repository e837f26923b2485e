"""Architecture families, derived from transformers' own auto mappings.

No architecture list is kept here: a model type belongs to the first family
whose rule names an auto mapping that contains it (and none of the rule's
excluded mappings), so an architecture added to transformers is picked up
without a code change.
"""

from __future__ import annotations

from dataclasses import dataclass

FAMILIES: tuple[str, ...] = (
    "encoder-only",
    "decoder-only",
    "encoder-decoder",
    "vision",
    "speech",
    "vision-text",
)

#: chat/multimodal LMs mix an image or audio tower into a decoder; they are
#: none of the six families (a user may still force one with ``--family``)
_MULTIMODAL = (
    "MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES",
    "MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES",
)
_TEXT_HEADS = (
    "MODEL_FOR_MASKED_LM_MAPPING_NAMES",
    "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES",
    "MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES",
    "MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES",
    "MODEL_FOR_TEXT_ENCODING_MAPPING_NAMES",
)


@dataclass(frozen=True)
class Rule:
    """``family`` holds the model types of ``mapping`` (less ``exclude``), built with ``auto_class``."""

    family: str
    mapping: str
    auto_class: str
    exclude: tuple[str, ...] = ()


#: In precedence order: the first rule that matches decides.
RULES: tuple[Rule, ...] = (
    Rule("vision-text", "MODEL_FOR_ZERO_SHOT_IMAGE_CLASSIFICATION_MAPPING_NAMES", "AutoModel"),
    Rule("speech", "MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES", "AutoModelForSpeechSeq2Seq"),
    Rule("speech", "MODEL_FOR_CTC_MAPPING_NAMES", "AutoModelForCTC"),
    Rule("speech", "MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES", "AutoModelForAudioClassification"),
    Rule("speech", "MODEL_FOR_AUDIO_XVECTOR_MAPPING_NAMES", "AutoModelForAudioXVector"),
    Rule("speech", "MODEL_FOR_AUDIO_FRAME_CLASSIFICATION_MAPPING_NAMES", "AutoModelForAudioFrameClassification"),
    Rule("encoder-decoder", "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES", "AutoModelForSeq2SeqLM"),
    Rule("vision", "MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES", "AutoModelForImageClassification", _MULTIMODAL),
    Rule("vision", "MODEL_FOR_IMAGE_MAPPING_NAMES", "AutoModel", _MULTIMODAL),
    # bert & co. are also in the causal-LM mapping (BertLMHeadModel): masked LM wins
    Rule("encoder-only", "MODEL_FOR_MASKED_LM_MAPPING_NAMES", "AutoModel", _MULTIMODAL),
    *(
        Rule("encoder-only", m, "AutoModel", ("MODEL_FOR_CAUSAL_LM_MAPPING_NAMES", *_MULTIMODAL))
        for m in _TEXT_HEADS[1:]
    ),
    Rule("decoder-only", "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES", "AutoModelForCausalLM", _MULTIMODAL),
)

#: the class a forced ``--family`` falls back to when no rule of it matches
FALLBACK_CLASS: dict[str, str] = {
    "encoder-only": "AutoModel",
    "decoder-only": "AutoModelForCausalLM",
    "encoder-decoder": "AutoModelForSeq2SeqLM",
    "vision": "AutoModel",
    "speech": "AutoModel",
    "vision-text": "AutoModel",
}

#: families whose models ``generate`` text
GENERATIVE: frozenset[str] = frozenset({"decoder-only", "encoder-decoder"})


class FamilyError(ValueError):
    """A model type belongs to no family (or not to the one asked for)."""


def _mapping(name: str) -> dict[str, str]:
    from transformers.models.auto import modeling_auto

    return getattr(modeling_auto, name, {})


def classify(model_type: str) -> tuple[str, str] | None:
    """``(family, auto class)`` of a model type, or ``None`` when no rule matches."""
    for rule in RULES:
        if model_type in _mapping(rule.mapping) and not any(
            model_type in _mapping(x) for x in rule.exclude
        ):
            return rule.family, rule.auto_class
    return None


def auto_class_for(model_type: str, family: str) -> str:
    """The auto class that builds ``model_type`` as a member of ``family`` (forced or not)."""
    if family not in FAMILIES:
        raise FamilyError(f"unknown family {family!r}; choose one of: {', '.join(FAMILIES)}")
    for rule in RULES:
        if rule.family == family and model_type in _mapping(rule.mapping):
            return rule.auto_class
    return FALLBACK_CLASS[family]


def family_of(model_type: str) -> tuple[str, str]:
    """``(family, auto class)``; raises `FamilyError` saying which mappings were consulted."""
    found = classify(model_type)
    if found is None:
        consulted = ", ".join(dict.fromkeys(_short(r.mapping) for r in RULES))
        raise FamilyError(
            f"model type {model_type!r} is in none of transformers' auto mappings that define "
            f"the families ({consulted}); pass --family to choose one of: {', '.join(FAMILIES)}"
        )
    return found


def _short(mapping: str) -> str:
    """``MODEL_FOR_CAUSAL_LM_MAPPING_NAMES`` -> ``causal lm``."""
    return mapping.removeprefix("MODEL_FOR_").removesuffix("_MAPPING_NAMES").replace("_", " ").lower()


def known_model_types() -> dict[str, list[str]]:
    """Family -> sorted model types of transformers' base model mapping."""
    base = _mapping("MODEL_MAPPING_NAMES")
    out: dict[str, list[str]] = {f: [] for f in FAMILIES}
    for model_type in base:
        found = classify(model_type)
        if found is not None:
            out[found[0]].append(model_type)
    return {f: sorted(v) for f, v in out.items()}
