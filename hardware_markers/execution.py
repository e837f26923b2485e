"""How a backend runs a model: the runtime interface every backend implements.

A backend is more than a torch device string.  Its :class:`Runtime` prepares a
model once for example inputs (a torch device moves it; OpenVINO converts and
compiles it; a browser runtime would export it and ship it to the page) and
hands back a :class:`Prepared` model: called with a dict of torch tensors, it
returns :class:`Outputs`, torch tensors under the model's output names, and it
says the precision it really runs in.  Generated tests go only through this,
so a backend added by a plugin runs them unchanged.

The contract, written for a runtime that may live out of process too:

- ``Runtime.prepare(model, example_inputs, precision=None)`` is expensive and
  happens once per (model, input signature, precision); :class:`PreparationCache`
  keeps the results (per test module in the plugin).  A prepared model accepts
  other shapes with the same input names, dtypes and ranks (dynamic batch and
  sequence dims) without being prepared again.
- ``Prepared(inputs)`` returns finished work: tensors the caller can read.
  ``Runtime.synchronize()`` waits for anything still queued on the device.
- A model the runtime cannot take raises :class:`ConversionError` with the
  converter's message: that is a finding (the test fails), not a skip.  A
  backend or precision that cannot run at all raises :class:`RuntimeUnavailable`
  with the reason (the plugin turns that into a skip).

Nothing here imports torch at import time.
"""

from __future__ import annotations

import copy
import inspect
import keyword
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

#: precision names, as torch spells its dtypes (``torch.bfloat16`` -> ``bfloat16``)
FLOAT32 = "float32"


class RuntimeUnavailable(Exception):
    """This backend (or this precision on it) cannot run models here; the message says why."""


class ConversionError(Exception):
    """The runtime could not take this model; the message carries the converter's own."""


#: how many lines of a converter's message a failure shows (the rest is its operator dump)
MESSAGE_LINES = 12


def error_summary(exc: BaseException) -> str:
    """A converter's exception as ``Type: message``, cut to :data:`MESSAGE_LINES` lines."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    text = "\n".join(lines[:MESSAGE_LINES])
    more = len(lines) - MESSAGE_LINES
    return f"{type(exc).__name__}: {text}" + (f"\n... ({more} more lines)" if more > 0 else "")


def precision_name(precision: Any) -> str:
    """``torch.bfloat16``, ``"bf16"`` or ``"bfloat16"`` -> ``"bfloat16"``; ``None`` -> ``"float32"``."""
    if precision is None:
        return FLOAT32
    text = str(precision).removeprefix("torch.").lower()
    return {"f32": "float32", "fp32": "float32", "bf16": "bfloat16", "f16": "float16",
            "fp16": "float16", "half": "float16", "float": "float32"}.get(text, text)


class Outputs(dict):
    """A model's outputs as torch tensors by name; ``outputs.logits`` is ``outputs["logits"]``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no output named {name!r}; outputs: {', '.join(self)}") from None


def tensor_outputs(value: Any) -> Outputs:
    """The top-level tensors of a model's return value (a ``ModelOutput``, dict, tuple or tensor).

    Nested objects (a cache, CLIP's per-tower outputs) are left out: they are
    not outputs every runtime can return.
    """
    import torch

    if isinstance(value, torch.Tensor):
        items: Any = [("output", value)]
    elif isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, tuple | list):
        items = [(f"output_{i}", v) for i, v in enumerate(value)]
    else:
        raise TypeError(f"a model returned {type(value).__name__}, not tensors")
    return Outputs((str(k), v) for k, v in items if isinstance(v, torch.Tensor))


def input_signature(inputs: Mapping[str, Any]) -> tuple[tuple[str, str, int], ...]:
    """(name, dtype, rank) of each input: what a prepared model is specialised for (not the sizes)."""
    return tuple((name, str(value.dtype), value.dim()) for name, value in inputs.items())


