"""Procedural facades: paired label maps and rendered "photos" for pix2pix.

Why this exists: the pipeline ships with an embedded default dataset, so a
run never has to download anything. It is a small, seeded imitation of the
CMP Facades labels -> photo task, and the same seed gives byte-identical PNGs.

What makes it learnable: the label map (the input) fixes the geometry of a
building -- sky, wall, roof, pillars, windows, door, ledges, balconies -- in
flat palette colours, and the photo (the target) is a deterministic rendering
of that geometry: a material per class, brick / stone / plaster texture
anchored to the building, dark framed windows with a sky reflection, shadows
under ledges and balconies, and a fixed global lighting gradient. The wall
material follows the roof shape, so it too can be read from the labels; only
small per-image tints, per-block shading and pixel noise are unpredictable.
Layouts vary (floors, columns, window sizes, door position, sky around the
building) so the mean photo is a blur, and no photo colour is close to its
label colour, so neither "copy the input" nor "predict the mean photo" is a
good model.

Usage: ``python -m data.synthetic_facades --output DIR [--num-pairs N]
[--image-size S] [--seed K]``
"""
from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import socket
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from components.typed_settings import require

# --------------------------------------------------------------------------
# Label palette (the input images): one flat colour per class.
# --------------------------------------------------------------------------
PALETTE: dict[str, tuple[int, int, int]] = {
    "sky": (0, 0, 170),
    "wall": (0, 85, 255),
    "roof": (85, 255, 170),
    "pillar": (255, 0, 0),
    "window": (0, 255, 255),
    "door": (255, 170, 0),
    "ledge": (255, 85, 0),
    "balcony": (170, 255, 85),
}
CLASS_NAMES: tuple[str, ...] = tuple(PALETTE)
_PALETTE_RGB = np.array([PALETTE[name] for name in CLASS_NAMES], dtype=np.uint8)
SKY, WALL, ROOF, PILLAR, WINDOW, DOOR, LEDGE, BALCONY = range(len(CLASS_NAMES))

# --------------------------------------------------------------------------
# Dataset files.
# --------------------------------------------------------------------------
# The embedded dataset's name and home: pipeline_config.yaml's data.dataset_dir
# (relative to the config file). data.generate_if_missing fills only a missing
# folder of this name, so a typo in a real dataset's path is an error, never a
# silent switch to generated data.
DATASET_NAME = "synthetic_facades"
DEFAULT_DATASET_DIR = f"build/datasets/{DATASET_NAME}"
STAGING_MARK = ".tmp-"  # .<name>.tmp-<host>-<pid>: a generation under way (or killed) next to <name>
INPUT_SUBDIR = "input"
TARGET_SUBDIR = "target"
README_NAME = "README.txt"
PAIR_ID_PREFIX = "facade_"
PAIR_ID_DIGITS = 5
PNG_COMPRESS_LEVEL = 1  # fastest zlib level; 6 saves only ~13% on the noisy photos
MIN_IMAGE_SIZE = 16


@dataclass(frozen=True)
class SyntheticDatasetSettings:
    """``data.synthetic``: the embedded dataset the local runner generates when it is missing."""

    num_pairs: int
    image_size: int
    seed: int

    def validate(self, key: str) -> None:
        require(self.num_pairs >= 1, f"{key}.num_pairs", self.num_pairs, "an integer >= 1")
        require(self.image_size >= MIN_IMAGE_SIZE, f"{key}.image_size", self.image_size,
                f"an integer >= {MIN_IMAGE_SIZE}")

