"""OpenVINO as a runtime: convert a torch model, compile it for one device, infer.

What this follows (found on openvino 2026.4, transformers 5.x, torch 2.13 CPU):

- ``openvino.convert_model(module, example_input=dict)`` traces through
  TorchScript and keeps dynamic batch and sequence dims.  ``torch.export`` then
  ``convert_model`` loses the output names and silently returns wrong shapes for
  new inputs, so it is not used.
- The traced module is a wrapper whose ``forward`` has the example inputs'
  names as its parameters and returns a tuple of plain tensors, in an order
  recorded here: models whose outputs nest objects (CLIP) convert, and outputs
  are named by us rather than by the tracer.
- ``use_cache=False`` for models that take it: a decoder's cache is not an
  output a runtime hands back.
- ``INFERENCE_PRECISION_HINT`` is always set (``f32`` unless asked): CPUs with
  BF16 otherwise infer in bf16, off from torch float32 by up to 3e-2.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hardware_markers.execution import (
    FLOAT32,
    ConversionError,
    Outputs,
    Prepared,
    Runtime,
    RuntimeUnavailable,
    error_summary,
    precision_name,
    traceable,
)

#: precision name -> OpenVINO's inference precision hint
PRECISION_HINTS = {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}
#: precision name -> the optimization capability a device lists when it runs it natively
CAPABILITIES = {"bfloat16": "BF16", "float16": "FP16"}


def _type_name(value: Any) -> str:
    """An OpenVINO element type as its short name (``f32``)."""
    getter = getattr(value, "get_type_name", None)
    return getter() if getter is not None else str(value)


_HINT_TO_PRECISION = {hint: name for name, hint in PRECISION_HINTS.items()}


class OpenVINOPrepared(Prepared):
    """A converted model compiled for one device and precision, with one infer request."""

    def __init__(
        self,
        runtime: OpenVINORuntime,
        model: Any,
        example_inputs: Mapping[str, Any],
        ov_model: Any,
        output_names: list[str],
        requested: str,
        seconds: dict[str, float],
    ) -> None:
        self.runtime = runtime
        self.model = model
        self.example_inputs = dict(example_inputs)
        self.ov_model = ov_model
        self.output_names = list(output_names)
        self.requested = requested
        started = time.perf_counter()
        self.compiled = runtime.compile(ov_model, requested)
        self.seconds = {**seconds, "compile_s": round(time.perf_counter() - started, 6)}
        self.request = self.compiled.create_infer_request()
        used = _type_name(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
        self.precision = _HINT_TO_PRECISION.get(used, used)
        # the ports the converter kept (an input the model never reads has none)
        wanted = set(self.example_inputs)
        self.input_names = [next(iter(sorted(p.get_names() & wanted)), None) for p in self.compiled.inputs]
        if None in self.input_names:
            raise ConversionError(
                f"the converted model has inputs {[sorted(p.get_names()) for p in self.compiled.inputs]} "
                f"that are not among {sorted(wanted)}"
            )

    def _feed(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        if set(inputs) != set(self.example_inputs):
            raise ValueError(
                f"inputs {sorted(inputs)} differ from the ones this model was prepared for "
                f"({sorted(self.example_inputs)}): prepare it for these inputs"
            )
        return {name: inputs[name].detach().cpu().numpy() for name in self.input_names}

    def _infer(self, feed: dict[str, Any]) -> Outputs:
        import torch

        result = self.request.infer(feed)  # synchronous; copies the outputs out of the request
        return Outputs((name, torch.from_numpy(result[i])) for i, name in enumerate(self.output_names))

    def __call__(self, inputs: Mapping[str, Any]) -> Outputs:
        return self._infer(self._feed(inputs))

    def bound(self, inputs: Mapping[str, Any]) -> Callable[[], Outputs]:
        feed = self._feed(inputs)
        return lambda: self._infer(feed)

    def info(self) -> dict[str, Any]:
        def prop(name: str) -> Any:
            try:
                return self.compiled.get_property(name)
            except Exception:  # a device plugin without this property
                return None

        threads, streams, hint = (prop(n) for n in ("INFERENCE_NUM_THREADS", "NUM_STREAMS", "PERFORMANCE_HINT"))
        return {
            "runtime": self.runtime.name,
            "precision": self.precision,
            "threads": threads,
            "streams": None if streams is None else str(streams),
            "performance_hint": None if hint is None else str(hint),
            **self.seconds,
        }

    def stages(self) -> dict[str, Callable[[], Any]]:
        return {
            "convert": lambda: self.runtime.convert(self.model, self.example_inputs),
            "compile": lambda: self.runtime.compile(self.ov_model, self.requested),
        }

    def with_precision(self, precision: Any) -> Prepared:
        return OpenVINOPrepared(
            self.runtime, self.model, self.example_inputs, self.ov_model, self.output_names,
            precision_name(precision), {"convert_s": self.seconds.get("convert_s", 0.0)},
        )

    def reloaded(self, directory: Path) -> Prepared:
        import openvino

        path = Path(directory) / "model.xml"
        # compress_to_fp16 defaults to True: the weights would come back rounded
        openvino.save_model(self.ov_model, str(path), compress_to_fp16=False)
        ov_model = self.runtime.core.read_model(str(path))
        return OpenVINOPrepared(
            self.runtime, self.model, self.example_inputs, ov_model, self.output_names,
            self.requested, {"read_s": 0.0},
        )

    def close(self) -> None:
        self.request = None
        self.compiled = None


class OpenVINORuntime(Runtime):
    """One OpenVINO device (``CPU``, ``GPU.0``, ``NPU``...) of this machine's ``openvino.Core``."""

    def __init__(self, device: str = "CPU", version: str = "", core: Any = None) -> None:
        self.device = device
        self.version = version
        self._core = core
        self.name = f"openvino {version} {device}".replace("  ", " ")
        # OpenVINO's CPU device runs on the cores torch's cpu backend uses: one benchmark at a time
        self.lock_key = "cpu" if device.upper().startswith("CPU") else None

    @property
    def core(self) -> Any:
        if self._core is None:
            import openvino

            self._core = openvino.Core()
        return self._core

    def capabilities(self) -> list[str]:
        try:
            return [str(c) for c in self.core.get_property(self.device, "OPTIMIZATION_CAPABILITIES")]
        except Exception:  # a device plugin that does not say
            return []

    def precision_support(self, precision: Any) -> str | None:
        name = precision_name(precision)
        if name == FLOAT32:
            return None
        if name not in CAPABILITIES:
            return f"OpenVINO has no {name} inference precision"
        caps = self.capabilities()
        if CAPABILITIES[name] in caps:
            return None
        return (f"OpenVINO's {self.device} device does not run {name} natively here: its "
                f"OPTIMIZATION_CAPABILITIES are {', '.join(caps) or 'not reported'} (no {CAPABILITIES[name]})")

    def convert(self, model: Any, example_inputs: Mapping[str, Any]) -> tuple[Any, list[str]]:
        """``model`` converted to an ``openvino.Model`` with named outputs, and those names."""
        import openvino
        import torch

        wrapper, output_names = traceable(model, example_inputs)
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # TracerWarnings about data-dependent branches
                ov_model = openvino.convert_model(wrapper, example_input=dict(example_inputs))
        except Exception as exc:
            raise ConversionError(
                f"openvino.convert_model could not convert {type(model).__name__}: {error_summary(exc)}"
            ) from exc
        for port, name in zip(ov_model.outputs, output_names, strict=True):
            port.get_tensor().set_names({name})
        return ov_model, output_names

    def compile(self, ov_model: Any, precision: str) -> Any:
        """``ov_model`` compiled for this device, inferring in ``precision``."""
        config = {"INFERENCE_PRECISION_HINT": PRECISION_HINTS[precision_name(precision)]}
        try:
            return self.core.compile_model(ov_model, self.device, config)
        except Exception as exc:
            raise ConversionError(f"openvino.compile_model for {self.device} failed: {error_summary(exc)}") from exc

    def prepare(self, model: Any, example_inputs: Mapping[str, Any], precision: Any = None) -> Prepared:
        name = precision_name(precision)
        reason = self.precision_support(name)
        if reason is not None:
            raise RuntimeUnavailable(reason)
        started = time.perf_counter()
        ov_model, output_names = self.convert(model, example_inputs)
        seconds = {"convert_s": round(time.perf_counter() - started, 6)}
        return OpenVINOPrepared(self, model, example_inputs, ov_model, output_names, name, seconds)

    def fingerprint(self) -> dict[str, Any]:
        return {"name": self.name, "device": self.device, "capabilities": self.capabilities()}
