"""The pix2pix-tfx pipeline: config, definition, runners and CLI."""
import components  # noqa: F401 - components/__init__.py sets TF_USE_LEGACY_KERAS before TensorFlow loads