# --------------------------------------------------------------------------
# Layout. Lengths are fractions of the image side unless named *_PX.
# --------------------------------------------------------------------------
FULL_WIDTH_PROB = 0.3  # building spans the whole frame width
SIDE_SKY_FRAC = (0.03, 0.18)  # sky left / right of the building otherwise
TOP_SKY_FRAC = (0.0, 0.15)  # sky above the roof
ROOF_STYLES = ("flat", "mansard", "gable")
ROOF_HEIGHT_FRAC = {"flat": (0.025, 0.045), "mansard": (0.07, 0.12), "gable": (0.10, 0.18)}
FLAT_ROOF_OVERHANG_FRAC = 0.015
MANSARD_INSET_FRAC = 0.6  # horizontal inset of the mansard slope / its height
FLOORS_RANGE = (3, 6)  # floors including the ground floor, inclusive
GROUND_FLOOR_WEIGHT = 1.25  # ground floor height relative to upper floors
COLUMNS_RANGE = (2, 6)  # window columns, inclusive
WINDOW_WIDTH_FRAC = (0.35, 0.6)  # of the column pitch
WINDOW_HEIGHT_FRAC = (0.45, 0.62)  # of the upper floor height
SILL_GAP_FRAC = (0.15, 0.22)  # window bottom above the floor line, of floor height
DOOR_WIDTH_SCALE = 1.15  # door width / window width ...
DOOR_MAX_ASPECT = 0.6  # ... but at most this times the door height
DOOR_HEIGHT_FRAC = (0.62, 0.8)  # of the ground floor height
PILLAR_PROB = 0.4
PILLAR_WIDTH_FRAC = (0.035, 0.06)
LEDGE_PROB = 0.75
LEDGE_HEIGHT_FRAC = 0.018
BALCONY_STYLES = ("none", "per_window", "continuous")
BALCONY_FLOOR_PROB = 0.5  # each upper floor, when the image has balconies
BALCONY_HEIGHT_FRAC = 0.3  # of the floor height
BALCONY_PAD_FRAC = 0.15  # per-window balcony overhang, of window width

# --------------------------------------------------------------------------
# Rendering (the target images). Colours are RGB in [0, 255].
# --------------------------------------------------------------------------
SKY_TOP_RGB = (92, 146, 208)
SKY_HORIZON_RGB = (196, 214, 230)
ROOF_MATERIAL = {"flat": "plaster", "mansard": "stone", "gable": "brick"}
WALL_TINT_JITTER = 10.0  # per-image uniform +- jitter of the wall colour
GRAIN_CELLS = 12  # lattice cells of the low-frequency grain noise
MIN_COURSE_PX = 3
JOINT_GRAIN = 0.5  # joints show this fraction of the grain and block shade
FRAME_WIDTH_FRAC = 1 / 128  # window / door frames and balcony top rails
FRAME_RGB = (226, 222, 212)
GLASS_RGB = (36, 46, 60)
GLASS_REFLECTION_RGB = (150, 180, 210)
GLASS_REFLECTION = 0.45  # reflection strength at the top of a window
MULLION_MIN_PX = 6  # windows narrower than this get no mullion / transom
TRANSOM_POS = 0.35  # transom height within the window, from the top
DOOR_RGB = (104, 66, 40)
DOOR_FRAME_RGB = (70, 44, 28)
DOOR_GRAIN = 10.0
LEDGE_RGB = (220, 212, 194)
LEDGE_TOP_RGB = (242, 237, 225)
LEDGE_BOTTOM_RGB = (160, 152, 138)
PILLAR_RGB = (232, 222, 200)
PILLAR_SHADING = (0.82, 1.06)  # brightness at the pillar edges, centre
ROOF_RGB = (78, 80, 92)
ROOF_LINE_RGB = (58, 60, 70)
ROOF_LINE_FRAC = 0.02  # spacing of the roof tile lines
RAIL_RGB = (44, 44, 50)
SLAB_RGB = (184, 180, 172)
SLAB_FRAC = 0.25  # balcony slab height, of the balcony height
BAR_WIDTH_FRAC = 1 / 64  # railing bars; the gaps between them are as wide
BEHIND_RAILING_DIM = 0.8  # what shows between the bars is darker
SHADOW_LENGTH_FRAC = 0.03
SHADOW_STRENGTH = 0.4  # darkening right under a ledge / balcony
LIGHT_SLOPE_X = 0.14  # light from the left ...
LIGHT_SLOPE_Y = 0.08  # ... and from above
NOISE_STD = 3.0


@dataclass(frozen=True)
class Material:
    """A wall material: colours and the bond pattern of its blocks."""

    base: tuple[int, int, int]
    joint: tuple[int, int, int]
    course_frac: float | None  # course height / image side; None: no joints
    block_ratio: float  # block width / course height
    shade_std: float  # per-block brightness spread
    grain: float  # amplitude of the low-frequency grain


