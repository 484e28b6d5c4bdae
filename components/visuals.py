"""Pictures people would rather see than read: image grids, loss curves, metric bar charts.

The one plotting module: every chart of the project is drawn here, at one DPI,
on matplotlib ``Figure`` objects (Agg, no pyplot): no display is needed and no
global backend state is touched, on servers, CI and in notebooks alike. PNGs
are written with ``output_files`` (local or gs://), so a reader (TensorBoard,
the report, a person refreshing a browser) never sees half a PNG.
"""
from __future__ import annotations

import io
import textwrap
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from matplotlib.figure import Figure

from components import output_files

FIGURE_DPI = 100         # at 100 dpi a 2.6-inch cell shows a 256x256 image at about native size
GRID_CELL_INCHES = 2.6   # a 256x256 image shows at about its native size
GRID_LABEL_INCHES = 1.1
GRID_TITLE_INCHES = 0.4
LOSS_PANELS = (
    ("Generator", ("g_total",)),
    ("Generator terms", ("g_gan", "g_l1")),
    ("Discriminator", ("d_total", "d_real", "d_fake")),
)


def save_image_grid(output_path, rows: Sequence[Tuple[str, List[np.ndarray]]],
                    column_titles: Sequence[str]) -> str:
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


def save_loss_curves(output_path, history: Sequence[Dict[str, float]], validation_key: str = "validation",
                     best_epoch: Optional[int] = None) -> str:
    """One panel per network from the per-epoch mean losses, and one per validation metric (G in inference
    mode on the validation split) when the history has them, the best epoch marked."""
    epochs = [row["epoch"] for row in history]
    validated = [row for row in history if row.get(validation_key)]
    metric_keys = sorted({key for row in validated for key in row[validation_key]}) if validated else []
    panels = len(LOSS_PANELS) + len(metric_keys)
    fig = Figure(figsize=(4.5 * panels, 3.4), dpi=FIGURE_DPI, layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    for ax, (title, keys) in zip(axes, LOSS_PANELS):
        for key in keys:
            ax.plot(epochs, [row[key] for row in history], marker="o", markersize=2, label=key)
        ax.set_title(title)
    for ax, key in zip(axes[len(LOSS_PANELS):], metric_keys):
        rows = [row for row in validated if key in row[validation_key]]
        ax.plot([row["epoch"] for row in rows], [row[validation_key][key] for row in rows], marker="o",
                markersize=3, color="#2a7", label=key)
        if best_epoch is not None:
            ax.axvline(best_epoch, color="#c33", linestyle="--", linewidth=1, label=f"exported (epoch {best_epoch})")
        ax.set_title(f"validation {key}")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, output_path)


# One bar of a metric chart: label under the bar, colour, mean, and the whisker's ends (p10, p90).
Bar = Tuple[str, str, float, float, float]


def save_bar_panels(output_path, panels: Sequence[Tuple[str, Sequence[Bar]]], title: str) -> str:
    """One panel of bars per metric (e.g. candidate vs baselines); whiskers from low to high.

    Whiskers show the tail: a good mean with a bad p10 is visible at a glance.
    """
    fig = Figure(figsize=(4.2 * len(panels), 4.2), dpi=FIGURE_DPI, layout="constrained")
    for ax, (panel_title, bars) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        means = np.array([mean for _, _, mean, _, _ in bars])
        # A skewed distribution can put the mean outside [low, high]; clip to 0.
        lower = np.maximum(means - [low for _, _, _, low, _ in bars], 0)
        upper = np.maximum([high for _, _, _, _, high in bars] - means, 0)
        positions = np.arange(len(bars))
        # Lists, not arrays: matplotlib trips a NumPy deprecation on a 2x1 array.
        ax.bar(positions, means, color=[color for _, color, _, _, _ in bars],
               yerr=[lower.tolist(), upper.tolist()], capsize=4, ecolor="#444")
        # Labels (with their values) go under the bars, where whiskers cannot cross them.
        ax.set_xticks(positions, [label for label, _, _, _, _ in bars], fontsize=8)
        ax.set_title(panel_title, fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(title, fontsize=11)
    return _save(fig, output_path)


def _save(fig: Figure, output_path) -> str:
    """Renders to PNG bytes and writes them whole (local or remote)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return output_files.write_bytes(str(output_path), buffer.getvalue())
