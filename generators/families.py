"""Architecture families, derived from transformers' own auto mappings.

No architecture list is kept here: a model type belongs to the first family
whose rule names an auto mapping that contains it (and none of the rule's
excluded mappings), so an architecture added to transformers is picked up
without a code change. Types of the base mapping that no task mapping holds
(sub-towers such as ``clip_vision_model``, codecs, time-series backbones) go
by the main input their base class declares (``main_input_name``), i.e. by
modality.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from dataclasses import dataclass

#: what a generated module tests: forward passes, every check, or timings
TEST_TYPES: tuple[str, ...] = ("basic", "comprehensive", "benchmark")

FAMILIES: tuple[str, ...] = (
    "encoder-only",
    "decoder-only",
    "encoder-decoder",
    "vision",
    "speech",
    "vision-text",
    "multimodal",
    "detection",
    "time-series",
    "audio",
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


_DETECTION = (
    ("MODEL_FOR_OBJECT_DETECTION_MAPPING_NAMES", "AutoModelForObjectDetection"),
    ("MODEL_FOR_UNIVERSAL_SEGMENTATION_MAPPING_NAMES", "AutoModelForUniversalSegmentation"),
    ("MODEL_FOR_INSTANCE_SEGMENTATION_MAPPING_NAMES", "AutoModelForInstanceSegmentation"),
    ("MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES", "AutoModelForSemanticSegmentation"),
    ("MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES", "AutoModelForDepthEstimation"),
)


@dataclass(frozen=True)
class Rule:
    """``family`` holds the model types of ``mapping`` (less ``exclude``), built with ``auto_class``.

    A rule with ``main_inputs`` instead holds the base-mapping types that no
    earlier rule took and whose base class's ``main_input_name`` is one of them;
    one with ``outputs``, those whose base class's forward returns these fields.
    """

    family: str
    mapping: str
    auto_class: str
    exclude: tuple[str, ...] = ()
    main_inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()


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
    Rule("vision", "MODEL_FOR_VIDEO_CLASSIFICATION_MAPPING_NAMES", "AutoModelForVideoClassification", _MULTIMODAL),
    *(Rule("detection", m, auto, _MULTIMODAL) for m, auto in _DETECTION),
    Rule("vision", "MODEL_FOR_IMAGE_MAPPING_NAMES", "AutoModel", _MULTIMODAL),
    # bert & co. are also in the causal-LM mapping (BertLMHeadModel): masked LM wins
    Rule("encoder-only", "MODEL_FOR_MASKED_LM_MAPPING_NAMES", "AutoModel", _MULTIMODAL),
    *(
        Rule("encoder-only", m, "AutoModel", ("MODEL_FOR_CAUSAL_LM_MAPPING_NAMES", *_MULTIMODAL))
        for m in _TEXT_HEADS[1:]
    ),
    Rule("decoder-only", "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES", "AutoModelForCausalLM", _MULTIMODAL),
    Rule("multimodal", "MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES", "AutoModelForImageTextToText"),
    Rule("multimodal", "MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES", "AutoModelForMultimodalLM"),
    Rule("time-series", "MODEL_FOR_TIME_SERIES_PREDICTION_MAPPING_NAMES", "AutoModelForTimeSeriesPrediction"),
    Rule("time-series", "MODEL_FOR_TIME_SERIES_REGRESSION_MAPPING_NAMES", "AutoModel"),
    Rule("audio", "MODEL_FOR_AUDIO_TOKENIZATION_NAMES", "AutoModelForAudioTokenization"),
    Rule("audio", "MODEL_FOR_TEXT_TO_WAVEFORM_MAPPING_NAMES", "AutoModelForTextToWaveform"),
    Rule("audio", "MODEL_FOR_TEXT_TO_SPECTROGRAM_MAPPING_NAMES", "AutoModelForTextToSpectrogram"),
    # dual encoders that no mapping names (owlvit, groupvit): image-text similarity out
    Rule("vision-text", "MODEL_MAPPING_NAMES", "AutoModel", outputs=("logits_per_image", "logits_per_text")),
    # by modality: the main input of the base class (sub-towers, codecs, backbones)
    Rule("vision", "MODEL_MAPPING_NAMES", "AutoModel", main_inputs=("pixel_values", "pixel_values_videos")),
    Rule("speech", "MODEL_MAPPING_NAMES", "AutoModel", main_inputs=("input_features",)),
    Rule("audio", "MODEL_MAPPING_NAMES", "AutoModel", main_inputs=("input_values",)),
    Rule("time-series", "MODEL_MAPPING_NAMES", "AutoModel", main_inputs=("past_values",)),
    Rule("encoder-only", "MODEL_MAPPING_NAMES", "AutoModel", main_inputs=("input_ids",)),
)

#: the class a forced ``--family`` falls back to when no rule of it matches
FALLBACK_CLASS: dict[str, str] = {
    "encoder-only": "AutoModel",
    "decoder-only": "AutoModelForCausalLM",
    "encoder-decoder": "AutoModelForSeq2SeqLM",
    "vision": "AutoModel",
    "speech": "AutoModel",
    "vision-text": "AutoModel",
    "multimodal": "AutoModelForImageTextToText",
    "detection": "AutoModelForObjectDetection",
    "time-series": "AutoModel",
    "audio": "AutoModel",
}

#: families whose models ``generate`` text
GENERATIVE: frozenset[str] = frozenset({"decoder-only", "encoder-decoder", "multimodal"})


class FamilyError(ValueError):
    """A model type belongs to no family (or not to the one asked for)."""


def _mapping(name: str) -> dict[str, str]:
    from transformers.models.auto import modeling_auto

    return getattr(modeling_auto, name, {})


def main_input_name(model_type: str) -> str | None:
    """The ``main_input_name`` of the base-mapping class of ``model_type`` (imports its module).

    A vision tower that keeps its parent's main input (``input_ids``) but whose forward takes
    an image (or patches with a ``grid_thw``) counts as ``pixel_values``."""
    cls = _base_class(model_type)
    if cls is None:  # a model whose module needs what is not installed: no modality known
        return None
    declared = getattr(cls, "main_input_name", None)
    try:
        takes = list(inspect.signature(cls.forward).parameters)[1:]
    except (TypeError, ValueError):  # no inspectable forward: trust the declaration
        return declared
    if declared not in takes and takes and (takes[0] == "pixel_values" or "grid_thw" in takes):
        return "pixel_values"
    return declared


def output_fields(cls: type) -> set[str]:
    """The fields of the output class ``cls.forward`` is annotated to return (empty when unknown)."""
    try:
        returned = typing.get_type_hints(cls.forward).get("return")
    except Exception:  # an annotation that does not resolve: nothing known
        return set()
    kinds = typing.get_args(returned) or (returned,)
    return {f.name for kind in kinds if dataclasses.is_dataclass(kind) for f in dataclasses.fields(kind)}


def _base_class(model_type: str) -> type | None:
    import transformers

    name = _mapping("MODEL_MAPPING_NAMES").get(model_type)
    name = name[0] if isinstance(name, tuple | list) else name
    try:
        return getattr(transformers, name)
    except Exception:  # a model whose module needs what is not installed
        return None


def _holds(rule: Rule, model_type: str) -> bool:
    if model_type not in _mapping(rule.mapping) or any(model_type in _mapping(x) for x in rule.exclude):
        return False
    if rule.outputs:
        return set(rule.outputs) <= output_fields(_base_class(model_type))
    return not rule.main_inputs or main_input_name(model_type) in rule.main_inputs


def classify(model_type: str) -> tuple[str, str] | None:
    """``(family, auto class)`` of a model type, or ``None`` when no rule matches."""
    for rule in RULES:
        if _holds(rule, model_type):
            return rule.family, rule.auto_class
    return None


def auto_class_for(model_type: str, family: str) -> str:
    """The auto class that builds ``model_type`` as a member of ``family`` (forced or not)."""
    if family not in FAMILIES:
        raise FamilyError(f"unknown family {family!r}; choose one of: {', '.join(FAMILIES)}")
    for rule in RULES:
        if rule.family == family and _holds(rule, model_type):
            return rule.auto_class
    return FALLBACK_CLASS[family]


def family_of(model_type: str) -> tuple[str, str]:
    """``(family, auto class)``; raises `FamilyError` saying which mappings were consulted."""
    found = classify(model_type)
    if found is None:
        consulted = ", ".join(dict.fromkeys(_short(r.mapping) for r in RULES if not r.main_inputs))
        raise FamilyError(
            f"model type {model_type!r} is in none of transformers' auto mappings that define "
            f"the families ({consulted}), and its main input says no modality; "
            f"pass --family to choose one of: {', '.join(FAMILIES)}"
        )
    return found


def _short(mapping: str) -> str:
    """``MODEL_FOR_CAUSAL_LM_MAPPING_NAMES`` -> ``causal lm``."""
    return mapping.removeprefix("MODEL_FOR_").removesuffix("_NAMES").removesuffix("_MAPPING").replace("_", " ").lower()


def known_model_types() -> dict[str, list[str]]:
    """Family -> sorted model types of transformers' base model mapping."""
    base = _mapping("MODEL_MAPPING_NAMES")
    out: dict[str, list[str]] = {f: [] for f in FAMILIES}
    for model_type in base:
        found = classify(model_type)
        if found is not None:
            out[found[0]].append(model_type)
    return {f: sorted(v) for f, v in out.items()}
