"""Mixed precision from ``trainer.mixed_precision``: a Keras policy for the networks' layers and,
for float16, loss scaling.

Under ``mixed_float16`` / ``mixed_bfloat16`` layers compute in 16 bits and keep float32 variables.
The networks pin their output layers (G's tanh conv, D's logit conv) to float32, and the losses
cast to float32, so outputs, losses and the exported signatures stay float32. The policy is set
only while the networks are built (``policy_scope``) and the previous one is restored, so it never
leaks into other models of the same process. float16's narrow range makes small gradients
underflow: its optimizers are wrapped in a dynamic ``LossScaleOptimizer`` (the loop scales the
loss and unscales the gradients itself); bfloat16 has float32's range and needs no scaling.
"""
from __future__ import annotations

import contextlib

import tensorflow as tf

KEY = "trainer.mixed_precision"
FLOAT32 = "float32"
MIXED_FLOAT16 = "mixed_float16"
MIXED_BFLOAT16 = "mixed_bfloat16"
POLICIES = (FLOAT32, MIXED_FLOAT16, MIXED_BFLOAT16)


def _check(name: str) -> None:
    if name not in POLICIES:
        raise ValueError(f"{KEY}: got {name!r}; allowed values: {list(POLICIES)}")


@contextlib.contextmanager
def policy_scope(name: str):
    """Layers created inside get the policy ``name``; the global policy is restored on exit."""
    _check(name)
    previous = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)


def uses_loss_scaling(name: str) -> bool:
    _check(name)
    return name == MIXED_FLOAT16


def wrap_optimizer(optimizer: tf.keras.optimizers.Optimizer, name: str) -> tf.keras.optimizers.Optimizer:
    """The optimizer, wrapped in a dynamic LossScaleOptimizer under float16."""
    if uses_loss_scaling(name):
        return tf.keras.mixed_precision.LossScaleOptimizer(optimizer)
    return optimizer


def scale_loss(optimizer, loss: tf.Tensor) -> tf.Tensor:
    """The loss to differentiate: multiplied by the loss scale under float16, else unchanged."""
    if isinstance(optimizer, tf.keras.mixed_precision.LossScaleOptimizer):
        return optimizer.get_scaled_loss(loss)
    return loss


def unscale_gradients(optimizer, gradients):
    """Gradients of a ``scale_loss`` loss, divided back (inf/NaN stay: the optimizer then skips the
    step and lowers the scale)."""
    if isinstance(optimizer, tf.keras.mixed_precision.LossScaleOptimizer):
        return optimizer.get_unscaled_gradients(gradients)
    return gradients
