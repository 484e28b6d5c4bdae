"""Pictures people would rather see than read: image grids and loss curves.

Drawn on matplotlib ``Figure`` objects (Agg, no pyplot): no display is needed
and no global backend state is touched, on servers, CI and in notebooks alike.
Files are written under a temporary name and renamed, so a reader (TensorBoard,
the report, a person refreshing a browser) never sees half a PNG.
"""
from __future__ import annotations

import os
import pathlib
import tempfile
import textwrap
from typing import Dict, List, Sequence, Tuple

import numpy as np
from matplotlib.figure import Figure

FIGURE_DPI = 100
GRID_CELL_INCHES = 2.6   # a 256x256 image shows at about its native size
GRID_LABEL_INCHES = 1.1
GRID_TITLE_INCHES = 0.4
LOSS_PANELS = (
    ("Generator", ("g_total",)),
    ("Generator terms", ("g_gan", "g_l1")),
    ("Discriminator", ("d_total", "d_real", "d_fake")),
)


def save_image_grid(output_path, rows: Sequence[Tuple[str, List[np.ndarray]]],
                    column_titles: Sequence[str]) -> pathlib.Path:
    """Rows of uint8 HxWxC images (e.g. input | generated | target), each row labelled.

    uint8 is required so imshow shows pixel values as-is instead of rescaling.
    """
    if not rows:
        raise ValueError("save_image_grid needs at least one row.")
    n_cols = len(column_titles)
    for label, images in rows:
        if len(images) != n_cols:
            raise ValueError(f"Row {label!r} has {len(images)} images, expected {n_cols}.")
        for image in images:
            if image.dtype != np.uint8 or image.ndim != 3:
                raise ValueError(f"Row {label!r}: expected HxWxC uint8 images, got {image.dtype} {image.shape}.")

    width = GRID_LABEL_INCHES + n_cols * GRID_CELL_INCHES
    height = GRID_TITLE_INCHES + len(rows) * GRID_CELL_INCHES
    fig = Figure(figsize=(width, height), dpi=FIGURE_DPI)
    # Fixed margins rather than a tight bbox, so the PNG size is predictable.
    fig.subplots_adjust(left=GRID_LABEL_INCHES / width, right=0.99, bottom=0.01,
                        top=1 - GRID_TITLE_INCHES / height, wspace=0.04, hspace=0.04)
    axes = fig.subplots(len(rows), n_cols, squeeze=False)
    for row_axes, (label, images) in zip(axes, rows):
        for ax, image in zip(row_axes, images):
            if image.shape[-1] == 1:
                ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255)
            else:
                ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.spines[:].set_visible(False)
        row_axes[0].set_ylabel(textwrap.fill(label, 16), rotation=0, ha="right", va="center", fontsize=9)
    for ax, title in zip(axes[0], column_titles):
        ax.set_title(title, fontsize=10)
    return _save(fig, output_path)


def save_loss_curves(output_path, history: Sequence[Dict[str, float]]) -> pathlib.Path:
    """One panel per network: per-epoch mean losses from the training history."""
    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(4.5 * len(LOSS_PANELS), 3.4), dpi=FIGURE_DPI, layout="constrained")
    for ax, (title, keys) in zip(fig.subplots(1, len(LOSS_PANELS), squeeze=False)[0], LOSS_PANELS):
        for key in keys:
            ax.plot(epochs, [row[key] for row in history], marker="o", markersize=2, label=key)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, output_path)


def _save(fig: Figure, output_path) -> pathlib.Path:
    """Renders locally, then moves into place (``tf.io.gfile`` for remote paths)."""
    output_path = str(output_path)
    if "://" in output_path:
        import tensorflow as tf  # only for gs:// and other remote filesystems

        with tempfile.TemporaryDirectory() as scratch:
            local = os.path.join(scratch, "figure.png")
            fig.savefig(local, format="png")
            tf.io.gfile.makedirs(os.path.dirname(output_path))
            tf.io.gfile.copy(local, output_path, overwrite=True)
        return pathlib.Path(output_path)
    path = pathlib.Path(output_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    fig.savefig(partial, format="png")
    os.replace(partial, path)
    return path
