"""Serving: TF Serving setup and inference with the pushed generator."""