MATERIALS = {
    "brick": Material((156, 76, 54), (196, 188, 172), 1 / 40, 2.4, 10.0, 5.0),
    "stone": Material((196, 182, 150), (146, 134, 112), 1 / 16, 2.0, 6.0, 12.0),
    "plaster": Material((214, 198, 166), (214, 198, 166), None, 1.0, 0.0, 6.0),
}


@dataclass(frozen=True)
class Box:
    """Half-open pixel rectangle [top, bottom) x [left, right)."""

    top: int
    bottom: int
    left: int
    right: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.bottom), slice(self.left, self.right)

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left


@dataclass
class FacadeLayout:
    """Geometry of one facade; everything the renderer needs."""

    size: int
    wall: Box  # from under the roof down to the ground (image bottom)
    roof_style: str
    roof_top: int
    pillars: list[Box] = field(default_factory=list)
    windows: list[Box] = field(default_factory=list)
    doors: list[Box] = field(default_factory=list)
    ledges: list[Box] = field(default_factory=list)
    balconies: list[Box] = field(default_factory=list)


# --------------------------------------------------------------------------
# Argument checks.
# --------------------------------------------------------------------------
def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_int(name: str, value, minimum: int, meaning: str = "") -> None:
    """Raise ValueError naming the argument unless value is an int >= minimum."""
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}{meaning}, got {value!r}")


def _check_image_size(image_size) -> None:
    _check_int("image_size", image_size, MIN_IMAGE_SIZE, " (pixels per side)")


# --------------------------------------------------------------------------
# Layout sampling: one function per element.
# --------------------------------------------------------------------------
def _px(fraction: float, size: int, minimum: int = 1) -> int:
    """A length given as a fraction of the image side, in whole pixels."""
    return max(minimum, int(round(fraction * size)))


def _whole_px(length: float) -> int:
    """A length in whole pixels, at least one."""
    return max(1, int(round(length)))


def _sample_sides(rng: np.random.Generator, size: int) -> tuple[int, int]:
    """Left and right wall edges: full width, or with sky on both sides."""
    if rng.random() < FULL_WIDTH_PROB:
        return 0, size
    left = _px(rng.uniform(*SIDE_SKY_FRAC), size)
    right = size - _px(rng.uniform(*SIDE_SKY_FRAC), size)
    return left, right


def _sample_roof(rng: np.random.Generator, size: int) -> tuple[str, int, int]:
    """Roof style, roof top row and wall top row (where the roof ends)."""
    style = ROOF_STYLES[rng.integers(len(ROOF_STYLES))]
    roof_top = _px(rng.uniform(*TOP_SKY_FRAC), size, minimum=0)
    wall_top = roof_top + _px(rng.uniform(*ROOF_HEIGHT_FRAC[style]), size)
    return style, roof_top, wall_top


def _sample_pillars(rng: np.random.Generator, wall: Box, size: int) -> list[Box]:
    """Pilasters at both wall edges, on some buildings."""
    if rng.random() >= PILLAR_PROB:
        return []
    width = _px(rng.uniform(*PILLAR_WIDTH_FRAC), size)
    return [
        Box(wall.top, wall.bottom, wall.left, wall.left + width),
        Box(wall.top, wall.bottom, wall.right - width, wall.right),
    ]


def _sample_floors(rng: np.random.Generator, wall: Box) -> np.ndarray:
    """Floor lines from the wall top to the ground; the ground floor is taller."""
    n_floors = int(rng.integers(FLOORS_RANGE[0], FLOORS_RANGE[1] + 1))
    weights = np.ones(n_floors)
    weights[-1] = GROUND_FLOOR_WEIGHT
    cumulative = np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    return np.round(wall.top + cumulative * wall.height).astype(int)


def _sample_columns(rng: np.random.Generator, left: int, right: int) -> tuple[np.ndarray, float]:
    """Centres of the window columns, evenly spaced, and their pitch."""
    n_columns = int(rng.integers(COLUMNS_RANGE[0], COLUMNS_RANGE[1] + 1))
    pitch = (right - left) / n_columns
    return left + (np.arange(n_columns) + 0.5) * pitch, pitch


