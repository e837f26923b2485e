"""The browser backends as runtimes: a torch model exported to ONNX, run by onnxruntime-web in Chromium.

What this follows (found with Chromium 150, onnxruntime-web 1.30.0, torch 2.13 CPU):

- ``torch.onnx.export(..., dynamo=True, external_data=False)`` writes one file;
  the module exported is :func:`~hardware_markers.execution.flat_module` (explicit
  keyword parameters: the legacy exporter trips on ``BertModel(use_cache=...)``),
  with ``use_cache=False`` where the model takes it and dynamic batch (and, for
  integer inputs, sequence) dims.
- A model is exported once per process and input signature, whichever browser
  backend asks first; each backend then creates its own session on its page.
- Outputs come back under the model's output names as base64 of the raw typed
  array (far faster than JSON arrays) and become torch tensors.
- ``wasm`` runs onnxruntime-web's CPU path; ``webgpu`` and ``webnn`` its JSEP
  execution providers (WebGPU in headless Chromium without a GPU is SwiftShader,
  a software renderer: detection says so).
"""

from __future__ import annotations

import base64
import shutil
import tempfile
import time
import warnings
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hardware_markers.browser_page import BrowserError, BrowserSession
from hardware_markers.execution import (
    ConversionError,
    Outputs,
    Prepared,
    Runtime,
    error_summary,
    input_signature,
    traceable,
)

#: torch dtype name -> onnxruntime-web tensor type
ORT_TYPES = {"torch.float32": "float32", "torch.int64": "int64", "torch.int32": "int32", "torch.bool": "bool",
             "torch.uint8": "uint8", "torch.int8": "int8"}

#: backend -> the execution provider its sessions use
EXECUTION_PROVIDERS: dict[str, Any] = {"wasm": "wasm", "webgpu": "webgpu"}


def _torch_dtypes() -> dict[str, Any]:
    import torch

    return {"float32": torch.float32, "int64": torch.int64, "int32": torch.int32, "bool": torch.bool,
            "uint8": torch.uint8, "int8": torch.int8}


def encode(inputs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Torch tensors as ``{type, dims, b64}`` for the page (base64 of the raw little-endian bytes)."""
    encoded = {}
    for name, value in inputs.items():
        ort_type = ORT_TYPES.get(str(value.dtype))
        if ort_type is None:
            raise ConversionError(f"input {name} is {value.dtype}; onnxruntime-web takes {', '.join(ORT_TYPES)}")
        array = value.detach().cpu().contiguous().numpy()
        encoded[name] = {"type": ort_type, "dims": list(array.shape), "b64": base64.b64encode(array.tobytes()).decode()}
    return encoded


def decode(outputs: Mapping[str, Mapping[str, Any]], names: list[str]) -> Outputs:
    """The page's ``{type, dims, b64}`` outputs as torch tensors, in the order of ``names``."""
    import torch

    dtypes = _torch_dtypes()
    result = Outputs()
    for name in names:
        found = outputs[name]
        raw = bytearray(base64.b64decode(found["b64"]))
        tensor = torch.frombuffer(raw, dtype=dtypes[found["type"]]) if raw else torch.empty(0, dtype=dtypes[found["type"]])
        result[name] = tensor.reshape(found["dims"])
    return result


def _dynamic_shapes(inputs: Mapping[str, Any]) -> dict[str, dict[int, Any]]:
    """Dynamic batch dim for every input, and sequence dim for integer ones (token ids, masks)."""
    from torch.export import Dim

    shapes = {}
    for name, value in inputs.items():
        count = min(value.dim(), 1 if value.is_floating_point() else 2)
        shapes[name] = {i: Dim.AUTO for i in range(count)}
    return shapes


def export_onnx(model: Any, example_inputs: Mapping[str, Any], path: Path) -> list[str]:
    """``model`` exported to one ONNX file at ``path``; the output names, in order."""
    import torch

    wrapper, output_names = traceable(model, example_inputs)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper, (), str(path), kwargs=dict(example_inputs), dynamo=True, external_data=False,
                dynamic_shapes=_dynamic_shapes(example_inputs), input_names=list(example_inputs),
                output_names=output_names, verbose=False,
            )
    except Exception as exc:
        raise ConversionError(f"torch.onnx.export (dynamo) could not export {type(model).__name__}: {error_summary(exc)}") from exc
    return output_names


