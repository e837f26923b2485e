# Two commands for a fresh clone:  `make demo` (the main job) and `make test` (the tests).
# Both create .venv on first use: CPU torch from the local wheel, then the project.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR := generated/demo
DEMO_MODELS := bert gpt2 t5 vit whisper clip
# schemathesis and hypothesis (test extras) register pytest plugins that cost every
# pytest start ~1.5 s of CPU; nothing here needs them as plugins
export PYTEST_ADDOPTS ?= -p no:schemathesis -p no:hypothesispytest

.PHONY: demo test venv lint clean browser-assets

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and pinned: a loose spec would pull a multi-GB CUDA build
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# The main job: generate tests for six tiny models, run them on every usable
# backend into the embedded DuckDB store, and show the run.
demo: $(STAMP)
	$(BIN)/ipfs-accel generate $(DEMO_MODELS) --test-type basic --out $(DEMO_DIR) --force
	$(BIN)/python -m pytest $(DEMO_DIR) -q -rfE -n 2 -p no:cacheprovider --ipfs-hw=all \
		--ipfs-db=.ipfs_accel/results.duckdb --ipfs-run-id=$$(date -u +demo-%Y%m%dT%H%M%S-$$$$) ; \
		status=$$?; $(BIN)/ipfs-accel report --db .ipfs_accel/results.duckdb; exit $$status

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q --durations=25

# onnxruntime-web for the wasm/webgpu/webnn backends, from npm into ~/.cache/ipfs-accel/browser
# (idempotent; never done at test time)
browser-assets: $(STAMP)
	$(BIN)/ipfs-accel browser install

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .ipfs_accel generated