def _centred_box(centre: float, width: int, top: int, bottom: int) -> Box:
    left = int(round(centre - width / 2))
    return Box(top, bottom, left, left + width)


def _sample_windows_and_door(
    rng: np.random.Generator, floor_lines: np.ndarray, centres: np.ndarray, pitch: float, size: int
) -> tuple[list[Box], list[Box]]:
    """A regular grid of windows, one per floor and column; the door takes
    one column of the ground floor."""
    floor_height = floor_lines[1] - floor_lines[0]
    width = _whole_px(pitch * rng.uniform(*WINDOW_WIDTH_FRAC))
    height = _whole_px(floor_height * rng.uniform(*WINDOW_HEIGHT_FRAC))
    sill_gap = _whole_px(floor_height * rng.uniform(*SILL_GAP_FRAC))
    door_column = int(rng.integers(len(centres)))
    ground_height = floor_lines[-1] - floor_lines[-2]
    door_height = _whole_px(ground_height * rng.uniform(*DOOR_HEIGHT_FRAC))
    door_width = _whole_px(min(width * DOOR_WIDTH_SCALE, door_height * DOOR_MAX_ASPECT))

    windows = []
    for floor_bottom in floor_lines[1:]:
        for column, centre in enumerate(centres):
            if floor_bottom == floor_lines[-1] and column == door_column:
                continue
            bottom = floor_bottom - sill_gap
            windows.append(_centred_box(centre, width, bottom - height, bottom))
    door = _centred_box(centres[door_column], door_width, size - door_height, size)
    return windows, [door]


