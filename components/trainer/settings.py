"""The ``trainer`` and ``serving`` sections: the GAN's options and how its generator is exported.

The options map one-to-one to the paper and to the PyTorch implementation's
flags (see ``pipeline_config.yaml``); their allowed values are the ones the
implementing modules define: ``networks`` (generator, discriminator, norm),
``losses`` (gan_mode), ``distribution``, ``precision`` and ``export``.
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar, Dict, List, Literal, Optional

from components.evaluator import metrics
from components.trainer import (data_cache, distribution, export, gan_trainer, inference, losses, networks,
                                precision, tflite_export, validation)
from components.typed_settings import require

SECTION = "trainer"
SERVING_SECTION = "serving"
# The Trainer's custom_config also names the folder its resumable checkpoints live in (a path, not a section),
# and the split the Evaluator gates on (best-epoch selection on "eval" is only honest when that is another one).
CHECKPOINT_ROOT = "checkpoint_root"
GATE_SPLIT = "gate_split"


@dataclasses.dataclass(frozen=True)
class TrainerSettings:
    epochs: int
    epochs_decay: int
    min_steps: int
    batch_size: int
    generator: Literal[networks.GENERATORS]
    discriminator: Literal[networks.DISCRIMINATORS]
    ngf: int
    ndf: int
    n_layers_d: int
    norm: Literal[networks.NORMS]
    dropout_rate: float
    gan_mode: Literal[losses.GAN_MODES]
    lambda_l1: float
    lambda_gp: float
    learning_rate: float
    beta_1: float
    jitter: bool
    jitter_scale: float
    shuffle_buffer: int
    shuffle_buffer_mb: float
    cache: Literal[data_cache.CACHE_POLICIES]
    cache_memory_mb: float
    seed: int
    update_order: Literal[gan_trainer.UPDATE_ORDERS]
    validate_every_epochs: int
    select_metric: Literal[validation.SELECT_METRICS]
    select_statistic: Literal[metrics.STATISTICS]
    export: Literal[validation.EXPORT_CHOICES]
    checkpoint_every_steps: int
    samples_every_epochs: int
    sample_images: int
    collapse_d_loss: float
    collapse_patience_steps: int
    warm_start: bool
    distribution_strategy: Literal[distribution.STRATEGIES]
    mixed_precision: Literal[precision.POLICIES]
    jit_compile: bool

    # Keys that were replaced: a config that still has one is refused with what to write instead.
    RENAMED_KEYS: ClassVar[Dict[str, str]] = {
        "cache_dataset": "replaced by cache: auto | memory | disk | none (cache_dataset: true was memory, "
                         "false was none; auto, the default, picks by the data's size)"}

    def validate(self, key: str) -> None:
        require(self.epochs >= 0, f"{key}.epochs", self.epochs, "an integer >= 0")
        require(self.epochs_decay >= 0, f"{key}.epochs_decay", self.epochs_decay, "an integer >= 0")
        require(self.min_steps >= 0, f"{key}.min_steps", self.min_steps, "an integer >= 0 (0: no minimum)")
        require(self.batch_size >= 1, f"{key}.batch_size", self.batch_size, "an integer >= 1")
        require(self.ngf >= 1, f"{key}.ngf", self.ngf, "an integer >= 1")
        require(self.ndf >= 1, f"{key}.ndf", self.ndf, "an integer >= 1")
        require(self.n_layers_d >= 1, f"{key}.n_layers_d", self.n_layers_d, "an integer >= 1")
        require(0.0 <= self.dropout_rate < 1.0, f"{key}.dropout_rate", self.dropout_rate, "a number in [0, 1)")
        require(self.lambda_l1 >= 0.0, f"{key}.lambda_l1", self.lambda_l1, "a number >= 0")
        require(self.lambda_gp >= 0.0, f"{key}.lambda_gp", self.lambda_gp, "a number >= 0")
        require(self.learning_rate > 0.0, f"{key}.learning_rate", self.learning_rate, "a number > 0")
        require(0.0 <= self.beta_1 < 1.0, f"{key}.beta_1", self.beta_1, "a number in [0, 1)")
        require(self.jitter_scale >= 1.0, f"{key}.jitter_scale", self.jitter_scale,
                "a number >= 1 (286/256 = 1.117 in the paper)")
        require(self.shuffle_buffer >= 1, f"{key}.shuffle_buffer", self.shuffle_buffer, "an integer >= 1")
        require(self.shuffle_buffer_mb > 0, f"{key}.shuffle_buffer_mb", self.shuffle_buffer_mb, "a number of MiB > 0")
        require(self.cache_memory_mb >= 0, f"{key}.cache_memory_mb", self.cache_memory_mb,
                "a number of MiB >= 0 (0: never in memory under cache: auto)")
        require(self.validate_every_epochs >= 1, f"{key}.validate_every_epochs", self.validate_every_epochs,
                "an integer >= 1 (the last epoch is always validated)")
        require(self.checkpoint_every_steps >= 0, f"{key}.checkpoint_every_steps",
                self.checkpoint_every_steps, "an integer >= 0 (0: only at the end)")
        require(self.samples_every_epochs >= 1, f"{key}.samples_every_epochs",
                self.samples_every_epochs, "an integer >= 1")
        require(self.sample_images >= 1, f"{key}.sample_images", self.sample_images, "an integer >= 1")
        require(self.collapse_d_loss >= 0.0, f"{key}.collapse_d_loss", self.collapse_d_loss, "a number >= 0")
        require(self.collapse_patience_steps >= 1, f"{key}.collapse_patience_steps",
                self.collapse_patience_steps, "an integer >= 1")

    def check_image_size(self, image_size: int, key: str = "transform.image_size") -> None:
        """The networks' own size rules, named by config key: a U-Net needs a power of two, a PatchGAN a patch map."""
        rule = networks.generator_size_rule(self.generator, image_size)
        require(rule is None, key, image_size, f"{rule} with {SECTION}.generator: {self.generator} "
                "(or another generator)")
        if self.discriminator == networks.DISCRIMINATOR_PATCHGAN:
            require(networks.patchgan_output_size(image_size, self.n_layers_d) >= 1, f"{SECTION}.n_layers_d",
                    self.n_layers_d, f"a PatchGAN depth that leaves a patch map at {key}={image_size} "
                    f"(at most {networks.max_patchgan_layers(image_size)})")


@dataclasses.dataclass(frozen=True)
class ServingSettings:
    """How the exported signatures treat a request: the pixel limit and the size of the answer."""

    max_input_pixels: Optional[int]
    output_size: Literal[export.OUTPUT_SIZES]
    inference: Literal[inference.INFERENCE_MODES]
    tile_scale: float
    tile_overlap: float
    tflite: List[Literal[tflite_export.VARIANTS]]

    def validate(self, key: str) -> None:
        require(self.max_input_pixels is None or self.max_input_pixels >= 1, f"{key}.max_input_pixels",
                self.max_input_pixels, "an integer >= 1, or null for no limit")
        require(0.0 < self.tile_scale <= inference.MAX_TILE_SCALE, f"{key}.tile_scale", self.tile_scale,
                f"a number in (0, {inference.MAX_TILE_SCALE}] (1: native pixels; 0.25: the training images were "
                "downscaled 4x from photos of this resolution)")
        require(0.0 <= self.tile_overlap <= inference.MAX_TILE_OVERLAP, f"{key}.tile_overlap", self.tile_overlap,
                f"a fraction of the tile side in [0, {inference.MAX_TILE_OVERLAP}]")
        require(len(set(self.tflite)) == len(self.tflite), f"{key}.tflite", self.tflite,
                "each variant at most once")
