"""Request bodies: the OpenAPI schema is the contract, so it is exact.

Requests forbid unknown fields, so a typo (``worker`` for ``workers``) is a
422 naming the field instead of a silently ignored option.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationInfo,
    field_validator,
)

from api_facade.web.schemas import Dtype, Executor, TestType
from hardware_markers.base import BACKENDS

#: model types, hub ids (org/name) and checkpoint folder names; no spaces, no leading '-'
MODEL_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,199}$"
HW_SPECIALS = ("auto", "all")


class RequestBody(BaseModel):
    """A request body: unknown fields are errors; shared checks apply to the fields present."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("hardware", check_fields=False)
    @classmethod
    def _hardware_names(cls, names: list[str]) -> list[str]:
        return _check_hardware(names)

    @field_validator("models", check_fields=False)
    @classmethod
    def _model_refs(cls, models: list[str]) -> list[str]:
        return _check_models(models)

    @field_validator("model", check_fields=False)
    @classmethod
    def _model_ref(cls, model: str) -> str:
        return _check_models([model])[0]

    @field_validator("batch_sizes", "seq_lens", check_fields=False)
    @classmethod
    def _shape_values(cls, values: list[int], info: ValidationInfo) -> list[int]:
        most = MAX_BATCH_SIZE if info.field_name == "batch_sizes" else MAX_SEQ_LEN
        bad = [v for v in values if not 1 <= v <= most]
        if bad:
            raise ValueError(f"each value must be between 1 and {most}; got {', '.join(map(str, bad))}")
        return sorted(set(values))


#: bounds of a benchmark shape: any batch size and sequence length within them may be asked for
MAX_BATCH_SIZE = 1024
MAX_SEQ_LEN = 16384


def _check_hardware(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in BACKENDS and n not in HW_SPECIALS]
    if unknown:
        raise ValueError(
            f"unknown backend(s) {', '.join(map(repr, unknown))}; valid: {', '.join((*HW_SPECIALS, *BACKENDS))}"
        )
    if any(n in HW_SPECIALS for n in names) and len(names) > 1:
        raise ValueError("'auto' and 'all' stand alone: give either one of them or a list of backends")
    return list(dict.fromkeys(names))


def _check_models(models: list[str]) -> list[str]:
    bad = [m for m in models if not re.match(MODEL_PATTERN, m) or ".." in m]
    if bad:
        raise ValueError(
            f"invalid model reference(s) {', '.join(map(repr, bad))}: use a model type (bert), "
            "a hub id (org/name) or a folder name, without spaces or '..'"
        )
    return list(dict.fromkeys(models))


class TestRunRequest(RequestBody):
    """Start a pytest run: targets under the suite root and/or models to generate tests for."""

    targets: list[str] = Field(default_factory=list, max_length=100,
                               description="paths or node ids relative to the suite root")
    models: list[str] = Field(default_factory=list, max_length=20,
                              description="generate tests for these models and run them")
    hardware: list[str] = Field(default_factory=list, max_length=len(BACKENDS),
                                description="backends (--ipfs-hw); empty = auto")
    test_type: TestType = "basic"
    workers: int = Field(0, ge=0, le=64, strict=True, description="pytest-xdist workers (-n); 0 = no xdist")
    timeout_s: float | None = Field(None, gt=0, strict=True, description="end the run after this many seconds")
    executor: Executor = Field("local", description="local: one pytest here; ray: ipfs-accel run --ray, "
                                                    "sharded across the service's Ray cluster (explicit hardware)")
    shards: int | None = Field(None, ge=1, le=256, strict=True,
                               description="executor ray: shards in all (--shards; default one per backend)")


class BenchmarkShape(RequestBody):
    """The benchmark sweep and budget a benchmark or workflow request asks for."""

    batch_sizes: list[StrictInt] = Field(default_factory=lambda: [1], min_length=1, max_length=16,
                                         description=f"any batch sizes from 1 to {MAX_BATCH_SIZE}")
    seq_lens: list[StrictInt] = Field(default_factory=lambda: [16], min_length=1, max_length=16,
                                      description=f"text lengths or audio samples, any from 1 to {MAX_SEQ_LEN}")
    dtype: Dtype = "float32"
    max_time_s: float | None = Field(None, gt=0, le=600, strict=True,
                                     description="time budget of each case's timed rounds (--ipfs-bench-max-time)")
    min_rounds: int | None = Field(None, ge=1, le=100000, strict=True, description="--ipfs-bench-min-rounds")
    max_rounds: int | None = Field(None, ge=1, le=100000, strict=True, description="--ipfs-bench-max-rounds")
    timeout_s: float | None = Field(None, gt=0, strict=True)


class BenchmarkRunRequest(BenchmarkShape):
    """Benchmark models: generated benchmark tests run with these shapes."""

    models: list[str] = Field(min_length=1, max_length=20)
    hardware: list[str] = Field(default_factory=list, max_length=len(BACKENDS))


class GenerateRequest(RequestBody):
    """Write a test module for one model under the suite root's generated folder."""

    model: str = Field(pattern=MODEL_PATTERN, max_length=200)
    test_type: TestType = "basic"
    force: bool = Field(False, strict=True, description="overwrite an existing module")


class GenerateBatchRequest(RequestBody):
    models: list[str] = Field(min_length=1, max_length=50)
    test_type: TestType = "basic"
    force: bool = Field(False, strict=True)


class WorkflowRequest(BenchmarkShape):
    """Generate tests for a model, run them, then benchmark it: one status, one event stream."""

    model: str = Field(pattern=MODEL_PATTERN, max_length=200)
    hardware: list[str] = Field(default_factory=list, max_length=len(BACKENDS))
    test_type: Literal["basic", "comprehensive"] = "basic"
