"""How many transformers architectures the generators cover, for real, per backend.

For every model type in transformers' base model mapping (MODEL_MAPPING_NAMES)
this resolves the type, renders its ``basic`` test module, writes it to disk,
imports it and runs its ``test_forward`` on each backend asked for, exactly as
pytest would: the module builds its tiny model and the test prepares it on the
backend (``ipfs_hw.prepare``: torch on the CPU as built; OpenVINO converts and
compiles it) and checks outputs, shapes and parity with torch float32.  A type
is tried on openvino only where it passes on cpu (a model that does not run in
torch has nothing to convert).  It prints how many pass per backend and family,
the share of cpu-passing types that pass on openvino, and the top failure
reasons (for openvino: the converter's).

    python benchmarks/model_coverage.py [--backend cpu,openvino] [--jobs 2] [--sample N]
    python benchmarks/model_coverage.py --backend cpu,wasm,webgpu --sample 40 --jobs 1
        (the browser backends: one Chromium per worker; `ipfs-accel browser install` first)
                                        [--json out.json] [--only bert gpt2] [--family multimodal]

Failures are split by cause: ``model`` (the model's own behaviour: a forward
that is not deterministic, NaN/inf in float32, or a class that transformers'
own default configuration fails to build the same way), ``environment`` (a library
it needs is missing) and ``generator`` (the generated config, inputs or checks).

It runs models in worker processes (one import of torch per worker, not per
model) and gives each model ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import multiprocessing
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class ModelTimeout(BaseException):
    """Not an Exception: a runtime that wraps converter errors must not wrap this one."""


def _on_alarm(signum, frame):
    raise ModelTimeout("timed out")


def _reason(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:200]}"


_HARDWARE: dict = {}


def _hardware(name: str):
    """The backend as its detector reports it (once per worker process)."""
    if name not in _HARDWARE:
        from hardware_markers import default_registry

        _HARDWARE[name] = default_registry().detect(name)
    return _HARDWARE[name]


def check_model(args: tuple[str, str, int, tuple[str, ...]]) -> dict:
    """Generate, import and run the basic test of one model type on each backend."""
    model_type, out_dir, timeout, backends = args
    import torch

    torch.set_num_threads(1)
    result = check_cpu(model_type, out_dir, timeout, "cpu" in backends)
    for backend in backends:
        if backend != "cpu":
            result[backend] = check_backend(result, backend, timeout)
    result.pop("_module", None)
    return result


def check_backend(cpu: dict, backend: str, timeout: int) -> dict:
    """The module's test_forward on ``backend`` (only for types that pass on cpu)."""
    if not cpu["ok"]:
        return {"ok": None, "stage": "not tried", "reason": "fails on cpu"}
    from hardware_markers import ConversionError

    hw = _hardware(backend)
    module = cpu["_module"]
    out = {"ok": False, "stage": "convert"}
    start = time.perf_counter()
    signal.alarm(timeout)
    try:
        if not hw.usable:
            raise RuntimeError(f"{backend} not usable: {hw.reason}")
        module.test_forward(module.build_model(), hw)
        out.update(ok=True, stage="passed")
    except BaseException as exc:  # every failure with its reason
        converting = isinstance(exc, ConversionError)
        out["stage"] = "convert" if converting else "check"
        out["reason"] = _conversion_reason(exc) if converting else _reason(exc)
    finally:
        signal.alarm(0)
    out["seconds"] = round(time.perf_counter() - start, 3)
    return out


