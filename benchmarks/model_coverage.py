"""How many transformers architectures the generators cover, for real.

For every model type in transformers' base model mapping (MODEL_MAPPING_NAMES)
this resolves the type, renders its ``basic`` test module, writes it to disk,
imports it and runs its test on the CPU: the generated module builds its tiny
model and runs ``test_forward`` exactly as pytest would (the ``model`` fixture's
work, a deep copy moved to the CPU, is done here). It prints how many pass, by
family, with the reason for each failure.

    python benchmarks/model_coverage.py [--jobs 2] [--json out.json] [--only bert gpt2]

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


class ModelTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise ModelTimeout("timed out")


def _reason(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:200]}"


def check_model(args: tuple[str, str, int]) -> dict:
    """Generate, import and run the basic test of one model type."""
    model_type, out_dir, timeout = args
    import torch

    from generators.render import module_filename, render
    from generators.resolve import resolve

    torch.set_num_threads(1)
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
        result["stage"] = "build"
        model = module.build_model().to("cpu")
        result["stage"] = "forward"
        module.test_forward(model)
        result["ok"] = True
        result["stage"] = "passed"
    except BaseException as exc:  # report every failure with its reason, never stop
        result["reason"] = _reason(exc)
        result["where"] = traceback.extract_tb(exc.__traceback__)[-1].filename.rsplit("/", 1)[-1]
    finally:
        signal.alarm(0)
    result["seconds"] = round(time.perf_counter() - start, 3)
    return result


def _category(reason: str) -> str:
    """Group similar failure reasons: numbers and quoted names stripped."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", reason)
    return re.sub(r"\d+", "N", text)[:120]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per model")
    parser.add_argument("--only", nargs="*", help="these model types instead of all")
    parser.add_argument("--json", type=Path, help="also write every result to this file")
    parser.add_argument("--out", type=Path, help="keep the generated modules in this directory")
    parser.add_argument("--verbose", action="store_true", help="print each model as it finishes")
    args = parser.parse_args(argv)

    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    from generators.families import FAMILIES

    types = args.only or sorted(MODEL_MAPPING_NAMES)
    out_dir = args.out or Path(tempfile.mkdtemp(prefix="ipfs_accel_coverage_"))
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    context = multiprocessing.get_context("fork")
    results = []
    with context.Pool(args.jobs, maxtasksperchild=10) as pool:
        work = [(t, str(out_dir), args.timeout) for t in types]
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

    modules = [r["module"] for r in results if r.get("module")]
    if modules:
        ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--quiet", *modules],
                              capture_output=True, text=True, cwd=REPO)
        dirty = {line.split(":", 1)[0] for line in ruff.stdout.splitlines() if ".py:" in line}
        print(f"\nruff check on {len(modules)} generated modules: {len(modules) - len(dirty)} clean")

    failures = [r for r in results if not r["ok"]]
    categories = collections.Counter(_category(f"{r['stage']}: {r['reason']}") for r in failures)
    print(f"\ntop failure reasons ({len(failures)} failures):")
    for reason, count in categories.most_common(15):
        print(f"{count:>5}  {reason}")
    print("\nevery failure:")
    for r in failures:
        print(f"  {r['model_type']:<36} {r['family'] or '-':<16} {r['stage']:<8} {r['reason']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
