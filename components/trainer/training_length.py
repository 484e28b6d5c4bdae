"""How long to train: the configured epochs, stretched on small datasets to ``trainer.min_steps``.

``epochs`` + ``epochs_decay`` count passes over the data, so the number of optimizer steps falls with
the dataset: 30 epochs of 100 pairs at batch 8 are 360 steps, too few for a GAN to learn real photos.
When the configured schedule has fewer than ``min_steps`` steps, both phases are lengthened by the
same factor (the constant-rate and decay phases keep their proportion, as in the paper's 100 + 100).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional, Tuple

from components.trainer.settings import TrainerSettings


def stretched(settings: TrainerSettings, steps_per_epoch: int) -> Tuple[TrainerSettings, Optional[str]]:
    """The settings to train with and, when they were lengthened, the sentence that says so."""
    epochs = settings.epochs + settings.epochs_decay
    steps = epochs * steps_per_epoch
    if not settings.min_steps or steps >= settings.min_steps or epochs == 0:
        return settings, None
    factor = settings.min_steps / steps
    constant = math.ceil(settings.epochs * factor)
    decay = math.ceil(settings.epochs_decay * factor)
    longer = dataclasses.replace(settings, epochs=constant, epochs_decay=decay)
    return longer, (
        f"trainer.min_steps {settings.min_steps}: {steps_per_epoch} steps per epoch make the configured "
        f"{settings.epochs} + {settings.epochs_decay} epochs only {steps} steps, so this run trains "
        f"{constant} + {decay} epochs ({(constant + decay) * steps_per_epoch} steps); set trainer.min_steps: 0 "
        "to train exactly the configured epochs")
