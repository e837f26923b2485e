"""Benchmarking: ``ipfs_bench``, device-correct timing, statistics, comparison, interop.

Modules, one job each:

- :mod:`.stats`: statistics of raw samples (percentiles, IQR, Tukey outliers).
- :mod:`.timers`: timers per device (perf_counter, CUDA events, synchronizing timers).
- :mod:`.timing`: the measuring loop (priming, calibration, warm-up, rounds) and its settings.
- :mod:`.device`: which device a benchmark ran on.
- :mod:`.memory`: peak memory of a timed region (device allocator or CPU RSS).
- :mod:`.lock`: the per-device inter-process lock that serializes benchmarks.
- :mod:`.fixture`: the ``ipfs_bench`` object a test calls.
- :mod:`.options`: the benchmark options, parsed and checked.
- :mod:`.plugin`: the hooks, the ``ipfs_bench`` fixture and the payload finalizer.
- :mod:`.session`: the session's results: summary table, JSON file, the gate.
- :mod:`.interop`: pytest-benchmark's ``benchmark`` fixture results and machine_info.
- :mod:`.compare`: the statistical comparison of two runs.
- :mod:`.backends`: the comparison of two backends within one run.
- :mod:`.threshold`: parsing ``PCT`` / ``STAT:PCT`` regression thresholds.
- :mod:`.pbjson`: pytest-benchmark JSON documents.
- :mod:`.summary`: text tables.

Nothing here imports torch at import time.
"""
