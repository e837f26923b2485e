#!/usr/bin/env bash
# The GPU proof, run on a machine with an NVIDIA GPU (the device tool's machine, or a
# workstation): hardware detection, the generated suites on cpu+cuda under xdist, the
# generated benchmarks on cuda, and ipfs_bench against independent CUDA events.
# Writes logs and the DuckDB file to ${OUT:-gpu-check-out}.  Runs the plugin without
# installing it (PYTHONPATH=.); duckdb and pytz come from .whl/ when present.
set -uo pipefail
OUT=${OUT:-gpu-check-out}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD
fi
# load the plugin by module name only where it is not installed (entry point ipfs_accel)
if python3 -c "import sys, importlib.metadata as m; sys.exit(any(e.name == 'ipfs_accel' for e in m.entry_points(group='pytest11')))"; then
    PLUGIN="-p pytest_ipfs_accel.plugin"
else
    PLUGIN=""
fi
export PYTHONUNBUFFERED=1 PYTEST_ADDOPTS="$PLUGIN -p no:cacheprovider"
DB="$OUT/gpu.duckdb"
step() { echo; echo "===== $*"; }

step "environment"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"

step "ipfs-accel hardware"
python3 -m pytest_ipfs_accel hardware --json > "$OUT/hardware.json"; python3 -m pytest_ipfs_accel hardware

step "generate basic + comprehensive + benchmark suites"
G=/tmp/gpu-suites
rm -rf "$G"
python3 -m pytest_ipfs_accel generate bert gpt2 t5 vit whisper clip --test-type basic --out "$G/basic" --force
python3 -m pytest_ipfs_accel generate bert gpt2 t5 vit whisper clip --test-type comprehensive --out "$G/comprehensive" --force
python3 -m pytest_ipfs_accel generate bert gpt2 --test-type benchmark --out "$G/bench" --force

step "basic + comprehensive on cpu,cuda with -n 6"
timeout 200 python3 -m pytest "$G/basic" "$G/comprehensive" -q -n 6 --ipfs-hw=cpu,cuda --ipfs-db="$DB" \
    --ipfs-run-id=gpu-correctness -rfE 2>&1 | tail -40

step "generated benchmarks on cuda with -n 2 (benchmarks share the GPU: serialized)"
timeout 150 python3 -m pytest "$G/bench" -q -n 2 --ipfs-hw=cuda --ipfs-db="$DB" --ipfs-run-id=gpu-bench \
    --ipfs-bench-max-time=0.3 -rfE 2>&1 | tail -45

step "report"
python3 -m pytest_ipfs_accel report --db "$DB" --run gpu-correctness
python3 -m pytest_ipfs_accel report --db "$DB" --run gpu-correctness --matrix
python3 -m pytest_ipfs_accel report --db "$DB" --run gpu-bench

step "ipfs_bench vs independent CUDA events (tiny BERT forward)"
PYTEST_ADDOPTS="-p no:cacheprovider" timeout 100 python3 benchmarks/bench_cuda.py --json "$OUT/bench_cuda.json" 2>&1 | tail -20

step "recording overhead on this machine's CPUs (10,000 trivial tests, paired runs)"
PYTEST_ADDOPTS="-p no:cacheprovider" timeout "${OVERHEAD_TIMEOUT:-120}" python3 benchmarks/recording_overhead.py --pairs "${OVERHEAD_PAIRS:-9}" 2>&1 | tail -12
