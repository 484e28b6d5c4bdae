"""Warmup requests shipped inside each export: TF Serving replays them at load, so no user waits for the trace.

TF Serving reads ``<version>/assets.extra/tf_serving_warmup_requests``, a
TFRecord file of ``PredictionLog`` records, and runs each one before it marks
the version available. The first real request would otherwise pay for loading
the graph's kernels and growing its memory pools. The requests are small PNGs:
one at the training size and one non-square image a few tiles large, so both
the single-tile path and the tiled path (and their batch of tiles) are warm.
"""
from __future__ import annotations

import io
import os
from typing import List, Tuple

import numpy as np
import tensorflow as tf
from PIL import Image
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from components import features

WARMUP_DIR = "assets.extra"                      # TF Serving's name for extra files beside the SavedModel
WARMUP_FILE = "tf_serving_warmup_requests"       # TF Serving's name for the warmup records
WARMUP_SEED = 0


def warmup_images(image_size: int, channels: int) -> List[bytes]:
    """PNGs: one at the training size, one non-square of a few tiles (deterministic noise)."""
    rng = np.random.default_rng(WARMUP_SEED)
    sizes: List[Tuple[int, int]] = [(image_size, image_size), (image_size * 2 + image_size // 2, image_size * 3)]
    pngs = []
    for height, width in sizes:
        pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels[..., 0] if channels == 1 else pixels).save(buffer, format="PNG")
        pngs.append(buffer.getvalue())
    return pngs


def prediction_logs(model_name: str, images: List[bytes]) -> List[prediction_log_pb2.PredictionLog]:
    """One ``serving_default`` Predict request per image (as a client sends them: a batch of one)."""
    logs = []
    for encoded in images:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = features.SERVING_DEFAULT
        request.inputs[features.SERVING_INPUT_BYTES].CopyFrom(tf.make_tensor_proto([encoded], dtype=tf.string))
        logs.append(prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request)))
    return logs


def write_warmup_requests(export_dir: str, image_size: int, channels: int, model_name: str = "") -> str:
    """Writes the warmup file into the export; returns its path. TF Serving ignores model_spec.name here."""
    folder = os.path.join(export_dir, WARMUP_DIR)
    tf.io.gfile.makedirs(folder)
    path = os.path.join(folder, WARMUP_FILE)
    with tf.io.TFRecordWriter(path) as writer:
        for log in prediction_logs(model_name, warmup_images(image_size, channels)):
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(export_dir: str) -> List[prediction_log_pb2.PredictionLog]:
    path = os.path.join(export_dir, WARMUP_DIR, WARMUP_FILE)
    return [prediction_log_pb2.PredictionLog.FromString(record.numpy()) for record in tf.data.TFRecordDataset(path)]
