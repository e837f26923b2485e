"""The measurement loop and its settings: priming, calibration, warm-up, timed rounds.

Every sample is *seconds per call*: a round runs the callable ``iterations``
times between two timestamps and its time is divided by ``iterations``.  For
short callables the iterations per round are calibrated so that a round lasts
at least ``min_time`` (and many times the timer's own overhead), which keeps the
timer's resolution and the cost of reading it out of the figures.  Setup code
never runs inside a round, and nothing in the timed region frees or resets the
allocator.  The timers themselves are in :mod:`.timers`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from pytest_ipfs_accel.bench.settings import Settings
from pytest_ipfs_accel.bench.timers import PerfCounterTimer, Timer

_perf_counter = time.perf_counter


def _current_cpu() -> int | None:
    """The CPU this thread runs on now (field 39 of /proc/thread-self/stat), None if unknown."""
    try:
        with open("/proc/thread-self/stat", encoding="ascii") as fh:
            text = fh.read()
        return int(text.rsplit(")", 1)[1].split()[36])
    except (OSError, ValueError, IndexError):
        return None


@contextmanager
def pinned_to_current_cpu(enabled: bool = True) -> Iterator[int | None]:
    """Keep the calling thread on the CPU it is on, restoring its affinity afterwards.

    Opt-in (``--ipfs-bench-pin-cpu``): it keeps the scheduler from moving the
    measuring thread between CPUs mid-measurement (cold caches after each move).
    It is off by default because threads started while it holds inherit the pin:
    a thread pool that a callable starts lazily after the untimed priming call
    would then crowd onto one CPU (docs/benchmarks.md says what it did and did
    not change where measured).  Yields the CPU, or None where affinity cannot be
    set (non-Linux, a single allowed CPU).
    """
    if not enabled or not hasattr(os, "sched_setaffinity"):
        yield None
        return
    try:
        allowed = os.sched_getaffinity(0)
        cpu = _current_cpu()
        if cpu is None or cpu not in allowed or len(allowed) == 1:
            yield None
            return
        os.sched_setaffinity(0, {cpu})
    except OSError:
        yield None
        return
    try:
        yield cpu
    finally:
        try:
            os.sched_setaffinity(0, allowed)
        except OSError:
            pass  # the allowed set changed under us (cgroup update): nothing sane to restore


@dataclass
class Measurement:
    """Raw result of a measurement."""

    samples: list[float]  # seconds per call, one per round, in round order
    wall_samples: list[float]  # the same rounds' wall time per call
    iterations: int
    warmup_rounds: int
    timer: str
    result: Any = None
    elapsed_s: float = 0.0  # wall time of the timed rounds together
    notes: dict[str, Any] = field(default_factory=dict)


def make_loop(fn: Callable[..., Any], args: tuple, kwargs: dict) -> Callable[[int], None]:
    """A callable running ``fn(*args, **kwargs)`` n times with the least overhead per call.

    The argument-free case avoids argument unpacking, and ``itertools.repeat``
    is the cheapest loop counter Python has, so an empty callable costs only the
    interpreter's call overhead (tens of nanoseconds).
    """
    if not args and not kwargs:

        def loop(n: int) -> None:
            for _ in repeat(None, n):
                fn()

    elif not kwargs:

        def loop(n: int) -> None:
            for _ in repeat(None, n):
                fn(*args)

    else:

        def loop(n: int) -> None:
            for _ in repeat(None, n):
                fn(*args, **kwargs)

    return loop


def calibrate(timer: Timer, loop: Callable[[int], None], target: float, budget: float) -> int:
    """Iterations per round so that a round lasts at least ``target`` seconds.

    Grows tenfold until a round is long enough to estimate from (a tenth of the
    target), then scales to the target with a 20% margin.  Gives up growing once
    ``budget`` seconds have been spent, keeping the last count.
    """
    iterations = 1
    started = _perf_counter()
    while True:
        elapsed, _, _ = timer.run_round(lambda n=iterations: loop(n))
        if elapsed >= target and iterations == 1:
            return 1  # a single call outlasts the target: nothing to calibrate
        for _ in range(2):
            # the fastest of three: one interrupted round must not stop the growth early
            again, _, _ = timer.run_round(lambda n=iterations: loop(n))
            elapsed = min(elapsed, again)
        if elapsed >= target:
            return iterations
        if _perf_counter() - started > budget:
            return iterations
        if elapsed >= target / 10:
            return max(iterations + 1, math.ceil(iterations * target * 1.2 / elapsed))
        iterations *= 10


def _z95() -> float:
    return 1.959963984540054


def measure(
    fn: Callable[..., Any],
    args: tuple = (),
    kwargs: dict | None = None,
    *,
    timer: Timer,
    settings: Settings,
    on_timed_start: Callable[[], None] | None = None,
) -> Measurement:
    """Time ``fn`` automatically: one priming call, calibration, warm-up, then timed rounds.

    ``on_timed_start`` runs just before the first timed round, outside any round
    (used to reset peak-memory counters).  The returned ``result`` is that of the
    priming call.
    """
    kwargs = kwargs or {}
    loop = make_loop(fn, args, kwargs)
    # The first call pays one-time costs (lazy init, kernel selection, caches):
    # keep it out of calibration and out of the samples.
    result = fn(*args, **kwargs)
    # Rounds as short as the timer allows: a long round is more likely to
    # contain a preemption or an interrupt, and the median of short rounds is
    # what stays stable on a busy machine.
    target = max(settings.min_time, timer.resolution * 1000)  # timer error <= 0.1% of a round
    iterations = calibrate(timer, loop, target, budget=max(settings.max_time, 0.1))

    # The common case for slow callables (one call per round, no arguments) calls
    # fn itself between the clock reads: no wrapper frames at all.
    body: Callable[[], Any] = (
        fn if iterations == 1 and not args and not kwargs else (lambda: loop(iterations))
    )
    with pinned_to_current_cpu(settings.pin_cpu) as cpu:
        for _ in range(settings.warmup):
            timer.run_round(body)
        samples, wall, started = _timed_rounds(timer, body, iterations, settings, on_timed_start)
    return Measurement(
        samples=samples,
        wall_samples=wall,
        iterations=iterations,
        warmup_rounds=settings.warmup,
        timer=timer.name,
        result=result,
        elapsed_s=_perf_counter() - started,
        notes={"round_target_s": target, "pinned_cpu": cpu},
    )


def _host_rounds(body: Callable[[], Any], min_rounds: int, max_rounds: int, deadline: float) -> list[float]:
    """Round durations of ``body`` on the host clock, with the least work between rounds.

    Work between rounds slows the *next* round of a short Python callable (see
    docs/benchmarks.md), so this loop does only two clock reads and an append
    plus two comparisons, and uses the round's end time for the budget check.
    """
    pc = _perf_counter
    durations: list[float] = []
    append = durations.append
    n = 0
    while True:
        t0 = pc()
        body()
        t1 = pc()
        append(t1 - t0)
        n += 1
        if n >= max_rounds or (n >= min_rounds and t1 >= deadline):
            return durations


def _timed_rounds(
    timer: Timer,
    body: Callable[[], Any],
    iterations: int,
    settings: Settings,
    on_timed_start: Callable[[], None] | None,
) -> tuple[list[float], list[float], float]:
    """Timed rounds until the stopping rule of ``settings``; (samples, wall samples, start time)."""
    if on_timed_start is not None:
        on_timed_start()
    if isinstance(timer, PerfCounterTimer) and not settings.precision:
        started = _perf_counter()
        rounds = _host_rounds(body, settings.min_rounds, settings.max_rounds, started + settings.max_time)
        samples = [r / iterations for r in rounds]
        return samples, list(samples), started
    samples: list[float] = []
    wall: list[float] = []
    mean = m2 = 0.0  # Welford running mean / sum of squares, for the precision target
    started = _perf_counter()
    n = 0
    while True:
        elapsed, wall_elapsed, _ = timer.run_round(body)
        per_call = elapsed / iterations
        samples.append(per_call)
        wall.append(wall_elapsed / iterations)
        n += 1
        if settings.precision:
            delta = per_call - mean
            mean += delta / n
            m2 += delta * (per_call - mean)
        if n >= settings.max_rounds:
            break
        if n < settings.min_rounds:
            continue
        if _perf_counter() - started >= settings.max_time:
            break
        if settings.precision and n >= 2 and mean > 0:
            half_width = _z95() * math.sqrt(m2 / (n - 1)) / math.sqrt(n)
            if half_width / mean <= settings.precision:
                break
    return samples, wall, started


def measure_pedantic(
    fn: Callable[..., Any],
    args: tuple = (),
    kwargs: dict | None = None,
    *,
    timer: Timer,
    setup: Callable[[], Any] | None = None,
    rounds: int = 1,
    iterations: int = 1,
    warmup_rounds: int = 0,
    on_timed_start: Callable[[], None] | None = None,
    pin_cpu: bool = False,
) -> Measurement:
    """Time ``fn`` with explicit rounds and iterations, ``setup`` before each round, untimed.

    ``setup`` may return ``(args, kwargs)`` to use for that round (then ``args``
    and ``kwargs`` must be empty), as with pytest-benchmark's ``pedantic``.
    The returned ``result`` is that of the last timed call.
    """
    if not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be a positive int, got {rounds!r}")
    if not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be a positive int, got {iterations!r}")
    if not isinstance(warmup_rounds, int) or warmup_rounds < 0:
        raise ValueError(f"warmup_rounds must be a non-negative int, got {warmup_rounds!r}")
    if setup is not None and iterations > 1:
        raise ValueError("iterations > 1 cannot be combined with setup (setup runs once per round)")
    kwargs = kwargs or {}
    has_args = bool(args or kwargs)

    def arguments() -> tuple[tuple, dict]:
        if setup is None:
            return args, kwargs
        produced = setup()
        if produced is None:
            return args, kwargs
        if has_args:
            raise TypeError("setup returned arguments, so args/kwargs must not be given too")
        try:
            new_args, new_kwargs = produced
        except (TypeError, ValueError):
            raise TypeError(
                f"setup must return None or (args, kwargs), got {type(produced).__name__}"
            ) from None
        return tuple(new_args), dict(new_kwargs or {})

    def one_round() -> tuple[float, float, Any]:
        round_args, round_kwargs = arguments()  # outside the timed region
        if iterations == 1:
            return timer.run_round(lambda: fn(*round_args, **round_kwargs))
        loop = make_loop(fn, round_args, round_kwargs)
        return timer.run_round(lambda: loop(iterations))

    samples: list[float] = []
    wall: list[float] = []
    result = None
    with pinned_to_current_cpu(pin_cpu) as cpu:
        for _ in range(warmup_rounds):
            one_round()
        if on_timed_start is not None:
            on_timed_start()
        started = _perf_counter()
        for _ in range(rounds):
            elapsed, wall_elapsed, result = one_round()
            samples.append(elapsed / iterations)
            wall.append(wall_elapsed / iterations)
        elapsed_s = _perf_counter() - started
    if iterations > 1:
        # the loop discards results; one more (untimed) call gives the caller its value
        round_args, round_kwargs = arguments()
        result = fn(*round_args, **round_kwargs)
    return Measurement(
        samples=samples,
        wall_samples=wall,
        iterations=iterations,
        warmup_rounds=warmup_rounds,
        timer=timer.name,
        result=result,
        elapsed_s=elapsed_s,
        notes={"pinned_cpu": cpu},
    )
