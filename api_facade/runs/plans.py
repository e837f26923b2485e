"""What each kind of job does, step by step (test run, benchmark run, generator task, workflow).

A plan returns the job's final ``(status, reason)`` or raises
:class:`~api_facade.runs.context.StepFailed` / :class:`~api_facade.runs.context.Stopped`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from api_facade.runs.context import RunContext, StepFailed
from api_facade.runs.module_writer import GenerationError, WrittenModule, write_test_module


async def write_modules(ctx: RunContext, models: list[str], test_type: str, *, force: bool) -> list[str]:
    """Write test modules for ``models`` under the generated folder; returns paths relative to the suite root."""
    settings = ctx.manager.settings
    paths: list[str] = []
    for model in models:
        ctx.check()
        try:
            made = await _cancellable(ctx, model, test_type, force=force)
        except GenerationError as exc:
            raise StepFailed("error", str(exc)) from None
        relative = made.path.relative_to(settings.suite_root).as_posix()
        ctx.publish({"$report_type": "GeneratedFile", "model": model, "test_type": test_type,
                     "path": relative, "written": made.written})
        paths.append(relative)
        if relative not in ctx.job.files:
            ctx.job.files.append(relative)
    return paths


async def _cancellable(ctx: RunContext, model: str, test_type: str, *, force: bool) -> WrittenModule:
    """One generation under the write lock; a cancel or timeout stops waiting for it.

    A generation still waiting for the lock is withdrawn.  One already in its
    thread cannot be stopped: it finishes (holding the lock, so no other
    generation writes the same file meanwhile) while the job ends at once.
    """
    started = False

    async def locked() -> WrittenModule:
        nonlocal started
        async with ctx.manager.write_lock:
            started = True
            return await asyncio.to_thread(write_test_module, model, test_type, ctx.manager.settings.generated_dir,
                                           force=force)

    task = asyncio.ensure_future(locked())
    stop = asyncio.ensure_future(ctx.cancelled.wait())
    timeout = None if ctx.deadline is None else max(ctx.deadline - asyncio.get_running_loop().time(), 0)
    try:
        await asyncio.wait({task, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if not task.done():
        if started:
            task.add_done_callback(_consume)
        else:
            task.cancel()
        ctx.check()
        raise ctx.stop or StepFailed("error", "generation was interrupted")
    return task.result()


def _consume(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()  # an abandoned generation's failure is not worth a loop warning


def shape_filter(batch_sizes: list[int], seq_lens: list[int], dtype: str) -> str:
    """A ``-k`` expression selecting the generated benchmark cases of these shapes.

    Generated benchmark cases have ids ``b<batch>-<s|i|f|a><size>-<dtype>``
    (sequence length, image size, frames or samples).
    """
    batches = " or ".join(f"b{b}-" for b in batch_sizes)
    sizes = " or ".join(f"-{p}{s}-" for s in seq_lens for p in "sifa")
    return f"({batches}) and ({sizes}) and -{dtype}"


def bench_options(request: dict[str, Any]) -> list[str]:
    """The ``ipfs_bench`` options a benchmark request sets, plus the case selection."""
    options = ["-k", shape_filter(request["batch_sizes"], request["seq_lens"], request["dtype"])]
    for key, option in (("max_time_s", "--ipfs-bench-max-time"), ("min_rounds", "--ipfs-bench-min-rounds"),
                        ("max_rounds", "--ipfs-bench-max-rounds")):
        if request.get(key) is not None:
            options.append(f"{option}={request[key]}")
    return options


def bench_env(request: dict[str, Any]) -> dict[str, str]:
    """The generated benchmark module's sweep, set to the requested shapes (see its ``sweep_sizes``)."""
    return {"IPFS_ACCEL_BENCH_BATCH_SIZES": ",".join(map(str, request["batch_sizes"])),
            "IPFS_ACCEL_BENCH_SEQ_LENS": ",".join(map(str, request["seq_lens"]))}


def _pytest_outcome(ctx: RunContext, code: int) -> tuple[str, str | None]:
    ctx.job.exit_code = code
    status, reason = ctx.exit_reason(code)
    if status == "failed":
        failures = [t for t in ctx.job.progress.rows() if t["outcome"] in ("failed", "error")]
        if failures:
            first = failures[0]
            message = f": {first['message']}" if first.get("message") else ""
            reason = f"{len(failures)} test(s) failed; first: {first['nodeid']}{message}"[:500]
    return status, reason


async def test_plan(ctx: RunContext) -> tuple[str, str | None]:
    request = ctx.job.request
    targets = list(request.get("targets") or [])
    if request.get("models"):
        targets += await ctx.step(
            "generate", lambda: write_modules(ctx, request["models"], request.get("test_type", "basic"), force=True)
        )
    code = await ctx.pytest(targets, hardware=request.get("hardware"), workers=request.get("workers", 0),
                            executor=request.get("executor", "local"), shards=request.get("shards"))
    return _pytest_outcome(ctx, code)


async def benchmark_plan(ctx: RunContext) -> tuple[str, str | None]:
    request = ctx.job.request
    files = await ctx.step("generate", lambda: write_modules(ctx, request["models"], "benchmark", force=True))
    code = await ctx.pytest(files, hardware=request.get("hardware"), extra=bench_options(request),
                            env=bench_env(request))
    status, reason = _pytest_outcome(ctx, code)
    if code == 5:
        reason = (f"no benchmark case matched batch sizes {request['batch_sizes']}, sizes "
                  f"{request['seq_lens']} and dtype {request['dtype']} (vision and fixed-length speech models have one input size: their module's BENCH_SIZES)")
    return status, reason


async def generate_plan(ctx: RunContext) -> tuple[str, str | None]:
    request = ctx.job.request
    models = request.get("models") or [request["model"]]
    await write_modules(ctx, models, request.get("test_type", "basic"), force=bool(request.get("force")))
    return "passed", None


async def workflow_plan(ctx: RunContext) -> tuple[str, str | None]:
    """generate -> test -> benchmark; the first step that does not pass ends the chain."""
    request = ctx.job.request
    model = request["model"]
    hardware = request.get("hardware")

    async def make() -> list[str]:
        return [
            *await write_modules(ctx, [model], request.get("test_type", "basic"), force=True),
            *await write_modules(ctx, [model], "benchmark", force=True),
        ]

    test_file, bench_file = await ctx.step("generate", make)

    async def run_step(targets: list[str], suffix: str, extra: list[str] | None = None) -> None:
        code = await ctx.pytest(targets, hardware=hardware, extra=extra, suffix=suffix, env=bench_env(request))
        status, reason = _pytest_outcome(ctx, code)
        if status != "passed":
            raise StepFailed(status, reason or status)

    await ctx.step("test", lambda: run_step([test_file], "-test"))
    await ctx.step("benchmark", lambda: run_step([bench_file], "-bench", bench_options(request)))
    ctx.job.exit_code = 0
    return "passed", None


def failed_step(steps: list[dict[str, Any]]) -> str | None:
    return next((s["step"] for s in steps if s.get("status") not in ("passed", "running")), None)

