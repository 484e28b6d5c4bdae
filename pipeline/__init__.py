"""The pix2pix-tfx pipeline: config, definition, runners and CLI.

TF 2.16 ships Keras 3 as ``tf.keras`` but TFT's ``TransformFeaturesLayer`` is a
``tf_keras`` (Keras 2) layer, so every process that imports this package uses
legacy Keras. The variable must be set before TensorFlow is first imported.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
