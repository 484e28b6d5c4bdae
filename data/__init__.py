"""Datasets: the embedded synthetic dataset, layout tools, download scripts."""
