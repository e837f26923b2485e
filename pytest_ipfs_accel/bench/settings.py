"""The benchmark settings (how long and how precisely to measure), apart from the measuring loop.

Its own module so that the options (:mod:`.options`, parsed at every session's
configure) build a :class:`Settings` without importing the loop (:mod:`.timing`),
which only a session that benchmarks needs; :mod:`.timing` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """How long and how precisely to measure.

    Rounds continue until ``rounds >= min_rounds`` and either ``max_time`` of
    timed rounds has passed or the 95% confidence half-width of the mean is
    within ``precision`` (a fraction; 0 disables it), and never beyond
    ``max_rounds`` (which bounds the raw samples stored).  A round lasts at
    least ``min_time`` seconds and 1000 times the timer's resolution.
    """

    max_time: float = 1.0
    min_rounds: int = 5
    max_rounds: int = 10_000
    min_time: float = 20e-6
    warmup: int = 2  # warm-up rounds, after calibration, with the calibrated iterations
    precision: float = 0.0
    pin_cpu: bool = False  # keep the measuring thread on one CPU during warm-up and rounds

    def __post_init__(self) -> None:
        if not self.max_time > 0:
            raise ValueError(f"max time must be > 0 seconds, got {self.max_time}")
        if self.min_rounds < 1:
            raise ValueError(f"min rounds must be >= 1, got {self.min_rounds}")
        if self.max_rounds < self.min_rounds:
            raise ValueError(
                f"max rounds ({self.max_rounds}) must be >= min rounds ({self.min_rounds})"
            )
        if self.min_time < 0:
            raise ValueError(f"min time must be >= 0 seconds, got {self.min_time}")
        if self.warmup < 0:
            raise ValueError(f"warm-up rounds must be >= 0, got {self.warmup}")
        if not 0 <= self.precision < 1:
            raise ValueError(f"precision must be a fraction in [0, 1), got {self.precision}")
