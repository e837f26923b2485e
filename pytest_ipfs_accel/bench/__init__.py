"""Benchmarking: the ``ipfs_bench`` fixture, device-correct timing, statistics,
run comparison and pytest-benchmark interop.

Modules, one job each:

- :mod:`.stats`: statistics of raw samples (percentiles, IQR, Tukey outliers).
- :mod:`.timing`: timers per device (perf_counter, CUDA events, synchronizing
  timers) and the warm-up / calibration / round loop.
- :mod:`.memory`: peak memory of a timed region (device allocator or CPU RSS).
- :mod:`.lock`: the per-device inter-process lock that serializes benchmarks.
- :mod:`.fixture`: the ``ipfs_bench`` object a test calls.
- :mod:`.plugin`: options, the fixture, the terminal summary and the gate.
- :mod:`.interop`: pytest-benchmark's ``benchmark`` fixture results and machine_info.
- :mod:`.compare`: the statistical comparison of two runs.
- :mod:`.pbjson`: pytest-benchmark JSON documents.
- :mod:`.summary`: text tables.

Nothing here imports torch at import time.
"""
