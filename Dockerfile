# The image every Vertex AI / Kubeflow pipeline step runs in, and every Dataflow worker too.
# Build and push it with `make push-image` (the tag is the vertex profile's `image` in pipeline_config.yaml).
# Versions are the lock's: tests/pipeline/test_container.py fails when these ARGs and requirements.lock disagree.
ARG TFX_VERSION=1.16.0
ARG BEAM_VERSION=2.60.0
ARG PYTHON_VERSION=3.10

# Beam's worker boot program from the SDK image of the Beam version the lock pins, so that
# Dataflow can run this image as its SDK container (--sdk_container_image, runner v2).
FROM apache/beam_python${PYTHON_VERSION}_sdk:${BEAM_VERSION} AS beam-sdk

# The official TFX image: GPU-enabled TensorFlow (CUDA) on a Deep Learning Containers base.
FROM tensorflow/tfx:${TFX_VERSION}
ARG PYTHON_VERSION
COPY --from=beam-sdk /opt/apache/beam /opt/apache/beam

# TF 2.16's tf.keras is Keras 3; TFT's layers and the exported generator use Keras 2 (tf_keras).
ENV TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/pix2pix \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /pix2pix

# jemalloc: `python -m pipeline run` in this image (profiles.local.memory_allocator: auto) preloads it, which
# keeps the one-process Trainer's memory flat as data grows (docs/benchmarks.md#scale). Remote steps run one
# component per process and do not need it; nothing is preloaded for them.
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 && rm -rf /var/lib/apt/lists/*

# Exactly the versions `make setup` installs. Dependencies before code: this layer survives code changes.
COPY requirements.lock ./
RUN python -c "import sys; v = '%d.%d' % sys.version_info[:2]; \
assert v == '${PYTHON_VERSION}', 'base image has Python ' + v + ', requirements.lock is for ${PYTHON_VERSION}'" \
 && python -m pip install --no-cache-dir -r requirements.lock

# Module code is referenced by dotted path (components.trainer.run_fn.run_fn, ...), so it lives in the image.
COPY pipeline_config.yaml ./
COPY pipeline/ pipeline/
COPY components/ components/
COPY data/ data/
COPY serving/ serving/
RUN python -c "import components.example_gen.executor, components.transform.preprocessing, \
components.trainer.run_fn, components.evaluator.component, components.pusher.executor"

# The git commit the image was built from: each pushed version's lineage record names it (no .git in here).
ARG CODE_VERSION=unknown
ENV PIX2PIX_CODE_VERSION=${CODE_VERSION}

# Pipeline steps override the command (TFX's Kubeflow V2 executor); Dataflow starts the Beam worker.
ENTRYPOINT ["/opt/apache/beam/boot"]
