"""Pictures people would rather see than read: image grids and loss curves.

matplotlib with the Agg backend (no display on servers and CI).
"""
from __future__ import annotations

import os
from typing import Dict, List, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

LOSS_PANELS = (
    ("Generator", ("g_total",)),
    ("Generator terms", ("g_gan", "g_l1")),
    ("Discriminator", ("d_total", "d_real", "d_fake")),
)
FIGURE_DPI = 100


def save_loss_curves(path: str, history: Sequence[Dict[str, float]]) -> str:
    """One panel per network: per-epoch mean losses from the training history."""
    epochs = [row["epoch"] for row in history]
    figure, axes = plt.subplots(1, len(LOSS_PANELS), figsize=(4.5 * len(LOSS_PANELS), 3.4))
    for axis, (title, keys) in zip(axes, LOSS_PANELS):
        for key in keys:
            axis.plot(epochs, [row[key] for row in history], marker="o", markersize=2, label=key)
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    _save(figure, path)
    return path


def save_image_grid(path: str, rows: Sequence, column_titles: Sequence[str]) -> str:
    """Rows of uint8 images (e.g. input | generated | target), each row labelled.

    ``rows`` is a sequence of ``(label, [image, image, ...])``.
    """
    n_rows, n_cols = len(rows), len(column_titles)
    figure, axes = plt.subplots(n_rows, n_cols, figsize=(2.2 * n_cols, 2.2 * n_rows), squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c, image in enumerate(images):
            axis = axes[r][c]
            axis.imshow(image.squeeze(), cmap="gray" if image.shape[-1] == 1 else None, vmin=0, vmax=255)
            axis.set_xticks([])
            axis.set_yticks([])
            if r == 0:
                axis.set_title(column_titles[c], fontsize=10)
            if c == 0:
                axis.set_ylabel(str(label), fontsize=8)
    figure.tight_layout()
    _save(figure, path)
    return path


def _save(figure, path: str) -> None:
    """Writes to a temporary name and renames, so a reader never sees half a PNG."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = f"{path}.partial.png"
    figure.savefig(partial, dpi=FIGURE_DPI)
    plt.close(figure)
    os.replace(partial, path)


def history_rows(history: List) -> List[Dict[str, float]]:
    return [row if isinstance(row, dict) else row.as_dict() for row in history]
