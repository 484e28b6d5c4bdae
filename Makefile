# pix2pix-tfx: `make run` runs the whole pipeline, `make test` runs the tests.
# Both set up the Python 3.10 virtualenv from the lock file first, once.
SHELL := /bin/bash
PYTHON ?= python3.10
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?= pipeline_config.yaml
ARGS ?=
TEST_WORKERS ?= 2
PROFILE ?= vertex
COMPILED_VERTEX := build/pix2pix_pipeline.json
COMPILED_KUBEFLOW := build/pix2pix_pipeline.yaml
# The image tag comes from the profile in the config: one source of truth.
IMAGE = $(shell $(PY) -m pipeline image --config $(CONFIG) --profile $(PROFILE))

# TF 2.16's tf.keras is Keras 3; TFT's TransformFeaturesLayer needs Keras 2 (tf_keras).
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: setup run test test-fast bench demo lock clean help compile-vertex compile-kubeflow build-image push-image simulate-spans

help:
	@echo "make run    - set up if needed, generate the embedded dataset if absent, run the pipeline"
	@echo "make test   - set up if needed, run the test suite"
	@echo "make test-fast - the unit tests only (no e2e or slow marker), for the edit-test loop"
	@echo "make bench  - benchmarks (not tests): train step, serving latency, tiled serving, ingestion, TFLite, update order, pipeline scale 1x/4x/16x (~20 min); tables in benchmarks/results/"
	@echo "make simulate-spans - three scheduled runs here as spans arrive (about 10 min): build/span_simulation/"
	@echo "make demo   - a local web page to try the newest pushed model (after make run): http://127.0.0.1:8080/"
	@echo "make compile-vertex   - compile the pipeline for Vertex AI Pipelines -> $(COMPILED_VERTEX) (offline)"
	@echo "make compile-kubeflow - compile it for Kubeflow Pipelines v2 -> $(COMPILED_KUBEFLOW) (offline)"
	@echo "make push-image       - build the pipeline's container image and push it (tag: PROFILE's image)"
	@echo "make lock   - re-resolve requirements.in into requirements.lock"
	@echo "make clean  - remove pipeline outputs (build/, serving_model/), keep the venv"

setup: $(STAMP)

$(STAMP): requirements.lock
	@command -v $(PYTHON) >/dev/null 2>&1 && $(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null || { \
	  echo "error: $(PYTHON) (Python 3.10) is required: TFX 1.16 supports Python 3.9-3.10 only." >&2; \
	  echo "       Install it (e.g. 'pyenv install 3.10') or point to one: make PYTHON=/path/to/python3.10" >&2; \
	  exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing the locked dependencies into $(VENV) (a few minutes, once)..."
	@# (this machine's pip config lists local indexes that may be absent: drop those warnings)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock \
	  2> >(grep -v "is neither a file nor a directory" >&2)
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m pipeline run --config $(CONFIG) $(ARGS)

# The suite in TEST_WORKERS processes (pytest-xdist), each test file whole in one of them: module
# fixtures (a pipeline run) are built once. TEST_WORKERS=0 runs it in this one process.
test: $(STAMP)
	$(PY) -m pytest tests -n $(TEST_WORKERS) --dist loadfile $(ARGS)

# The edit-test loop: unit tests only; `make test` (what CI runs) stays the full suite.
test-fast: $(STAMP)
	$(PY) -m pytest tests -m "not e2e and not slow" $(ARGS)

# Vertex AI / Kubeflow: the same pipeline, compiled offline; submit/schedule with `python -m pipeline`.
compile-vertex: $(STAMP)
	$(PY) -m pipeline compile --config $(CONFIG) --profile vertex --output $(COMPILED_VERTEX) $(ARGS)

compile-kubeflow: $(STAMP)
	$(PY) -m pipeline compile --config $(CONFIG) --profile kubeflow --output $(COMPILED_KUBEFLOW) $(ARGS)

build-image: $(STAMP)
	docker build --build-arg CODE_VERSION="$$(git rev-parse HEAD 2>/dev/null || echo unknown)" -t "$(IMAGE)" .

push-image: build-image
	docker push "$(IMAGE)"

# Continuous training, here: span 1 -> pushed; span 2 -> window, warm start, pushed if not worse; span 3 -> stopped.
simulate-spans: $(STAMP)
	$(PY) -m pipeline simulate-spans --config $(CONFIG) --fresh $(ARGS)

# A web page to try the newest pushed version (ARGS="--rest http://localhost:8501" to ask TF Serving instead).
demo: $(STAMP)
	$(PY) -m serving.demo $(ARGS)

# Benchmarks live apart from the tests: they print a table and write it to benchmarks/results/.
bench: $(STAMP)
	$(PY) -m benchmarks.train_step
	$(PY) -m benchmarks.serving_latency
	$(PY) -m benchmarks.ingestion
	$(PY) -m benchmarks.tiled_inference
	$(PY) -m benchmarks.tflite
	$(PY) -m benchmarks.update_order
	$(PY) -m benchmarks.scale

# Resolve the direct requirements afresh in a scratch venv and pin every package.
lock:
	rm -rf build/lock-venv && $(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/pip install --quiet -r requirements.in
	{ echo "# Full lock: every transitive package pinned. Regenerate with 'make lock' (see requirements.in)."; \
	  build/lock-venv/bin/pip freeze --all --exclude pip --exclude setuptools; } > requirements.lock
	rm -rf build/lock-venv

clean:
	rm -rf build serving_model