class _Exports:
    """ONNX files by model and input signature, shared by every browser backend of the process."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="ipfs-accel-export-"))
        self._found: weakref.WeakKeyDictionary[Any, dict[tuple, tuple[Path, list[str], float]]] = (
            weakref.WeakKeyDictionary())
        self._count = 0

    def get(self, model: Any, example_inputs: Mapping[str, Any]) -> tuple[Path, list[str], float]:
        per_model = self._found.setdefault(model, {})
        key = input_signature(example_inputs)
        if key not in per_model:
            self._count += 1
            path = self.directory / f"export{self._count}.onnx"
            started = time.perf_counter()
            names = export_onnx(model, example_inputs, path)
            per_model[key] = (path, names, round(time.perf_counter() - started, 6))
        return per_model[key]


_EXPORTS: _Exports | None = None


def exports() -> _Exports:
    global _EXPORTS
    if _EXPORTS is None:
        _EXPORTS = _Exports()
    return _EXPORTS


class BrowserPrepared(Prepared):
    """A model's ONNX export with an onnxruntime-web session on one backend's page."""

    def __init__(self, runtime: BrowserRuntime, model_url: str, output_names: list[str],
                 seconds: dict[str, float], model: Any = None, example_inputs: Mapping[str, Any] | None = None
                 ) -> None:
        self.runtime = runtime
        self.model = model
        self.example_inputs = dict(example_inputs or {})
        self.model_url = model_url
        self.output_names = output_names
        self.seconds = dict(seconds)
        self.threads: int | None = None
        self._id: int | None = None
        self._generation = -1
        self.input_names: list[str] = []
        self._session()

    def _session(self) -> int:
        """The session id on the backend's current page (created again after a page crash)."""
        browser = self.runtime.browser
        browser.page(self.runtime.backend)
        if self._id is None or self._generation != browser.generation[self.runtime.backend]:
            try:
                made = browser.call(self.runtime.backend, "([u, ep]) => window.__ipfs.create(u, ep)",
                                    [self.model_url, self.runtime.execution_provider])
            except BrowserError as exc:
                raise ConversionError(f"onnxruntime-web ({self.runtime.backend}) could not load the model: {exc}") from None
            self._id, self._generation = made["id"], browser.generation[self.runtime.backend]
            self.input_names, self.threads = made["inputNames"], made["threads"]
            self.seconds["session_s"] = round(made["ms"] / 1000, 6)
        return self._id

    def run_encoded(self, encoded: dict[str, Any], repeat: int = 1) -> tuple[Outputs, list[float]]:
        """Run on encoded inputs ``repeat`` times; the outputs and each run's in-page seconds."""
        found = self.runtime.browser.call(
            self.runtime.backend, "a => window.__ipfs.run(a)", {"id": self._session(), "inputs": encoded, "repeat": repeat})
        times = [ms / 1000 for ms in found["times"]]
        self.runtime.page_seconds += sum(times)
        return decode(found["outputs"], self.output_names), times

    def __call__(self, inputs: Mapping[str, Any]) -> Outputs:
        return self.run_encoded(encode(inputs))[0]

    def bound(self, inputs: Mapping[str, Any]) -> Callable[[], Outputs]:
        encoded = encode(inputs)
        return lambda: self.run_encoded(encoded)[0]

    def device_times(self, inputs: Mapping[str, Any], repeat: int) -> list[float]:
        """Seconds per inference timed inside the page with ``performance.now()`` (no transfer)."""
        return self.run_encoded(encode(inputs), repeat)[1]

    def info(self) -> dict[str, Any]:
        return {"runtime": self.runtime.name, "precision": self.precision, "threads": self.threads, **self.seconds}

    def stages(self) -> dict[str, Callable[[], Any]]:
        """``convert``: the ONNX export again, into a scratch file; ``compile``: a new
        onnxruntime-web session from the served file (fetch, graph optimization, partitioning
        across the execution provider), released at once."""
        found: dict[str, Callable[[], Any]] = {}
        if self.model is not None:
            found["convert"] = self._convert
        found["compile"] = lambda: self.runtime.browser.call(
            self.runtime.backend, "([u, ep]) => window.__ipfs.compile(u, ep)",
            [self.model_url, self.runtime.execution_provider])
        return found

    def _convert(self) -> list[str]:
        with tempfile.TemporaryDirectory(prefix="ipfs-accel-export-") as scratch:
            return export_onnx(self.model, self.example_inputs, Path(scratch) / "model.onnx")

    def reloaded(self, directory: Path) -> Prepared:
        path = Path(directory) / "model.onnx"
        shutil.copyfile(self.runtime.browser.models_dir / Path(self.model_url).name, path)
        url = self.runtime.browser.serve_model(path)
        return BrowserPrepared(self.runtime, url, self.output_names, {"read_s": 0.0}, self.model, self.example_inputs)

    def close(self) -> None:
        if self._id is not None and self._generation == self.runtime.browser.generation.get(self.runtime.backend):
            try:
                self.runtime.browser.call(self.runtime.backend, "id => window.__ipfs.release(id)", self._id)
            except BrowserError:
                pass  # a page that crashed took the session with it
        self._id = None


class BrowserRuntime(Runtime):
    """One browser backend (``wasm``, ``webgpu``, ``webnn``) on the process's Chromium."""

    def __init__(self, backend: str, browser: BrowserSession, version: str, execution_provider: Any = None) -> None:
        self.backend = backend
        self.browser = browser
        self.execution_provider = execution_provider or EXECUTION_PROVIDERS[backend]
        self.name = f"onnxruntime-web {version} {backend} (Chromium {browser.version})"
        # wasm and a software WebGPU adapter run on the CPU cores torch uses
        self.lock_key = "cpu" if backend == "wasm" else None
        #: inference seconds measured inside the page (performance.now()), summed over every run
        self.page_seconds = 0.0

    def prepare(self, model: Any, example_inputs: Mapping[str, Any], precision: Any = None) -> Prepared:
        path, output_names, export_s = exports().get(model, example_inputs)
        url = self.browser.serve_model(path)
        return BrowserPrepared(self, url, output_names, {"export_s": export_s}, model, example_inputs)

    def timer(self) -> PageTimer:
        return PageTimer(self)

    def fingerprint(self) -> dict[str, Any]:
        return {"name": self.name, "browser": self.browser.version, "execution_provider": self.execution_provider}


class PageTimer:
    """Benchmark rounds timed inside the page: the ``performance.now()`` time of the inferences a
    round ran (no export, session creation, or tensor transfer), plus the round's wall time."""

    name = "performance.now (page)"
    #: Chromium's performance.now() granularity when cross-origin isolated (the server sends COOP/COEP)
    resolution = 5e-6

    def __init__(self, runtime: BrowserRuntime) -> None:
        self.runtime = runtime

    def run_round(self, body: Callable[[], Any]) -> tuple[float, float, Any]:
        before = self.runtime.page_seconds
        w0 = time.perf_counter()
        result = body()
        w1 = time.perf_counter()
        return self.runtime.page_seconds - before, w1 - w0, result
