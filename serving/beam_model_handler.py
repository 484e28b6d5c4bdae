"""A Beam RunInference ModelHandler that calls the SavedModel's ``serving_default`` signature.

Why not Beam's own ``TFModelHandlerTensor``: in this environment its module
does not even import (apache_beam.ml.inference.tensorflow_inference imports
tensorflow_hub 0.15, which needs ``tf.compat.v1.estimator``, gone in TF 2.16),
and it loads models with ``tf.keras.models.load_model`` and calls
``model(batch)``, while our export is a ``tf.Module`` whose contract is a named
signature (bytes in, PNG bytes out). This handler keeps RunInference's
machinery (one model per worker process shared across threads, dynamic
batching, metrics) and only changes how the model is loaded and called.

Elements are encoded image bytes; each inference is a ``Translation``: the
PNG, or the model's reason for refusing that one image.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, Optional, Sequence

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from serving.local_model import LocalGenerator

DEFAULT_MIN_BATCH_SIZE = 1
DEFAULT_MAX_BATCH_SIZE = 16
METRICS_NAMESPACE = "pix2pix_serving_default"


class ServingDefaultModelHandler(ModelHandler[bytes, PredictionResult, LocalGenerator]):
    """Loads ``model_dir`` once per worker and runs ``serving_default`` on batches of encoded images."""

    def __init__(self, model_dir: str, min_batch_size: int = DEFAULT_MIN_BATCH_SIZE,
                 max_batch_size: int = DEFAULT_MAX_BATCH_SIZE):
        if not 1 <= min_batch_size <= max_batch_size:
            raise ValueError(f"batch sizes: need 1 <= min ({min_batch_size}) <= max ({max_batch_size})")
        self._model_dir = model_dir
        self._batching = {"min_batch_size": min_batch_size, "max_batch_size": max_batch_size}

    def load_model(self) -> LocalGenerator:
        return LocalGenerator(self._model_dir)

    def run_inference(self, batch: Sequence[bytes], model: LocalGenerator,
                      inference_args: Optional[Dict[str, Any]] = None) -> Iterable[PredictionResult]:
        outcomes = model.translate_each(list(batch))
        return [PredictionResult(example=example, inference=outcome, model_id=self._model_dir)
                for example, outcome in zip(batch, outcomes)]

    def get_num_bytes(self, batch: Sequence[bytes]) -> int:
        return sum(len(example) for example in batch)

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE

    def batch_elements_kwargs(self) -> Dict[str, int]:
        return dict(self._batching)