def _sample_ledges(
    rng: np.random.Generator, floor_lines: np.ndarray, wall: Box, size: int
) -> list[Box]:
    """Horizontal ledges on the lines between floors, on most buildings."""
    if rng.random() >= LEDGE_PROB:
        return []
    height = _px(LEDGE_HEIGHT_FRAC, size)
    return [
        Box(line - height // 2, line - height // 2 + height, wall.left, wall.right)
        for line in floor_lines[1:-1]
    ]


def _sample_balconies(
    rng: np.random.Generator,
    floor_lines: np.ndarray,
    windows: list[Box],
    span: tuple[int, int],
    ledge_height: int,
) -> list[Box]:
    """Balconies at the bottom of some upper floors: one per window, or one
    running along the whole floor."""
    style = BALCONY_STYLES[rng.integers(len(BALCONY_STYLES))]
    if style == "none":
        return []
    floor_height = floor_lines[1] - floor_lines[0]
    height = _whole_px(floor_height * BALCONY_HEIGHT_FRAC)
    balconies = []
    for floor_top, floor_bottom in zip(floor_lines[:-2], floor_lines[1:-1]):
        if rng.random() >= BALCONY_FLOOR_PROB:
            continue
        bottom = floor_bottom - ledge_height // 2
        if style == "continuous":
            balconies.append(Box(bottom - height, bottom, span[0], span[1]))
            continue
        for window in windows:
            if floor_top <= window.top < floor_bottom:
                pad = _whole_px(window.width * BALCONY_PAD_FRAC)
                balconies.append(Box(bottom - height, bottom, window.left - pad, window.right + pad))
    return balconies


def sample_layout(rng: np.random.Generator, size: int) -> FacadeLayout:
    """Draw a random facade layout for a size x size image."""
    left, right = _sample_sides(rng, size)
    roof_style, roof_top, wall_top = _sample_roof(rng, size)
    wall = Box(wall_top, size, left, right)
    pillars = _sample_pillars(rng, wall, size)
    span = (pillars[0].right, pillars[1].left) if pillars else (wall.left, wall.right)
    floor_lines = _sample_floors(rng, wall)
    centres, pitch = _sample_columns(rng, *span)
    windows, doors = _sample_windows_and_door(rng, floor_lines, centres, pitch, size)
    ledges = _sample_ledges(rng, floor_lines, wall, size)
    ledge_height = ledges[0].height if ledges else 0
    balconies = _sample_balconies(rng, floor_lines, windows, span, ledge_height)
    return FacadeLayout(size, wall, roof_style, roof_top, pillars, windows, doors, ledges, balconies)


# --------------------------------------------------------------------------
# Label map.
# --------------------------------------------------------------------------
def _roof_mask(layout: FacadeLayout) -> np.ndarray:
    """Boolean mask of the roof above the wall (flat band, mansard or gable)."""
    size, wall = layout.size, layout.wall
    rows = np.arange(size)[:, None]
    cols = np.arange(size)[None, :]
    in_rows = (rows >= layout.roof_top) & (rows < wall.top)
    depth = (rows - layout.roof_top + 1) / max(1, wall.top - layout.roof_top)  # 0..1 downwards
    if layout.roof_style == "flat":
        overhang = _px(FLAT_ROOF_OVERHANG_FRAC, size)
        left, right = wall.left - overhang, wall.right + overhang
    elif layout.roof_style == "mansard":
        inset = (1 - depth) * MANSARD_INSET_FRAC * (wall.top - layout.roof_top)
        left, right = wall.left + inset, wall.right - inset
    else:  # gable
        centre, half = (wall.left + wall.right) / 2, depth * wall.width / 2
        left, right = centre - half, centre + half
    return in_rows & (cols >= left) & (cols < right)


def paint_classes(layout: FacadeLayout) -> np.ndarray:
    """Per-pixel class indices (into CLASS_NAMES) for a layout."""
    classes = np.full((layout.size, layout.size), SKY, dtype=np.uint8)
    classes[layout.wall.slices] = WALL
    classes[_roof_mask(layout)] = ROOF
    for boxes, cls in (
        (layout.pillars, PILLAR),
        (layout.windows, WINDOW),
        (layout.doors, DOOR),
        (layout.ledges, LEDGE),
        (layout.balconies, BALCONY),
    ):
        for box in boxes:
            classes[box.slices] = cls
    return classes


# --------------------------------------------------------------------------
# Photo: textures, elements, shadows, lighting, noise.
# --------------------------------------------------------------------------
def _rgb(colour) -> np.ndarray:
    return np.asarray(colour, dtype=np.float32)


def _value_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth noise, about unit variance: a random lattice, bilinearly upsampled.

    Element-wise arithmetic only (no BLAS matmul, whose rounding depends on
    the machine), so the PNGs do not depend on the CPU either."""
    lattice = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
    pos = np.linspace(0, cells, size, dtype=np.float32)
    i0 = np.minimum(pos.astype(int), cells - 1)
    t = pos - i0
    rows = lattice[i0] * (1 - t)[:, None] + lattice[i0 + 1] * t[:, None]
    return rows[:, i0] * (1 - t) + rows[:, i0 + 1] * t


def _sky(size: int) -> np.ndarray:
    """Vertical sky gradient, deep blue at the top to pale at the horizon."""
    t = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
    column = _rgb(SKY_TOP_RGB) * (1 - t) + _rgb(SKY_HORIZON_RGB) * t
    return np.broadcast_to(column, (size, size, 3))


def _running_bond(
    rng: np.random.Generator, size: int, left: int, course: int, block: int, shade_std: float
) -> tuple[np.ndarray, np.ndarray]:
    """A running bond laid from the ground (image bottom) and from column
    `left`: a random brightness offset per block, and the joint mask."""
    up = size - 1 - np.arange(size)  # rows counted from the ground
    row = up // course
    along = np.arange(size)[None, :] - left + (row[:, None] % 2) * (block // 2)
    joints = (up[:, None] % course == course - 1) | (along % block == 0)
    n_cols = size // block + 3
    shades = rng.normal(0, shade_std, (int(row.max()) + 1, n_cols)).astype(np.float32)
    shifted = (row % 2) == 1
    columns = [(np.arange(size) - left + offset) // block % n_cols for offset in (0, block // 2)]
    per_block = np.where(shifted[:, None], shades[row][:, columns[1]], shades[row][:, columns[0]])
    return per_block, joints


def _wall_texture(rng: np.random.Generator, layout: FacadeLayout) -> np.ndarray:
    """Full-frame wall texture in the roof's material: a tinted base colour,
    low-frequency grain and, for masonry, shaded blocks with joints."""
    size = layout.size
    material = MATERIALS[ROOF_MATERIAL[layout.roof_style]]
    base = _rgb(material.base) + rng.uniform(-WALL_TINT_JITTER, WALL_TINT_JITTER, 3).astype(np.float32)
    brightness = material.grain * _value_noise(rng, size, GRAIN_CELLS)
    if material.course_frac is None:
        return base + brightness[..., None]
    course = max(MIN_COURSE_PX, _px(material.course_frac, size))
    block = max(course + 1, int(round(course * material.block_ratio)))
    per_block, joints = _running_bond(rng, size, layout.wall.left, course, block, material.shade_std)
    brightness += per_block
    colour = np.where(joints[..., None], _rgb(material.joint), base)
    brightness[joints] *= JOINT_GRAIN
    return colour + brightness[..., None]


def _paint_roof(photo: np.ndarray, classes: np.ndarray, size: int) -> None:
    """Slate roof with horizontal tile lines."""
    spacing = max(2, _px(ROOF_LINE_FRAC, size))
    lines = (np.arange(size) % spacing == spacing - 1)[:, None]
    roof = classes == ROOF
    photo[roof & ~lines] = _rgb(ROOF_RGB)
    photo[roof & lines] = _rgb(ROOF_LINE_RGB)


def _paint_pillars(photo: np.ndarray, pillars: list[Box]) -> None:
    """Light stone pilasters, shaded like a rounded column."""
    edge, centre = PILLAR_SHADING
    for box in pillars:
        across = np.linspace(-1, 1, box.width, dtype=np.float32)
        shade = edge + (centre - edge) * (1 - across**2)
        photo[box.slices] = _rgb(PILLAR_RGB) * shade[None, :, None]


def _frame_width(size: int) -> int:
    return _px(FRAME_WIDTH_FRAC, size)


def _paint_windows(photo: np.ndarray, windows: list[Box], size: int) -> None:
    """Dark glass reflecting the sky (brighter at the top), a light frame
    along the window edges and, on big enough windows, a mullion and transom."""
    frame = _frame_width(size)
    for box in windows:
        t = np.linspace(0, 1, box.height, dtype=np.float32)[:, None, None]
        reflection = GLASS_REFLECTION * (1 - t)
        glass = _rgb(GLASS_RGB) * (1 - reflection) + _rgb(GLASS_REFLECTION_RGB) * reflection
        region = photo[box.slices]
        region[:] = glass
        region[:frame] = region[-frame:] = _rgb(FRAME_RGB)
        region[:, :frame] = region[:, -frame:] = _rgb(FRAME_RGB)
        if box.width >= MULLION_MIN_PX:
            mid = box.width // 2 - frame // 2
            transom = int(round(TRANSOM_POS * box.height)) - frame // 2
            region[:, mid : mid + frame] = _rgb(FRAME_RGB)
            region[transom : transom + frame] = _rgb(FRAME_RGB)


def _paint_doors(photo: np.ndarray, rng: np.random.Generator, doors: list[Box], size: int) -> None:
    """Wooden doors with vertical grain and a darker frame (no bottom edge)."""
    frame = _frame_width(size)
    for box in doors:
        grain = DOOR_GRAIN * rng.standard_normal(box.width).astype(np.float32)
        region = photo[box.slices]
        region[:] = _rgb(DOOR_RGB) + grain[None, :, None]
        region[:frame] = _rgb(DOOR_FRAME_RGB)
        region[:, :frame] = region[:, -frame:] = _rgb(DOOR_FRAME_RGB)


def _paint_ledges(photo: np.ndarray, ledges: list[Box]) -> None:
    """Stone ledges, lit on top and dark on the underside."""
    for box in ledges:
        region = photo[box.slices]
        region[:] = _rgb(LEDGE_RGB)
        if box.height >= 2:
            region[0] = _rgb(LEDGE_TOP_RGB)
            region[-1] = _rgb(LEDGE_BOTTOM_RGB)


def _paint_balconies(photo: np.ndarray, balconies: list[Box], size: int) -> None:
    """Railings (top rail and bars, the facade darkened between them) on a
    concrete slab."""
    rail = _frame_width(size)
    bar = _px(BAR_WIDTH_FRAC, size)
    for box in balconies:
        region = photo[box.slices]
        bars = (np.arange(box.left, box.right) % (2 * bar)) < bar
        region[:, ~bars] *= BEHIND_RAILING_DIM
        region[:, bars] = _rgb(RAIL_RGB)
        region[:rail] = _rgb(RAIL_RGB)
        slab = max(1, int(round(SLAB_FRAC * box.height)))
        region[-slab:] = _rgb(SLAB_RGB)


def _apply_shadows(photo: np.ndarray, layout: FacadeLayout, classes: np.ndarray) -> None:
    """Soft shadows cast downwards by ledges and balconies (light from above)."""
    size = layout.size
    length = _px(SHADOW_LENGTH_FRAC, size)
    falloff = SHADOW_STRENGTH * (1 - np.arange(length, dtype=np.float32) / length)
    darkness = np.zeros((size, size), dtype=np.float32)
    for box in layout.ledges + layout.balconies:
        rows = min(length, size - box.bottom)
        below = darkness[box.bottom : box.bottom + rows, box.left : box.right]
        np.maximum(below, falloff[:rows, None], out=below)
    darkness[(classes == LEDGE) | (classes == BALCONY) | (classes == SKY)] = 0
    photo *= (1 - darkness)[..., None]


def _apply_lighting(photo: np.ndarray, classes: np.ndarray, size: int) -> None:
    """Soft global light from the upper left on the building (not the sky)."""
    coords = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    gain = 1 - LIGHT_SLOPE_Y * coords[:, None] - LIGHT_SLOPE_X * coords[None, :]
    photo *= np.where(classes != SKY, gain, 1)[..., None]


def render_photo(rng: np.random.Generator, layout: FacadeLayout, classes: np.ndarray) -> np.ndarray:
    """Render the "photo" (uint8 HxWx3) of a layout and its class map."""
    size = layout.size
    photo = np.array(_sky(size), dtype=np.float32)
    photo = np.where((classes == WALL)[..., None], _wall_texture(rng, layout), photo)
    _paint_roof(photo, classes, size)
    _paint_pillars(photo, layout.pillars)
    _paint_windows(photo, layout.windows, size)
    _paint_doors(photo, rng, layout.doors, size)
    _paint_ledges(photo, layout.ledges)
    _paint_balconies(photo, layout.balconies, size)
    _apply_shadows(photo, layout, classes)
    _apply_lighting(photo, classes, size)
    photo += NOISE_STD * rng.standard_normal(photo.shape, dtype=np.float32)
    np.rint(photo, out=photo)
    return np.clip(photo, 0, 255, out=photo).astype(np.uint8)


def render_pair(rng: np.random.Generator, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """One random facade: (label map, photo), both uint8 image_size x image_size x 3."""
    _check_image_size(image_size)
    layout = sample_layout(rng, image_size)
    classes = paint_classes(layout)
    return _PALETTE_RGB[classes], render_photo(rng, layout, classes)


# --------------------------------------------------------------------------
# Dataset on disk.
# --------------------------------------------------------------------------
def _refuse_existing(output_dir: pathlib.Path) -> None:
    """Raise FileExistsError unless output_dir is absent or an empty directory."""
    if not output_dir.exists():
        return
    if not output_dir.is_dir():
        raise FileExistsError(f"{output_dir} exists and is not a directory")
    if any(output_dir.iterdir()):
        raise FileExistsError(f"{output_dir} already exists and is not empty; not overwriting it")


def pair_id(index: int, num_pairs: int) -> str:
    """File stem of pair `index`, zero-padded so names sort in order."""
    digits = max(PAIR_ID_DIGITS, len(str(num_pairs - 1)))
    return f"{PAIR_ID_PREFIX}{index:0{digits}d}"


def _save_png(array: np.ndarray, path: pathlib.Path) -> None:
    Image.fromarray(array).save(path, format="PNG", compress_level=PNG_COMPRESS_LEVEL)


def _write_pairs(directory: pathlib.Path, num_pairs: int, image_size: int, seed: int) -> None:
    """Render and save every pair; pair i depends only on (seed, i)."""
    (directory / INPUT_SUBDIR).mkdir(parents=True)
    (directory / TARGET_SUBDIR).mkdir()
    for index, child in enumerate(np.random.SeedSequence(seed).spawn(num_pairs)):
        label, photo = render_pair(np.random.default_rng(child), image_size)
        name = f"{pair_id(index, num_pairs)}.png"
        _save_png(label, directory / INPUT_SUBDIR / name)
        _save_png(photo, directory / TARGET_SUBDIR / name)


def _write_readme(directory: pathlib.Path, num_pairs: int, image_size: int, seed: int) -> None:
    text = (
        f"Synthetic facades: {num_pairs} paired {image_size}x{image_size} RGB PNGs for pix2pix, "
        f"generated by data/synthetic_facades.py with seed {seed}. {INPUT_SUBDIR}/<id>.png is a "
        f"label map (flat colours per class: {', '.join(CLASS_NAMES)}) and {TARGET_SUBDIR}/<id>.png "
        "is the matching procedurally rendered facade photo. The same seed, count and size "
        "reproduce these files byte for byte.\n"
    )
    (directory / README_NAME).write_text(text, encoding="utf-8")


def is_embedded_location(path) -> bool:
    """Whether data.generate_if_missing may generate the embedded dataset at ``path``: its folder name says so."""
    return pathlib.Path(os.path.normpath(str(path))).name == DATASET_NAME


def _staging_dir(target: pathlib.Path) -> pathlib.Path:
    return target.parent / f".{target.name}{STAGING_MARK}{socket.gethostname()}-{os.getpid()}"


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_stale_staging(target) -> list[pathlib.Path]:
    """Deletes the staging folders of generations of ``target`` that were killed; returns them.

    Only this host's, and only when their process is gone: a generation running
    elsewhere (a shared file system) or right now is left alone.
    """
    target = pathlib.Path(target).absolute()
    prefix = f".{target.name}{STAGING_MARK}"
    removed = []
    if not target.parent.is_dir():
        return removed
    for candidate in target.parent.iterdir():
        if not candidate.name.startswith(prefix) or candidate.is_symlink() or not candidate.is_dir():
            continue
        host, _, pid = candidate.name[len(prefix):].rpartition("-")
        if not pid.isdigit() or host not in ("", socket.gethostname()) or _is_running(int(pid)):
            continue
        shutil.rmtree(candidate, ignore_errors=True)
        removed.append(candidate)
    return removed


def generate_dataset(
    output_dir, num_pairs: int = 400, image_size: int = 256, seed: int = 0
) -> pathlib.Path:
    """Write `num_pairs` label/photo pairs under output_dir/{input,target}/.

    Files are built in a hidden sibling directory and renamed into place
    only when complete, so an interrupted run never leaves a dataset that
    looks whole; the staging folders of killed runs are removed first.
    Raises FileExistsError if output_dir exists and is not empty,
    ValueError for bad arguments. Returns output_dir.
    """
    _check_int("num_pairs", num_pairs, 1)
    _check_image_size(image_size)
    _check_int("seed", seed, 0)
    output_dir = pathlib.Path(output_dir)
    target = output_dir.absolute()
    _refuse_existing(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(target)
    staging = _staging_dir(target)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _write_pairs(staging, num_pairs, image_size, seed)
        _write_readme(staging, num_pairs, image_size, seed)
        _refuse_existing(target)  # may have appeared meanwhile
        if target.exists():
            target.rmdir()  # empty, checked above
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return output_dir


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, type=pathlib.Path, help="directory to create")
    parser.add_argument("--num-pairs", type=int, default=400)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        path = generate_dataset(args.output, args.num_pairs, args.image_size, args.seed)
    except (ValueError, FileExistsError) as error:
        parser.exit(2, f"error: {error}\n")
    print(f"wrote {args.num_pairs} pairs to {path} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