class Prepared(ABC):
    """A model made ready on a backend for inputs of one signature."""

    #: the precision the backend really runs this model in (``float32``, ``bfloat16``, ...)
    precision: str = FLOAT32

    @abstractmethod
    def __call__(self, inputs: Mapping[str, Any]) -> Outputs:
        """Run the model on ``inputs`` (CPU or device torch tensors); finished outputs by name."""

    def bound(self, inputs: Mapping[str, Any]) -> Callable[[], Outputs]:
        """A no-argument call on ``inputs``, with per-call input conversion done once (for timing)."""
        return lambda: self(inputs)

    def place(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """``inputs`` as this backend takes them (on its device, in its dtype)."""
        return dict(inputs)

    def info(self) -> dict[str, Any]:
        """What a benchmark records about this preparation: runtime, precision, threads, stage times."""
        return {"precision": self.precision}

    def stages(self) -> dict[str, Callable[[], Any]]:
        """Each preparation stage (e.g. ``convert``, ``compile``) as a callable that redoes it from
        scratch, for timing; empty when the backend runs the model as built."""
        return {}

    def with_precision(self, precision: Any) -> Prepared:
        """The same model prepared for ``precision``, reusing what does not depend on it."""
        raise RuntimeUnavailable(f"{type(self).__name__} cannot change its precision")

    def reloaded(self, directory: Path) -> Prepared:
        """Save this prepared model in the backend's own format under ``directory`` and read it back."""
        raise RuntimeUnavailable(f"{type(self).__name__} has no saved form to round-trip")

    @property
    def torch_module(self) -> Any:
        """The torch module this backend runs (for torch's ``generate``), or ``None``."""
        return None

    def close(self) -> None:
        """Release what the preparation holds (device memory, a compiled model, a browser page)."""
        return None


class Runtime(ABC):
    """How one backend runs models (one object per backend per process)."""

    #: a short name for tables and fingerprints, e.g. ``torch cpu`` or ``openvino 2026.4.1 CPU``
    name: str = "runtime"
    #: the benchmark lock this runtime's device shares (``None``: the backend's own)
    lock_key: str | None = None

    @abstractmethod
    def prepare(self, model: Any, example_inputs: Mapping[str, Any], precision: Any = None) -> Prepared:
        """Make ``model`` (a torch module on the CPU, float32) ready for inputs like ``example_inputs``."""

    def precision_support(self, precision: Any) -> str | None:
        """``None`` when this runtime can infer in ``precision``, else why not."""
        name = precision_name(precision)
        return None if name == FLOAT32 else f"{self.name} does not run {name}"

    def synchronize(self) -> None:
        """Wait until work queued on the device is done (no-op for synchronous runtimes)."""
        return None

    def timer(self) -> Any:
        """A benchmark timer on this runtime's own clock (a ``bench.timers.Timer``: a browser
        page's ``performance.now()``), or ``None`` to time calls on the host."""
        return None

    def fingerprint(self) -> dict[str, Any]:
        """A JSON-able description of this runtime, recorded with the run's hardware."""
        return {"name": self.name}


def cache_off(model: Any) -> dict[str, Any]:
    """``{"use_cache": False}`` for a model whose forward takes ``use_cache``, else nothing."""
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return {}
    return {"use_cache": False} if "use_cache" in params else {}


def traceable(model: Any, example_inputs: Mapping[str, Any]) -> tuple[Any, list[str]]:
    """``model`` as a :func:`flat_module` for a tracer or exporter (its cache off), and its
    output names in order, found by one call on ``example_inputs``."""
    import torch

    extra = cache_off(model)
    with torch.no_grad():
        output_names = list(tensor_outputs(model(**example_inputs, **extra)))
    return flat_module(model, list(example_inputs), output_names, extra), output_names


def flat_module(model: Any, input_names: list[str], output_names: list[str], extra: dict[str, Any]) -> Any:
    """A module whose ``forward(<input names>)`` returns ``model``'s outputs as a tuple of tensors,
    ``output_names`` in order (``extra``: keyword arguments every call passes, e.g. ``use_cache``).

    For tracers (OpenVINO's converter, TorchScript): the parameter names are
    spelled out, not ``**kwargs``, since they read them from the signature, and
    nested outputs (a cache, CLIP's per-tower objects) are left behind.
    """
    import torch

    bad = [n for n in input_names if not n.isidentifier() or keyword.iskeyword(n)]
    if bad:
        raise ConversionError(f"input names {bad} are not Python identifiers; rename the model's inputs")
    params = ", ".join(input_names)
    call = ", ".join(f"{n}={n}" for n in input_names)
    source = (
        f"def forward(self, {params}):\n"
        f"    out = tensor_outputs(self.model({call}, **self.extra))\n"
        "    return tuple(out[name] for name in self.output_names)\n"
    )
    namespace: dict[str, Any] = {"tensor_outputs": tensor_outputs}
    exec(compile(source, "<flat_module>", "exec"), namespace)  # noqa: S102 - names checked above

    class FlatOutputs(torch.nn.Module):
        forward = namespace["forward"]

        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.output_names = tuple(output_names)
            self.extra = dict(extra)

    return FlatOutputs().eval()


# ----------------------------------------------------------------------------- torch devices

#: a reason per (torch device type, precision) that torch cannot infer in; absent: supported
_TORCH_UNSUPPORTED = {
    ("cpu", "float16"): "float16 is not a CPU inference dtype (many kernels lack it); bfloat16 is tested",
    ("mps", "bfloat16"): "bfloat16 is not supported on every MPS device",
}


class TorchPrepared(Prepared):
    """A torch module on a torch device in one dtype."""

    def __init__(self, module: Any, device: str, dtype: Any, runtime: TorchRuntime) -> None:
        self.module = module
        self.device = device
        self.dtype = dtype
        self.precision = precision_name(dtype)
        self.runtime = runtime

    def place(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        return {
            name: value.to(self.device, self.dtype) if value.is_floating_point() else value.to(self.device)
            for name, value in inputs.items()
        }

    def __call__(self, inputs: Mapping[str, Any]) -> Outputs:
        return self._forward(self.place(inputs))

    def _forward(self, placed: Mapping[str, Any]) -> Outputs:
        import torch

        with torch.no_grad():
            return tensor_outputs(self.module(**placed))

    def bound(self, inputs: Mapping[str, Any]) -> Callable[[], Outputs]:
        placed = self.place(inputs)
        return lambda: self._forward(placed)

    def info(self) -> dict[str, Any]:
        import torch

        return {"runtime": self.runtime.name, "precision": self.precision, "threads": torch.get_num_threads()}

    def with_precision(self, precision: Any) -> Prepared:
        return self.runtime.prepare(self.module, {}, precision)

    def reloaded(self, directory: Path) -> Prepared:
        self.module.save_pretrained(directory)
        module = type(self.module).from_pretrained(directory, dtype=self.dtype).eval().to(self.device)
        return TorchPrepared(module, self.device, self.dtype, self.runtime)

    @property
    def torch_module(self) -> Any:
        return self.module


class TorchRuntime(Runtime):
    """A torch device (``cpu``, ``cuda:0``, ``mps``, ``xpu:0``): preparing moves (and casts) the model."""

    def __init__(self, torch_device: str) -> None:
        self.torch_device = torch_device
        self.device_type = torch_device.split(":", 1)[0]
        self.name = f"torch {torch_device}"

    def prepare(self, model: Any, example_inputs: Mapping[str, Any], precision: Any = None) -> Prepared:
        import torch

        name = precision_name(precision)
        reason = self.precision_support(name)
        if reason is not None:
            raise RuntimeUnavailable(reason)
        dtype = getattr(torch, name)
        first = next(iter(model.parameters()), None)
        as_built = first is None or (first.dtype == dtype and first.device.type == "cpu")
        module = model
        if self.device_type != "cpu" or not as_built:  # the CPU float32 model runs as built
            module = copy.deepcopy(model).to(device=self.torch_device, dtype=dtype)
        return TorchPrepared(module, self.torch_device, dtype, self)

    def precision_support(self, precision: Any) -> str | None:
        name = precision_name(precision)
        if name == FLOAT32:
            return None
        if name not in ("float16", "bfloat16"):
            return f"{self.name} does not run {name}"
        if self.device_type == "cuda" and name == "bfloat16":
            import torch

            return None if torch.cuda.is_bf16_supported() else "this GPU does not support bfloat16"
        return _TORCH_UNSUPPORTED.get((self.device_type, name))

    def synchronize(self) -> None:
        if self.device_type in ("cuda", "xpu", "mps"):
            import torch

            getattr(torch, self.device_type).synchronize()

    def fingerprint(self) -> dict[str, Any]:
        return {"name": self.name, "torch_device": self.torch_device}


# ----------------------------------------------------------------------------- the cache


class PreparationCache:
    """Prepared models by (model identity, input signature, precision), each prepared once.

    The model itself is kept alongside its entries, so its ``id`` cannot be
    reused while they live.  A preparation that failed is remembered and
    raised again: a module whose model does not convert fails each test at
    once instead of converting again.  Another precision reuses the float32
    preparation (:meth:`Prepared.with_precision`: OpenVINO compiles the converted
    model again, it does not reconvert).
    """

    def __init__(self) -> None:
        self._entries: dict[tuple, tuple[Any, Prepared | BaseException]] = {}

    def unavailable(self, reason: str) -> NoReturn:
        """What happens when a backend or precision cannot run (the plugin skips the test)."""
        raise RuntimeUnavailable(reason)

    def prepare(
        self, runtime: Runtime, model: Any, example_inputs: Mapping[str, Any], precision: Any = None
    ) -> Prepared:
        name = precision_name(precision)
        reason = runtime.precision_support(name)
        if reason is not None:
            self.unavailable(reason)
        key = (id(runtime), id(model), input_signature(example_inputs))
        try:
            base = self._get(key, model, lambda: runtime.prepare(model, example_inputs))
            if name == FLOAT32 and base.precision == FLOAT32:
                return base
            return self._get((*key, name), model, lambda: base.with_precision(name))
        except RuntimeUnavailable as exc:
            self.unavailable(str(exc))

    def _get(self, key: tuple, model: Any, make: Callable[[], Prepared]) -> Prepared:
        if key not in self._entries:
            try:
                self._entries[key] = (model, make())
            except RuntimeUnavailable:
                raise
            except Exception as exc:  # remembered: the same model fails the same way next time
                self._entries[key] = (model, exc)
                raise
        found = self._entries[key][1]
        if isinstance(found, BaseException):
            raise found
        return found

    def __len__(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        """Release every prepared model."""
        for _, found in self._entries.values():
            if isinstance(found, Prepared):
                found.close()
        self._entries.clear()