def check_cpu(model_type: str, out_dir: str, timeout: int, run: bool) -> dict:
    """Resolve, render, import and (``run``) the cpu test of one model type."""
    from generators.render import module_filename, render
    from generators.resolve import resolve

    result = {"model_type": model_type, "family": None, "stage": "resolve", "ok": False}
    start = time.perf_counter()
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(timeout)
    try:
        spec = resolve(model_type)
        result["family"] = spec.family
        result["stage"] = "render"
        source = render(spec, "basic")
        path = Path(out_dir) / module_filename(spec, "basic")
        path.write_text(source)
        result["module"] = str(path)
        result["stage"] = "import"
        module_spec = importlib.util.spec_from_file_location(f"generated_{spec.name}", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        result["_module"] = module
        result["stage"] = "build"
        model = module.build_model()
        result["stage"] = "forward"
        if run:
            module.test_forward(model, _hardware("cpu"))
        result["ok"] = True
        result["stage"] = "passed"
        if getattr(module, "IMAGE_LAYOUT", "x") is None:
            result["text_only"] = True  # a multimodal model the generator fed no image
    except BaseException as exc:  # report every failure with its reason, never stop
        result["reason"] = _reason(exc)
        result["where"] = traceback.extract_tb(exc.__traceback__)[-1].filename.rsplit("/", 1)[-1]
        try:
            result["cause"] = _cause(exc, result)
        except ModelTimeout:  # the time ran out while rebuilding it: the worker must still answer
            result["cause"] = "generator"
            result["reason"] += " [timed out telling whose failure it is]"
    finally:
        signal.alarm(0)
    result["seconds"] = round(time.perf_counter() - start, 3)
    return result


def _cause(exc: BaseException, result: dict) -> str:
    """Whose failure: ``model`` (the model itself: a forward that is not deterministic, or
    NaN/inf on valid inputs), ``environment`` (a library the model needs is missing) or
    ``generator`` (everything else: the inputs, config or checks the generator wrote)."""
    if isinstance(exc, ImportError) or "requires the" in str(exc) and "library" in str(exc):
        return "environment"
    if result["stage"] == "build":
        return _default_fails_too(exc, result)
    module = result.get("_module")
    if result["stage"] != "forward" or module is None:
        return "generator"
    import torch

    try:
        model, inputs = module.build_model(), module.make_inputs()
        first, second = module.reference(model, inputs), module.reference(model, inputs)
        names = [k for k, v in first.items() if isinstance(v, torch.Tensor)]
        if any(not torch.equal(first[k], second[k]) for k in names):
            result["reason"] += " [the model's forward is not deterministic: two runs on the same inputs differ]"
            return "model"
        if any(not torch.isfinite(first[k].float()).all() for k in names):
            result["reason"] += " [the model's float32 forward gives NaN/inf on these inputs]"
            return "model"
    except Exception:  # the model fails on its own: the generator's inputs or config
        return "generator"
    return "generator"


def _default_fails_too(exc: BaseException, result: dict) -> str:
    """``model`` when transformers' own default configuration fails to build the class the same way
    (built on the meta device: no memory, no weights), so the tiny one only inherits the defect."""
    import torch
    from transformers import AutoConfig

    from generators.plan import model_class
    from generators.resolve import resolve

    try:
        spec = resolve(result["model_type"])
        config = AutoConfig.for_model(spec.model_type)
        with torch.device("meta"):
            model_class(spec, config)(config)
    except Exception as default_exc:  # noqa: BLE001 - any failure is compared with the tiny model's
        if type(default_exc) is type(exc):
            result["reason"] += " [transformers' default configuration fails to build the same way]"
            return "model"
    return "generator"


#: the lines of a converter's message that say what failed (the rest is its operator dump)
_CONVERTER_LINES = re.compile(
    r"(No conversion rule found for operations: .*|Conversion is failed for: .*|"
    r"Couldn't get TorchScript module by tracing.*)"
)


def _conversion_reason(exc: BaseException) -> str:
    """What the converter refused, e.g. ``No conversion rule found for operations: aten::diff``;
    after a tracing failure, the tracer's own exception."""
    text = str(exc)
    found = _CONVERTER_LINES.findall(text)
    if found and found[0].startswith("Couldn't get TorchScript"):
        after = text.split("Exception:", 1)[1].strip().splitlines() if "Exception:" in text else []
        return f"tracing failed: {after[0][:160]}" if after else found[0]
    return "; ".join(dict.fromkeys(found)) or _reason(exc)


def _category(reason: str) -> str:
    """Group similar failure reasons: numbers and quoted names stripped."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", reason)
    return re.sub(r"\d+", "N", text)[:120]


def report_backend(results: list[dict], backend: str) -> None:
    """Pass counts of ``backend`` among the types that pass on cpu, by family, and its top failures."""
    from generators.families import FAMILIES

    tried = [r for r in results if r["ok"]]
    passed = [r for r in tried if r[backend]["ok"]]
    share = 100 * len(passed) / len(tried) if tried else 0.0
    print(f"\n{backend}: {len(passed)} of the {len(tried)} types that pass on cpu pass on {backend} "
          f"({share:.1f}%)")
    print(f"{'family':<18}{'cpu':>8}{backend:>10}")
    for family in FAMILIES:
        n_cpu = sum(r["family"] == family for r in tried)
        if n_cpu:
            print(f"{family:<18}{n_cpu:>8}{sum(r['family'] == family for r in passed):>10}")
    failed = [r for r in tried if not r[backend]["ok"]]
    by_stage = collections.Counter(r[backend]["stage"] for r in failed)
    print(f"{backend} failures: {dict(by_stage)} (convert: the converter refused the model; "
          "check: it converted but a check failed)")
    categories = collections.Counter(
        _category(f"{r[backend]['stage']}: {r[backend]['reason']}") for r in failed
    )
    print(f"top {backend} failure reasons:")
    for reason, count in categories.most_common(10):
        print(f"{count:>5}  {reason}")
    for r in failed:
        print(f"  {r['model_type']:<36} {r['family'] or '-':<16} {r[backend]['stage']:<8} "
              f"{r[backend]['reason'][:160]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per model")
    parser.add_argument("--only", nargs="*", help="these model types instead of all")
    parser.add_argument("--family", help="only the model types of this family (develop one family at a time)")
    parser.add_argument("--json", type=Path, help="also write every result to this file")
    parser.add_argument("--out", type=Path, help="keep the generated modules in this directory")
    parser.add_argument("--verbose", action="store_true", help="print each model as it finishes")
    parser.add_argument("--backend", default="cpu", help="comma list of backends (default cpu), e.g. cpu,openvino")
    parser.add_argument("--sample", type=int, metavar="N",
                        help="every Nth model type (sorted by name) instead of all of them")
    args = parser.parse_args(argv)
    backends = tuple(b.strip() for b in args.backend.split(",") if b.strip())
    if "cpu" not in backends:
        parser.error("--backend must include cpu: the other backends are tried where cpu passes")

    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    from generators.families import FAMILIES

    types = args.only or sorted(MODEL_MAPPING_NAMES)
    if args.family:
        from generators.families import classify

        if args.family not in FAMILIES:
            parser.error(f"unknown family {args.family!r}; choose one of: {', '.join(FAMILIES)}")
        types = [t for t in types if (classify(t) or ("",))[0] == args.family]
    if args.sample:
        types = types[:: args.sample]
    out_dir = args.out or Path(tempfile.mkdtemp(prefix="ipfs_accel_coverage_"))
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    # workers fork from a clean server that imported torch but ran nothing: a worker forked from this
    # process (which has imported model modules) hung once before its first model, with no CPU time
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "transformers"])
    results = []
    with context.Pool(args.jobs, maxtasksperchild=10) as pool:
        work = [(t, str(out_dir), args.timeout, backends) for t in types]
        for result in pool.imap_unordered(check_model, work):
            results.append(result)
            if args.verbose:
                print(f"{'PASS' if result['ok'] else 'FAIL'} {result['model_type']} "
                      f"({result['family']}, {result['seconds']}s) {result.get('reason', '')}",
                      flush=True)
    elapsed = time.perf_counter() - started
    results.sort(key=lambda r: r["model_type"])

    passed = [r for r in results if r["ok"]]
    print(f"\n{len(passed)} of {len(results)} model types pass their generated basic test on CPU "
          f"({elapsed:.0f}s, {args.jobs} workers)\n")
    print(f"{'family':<18}{'passed':>8}{'tried':>8}")
    by_family = collections.Counter(r["family"] for r in passed)
    tried = collections.Counter(r["family"] for r in results)
    for family in (*FAMILIES, None):
        if tried[family]:
            print(f"{family or '(no family)':<18}{by_family[family]:>8}{tried[family]:>8}")
    text_only = [r["model_type"] for r in passed if r.get("text_only")]
    if tried["multimodal"]:
        print(f"\nmultimodal: {by_family['multimodal'] - len(text_only)} pass with images and text, "
              f"{len(text_only)} on text alone (no image layout the generator knows fits): "
              f"{', '.join(text_only)}")

    modules = [r["module"] for r in results if r.get("module")]
    if modules:
        ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--quiet", "--output-format=concise",
                               *modules], capture_output=True, text=True, cwd=REPO)
        findings = [line for line in ruff.stdout.splitlines() if ".py:" in line]
        dirty = {line.split(":", 1)[0] for line in findings}
        print(f"\nruff check on {len(modules)} generated modules: {len(modules) - len(dirty)} clean")
        for line in findings:
            print(f"    {line.rsplit('/', 1)[-1]}")  # module:line:col: code message

    for backend in backends[1:]:
        report_backend(results, backend)

    failures = [r for r in results if not r["ok"]]
    by_cause = collections.Counter(r.get("cause", "generator") for r in failures)
    print(f"\n{len(failures)} cpu failures by cause: {dict(by_cause)} (model: the model's own behaviour; "
          "environment: a library it needs is missing; generator: the generated inputs, config or checks)")
    for cause in ("generator", "model", "environment"):
        group = [r for r in failures if r.get("cause", "generator") == cause]
        if not group:
            continue
        categories = collections.Counter(_category(f"{r['stage']}: {r['reason']}") for r in group)
        print(f"\ntop cpu failure reasons, {cause} ({len(group)}):")
        for reason, count in categories.most_common(15 if cause == "generator" else 5):
            print(f"{count:>5}  {reason}")
    print("\nevery failure:")
    for r in failures:
        print(f"  {r['model_type']:<36} {r['family'] or '-':<16} {r.get('cause', 'generator'):<11} "
              f"{r['stage']:<8} {r['reason']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
