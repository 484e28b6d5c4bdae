"""Analytic FLOP count of the pix2pix train step, from the networks' convolutions.

Why not TensorFlow's profiler: it counts each op of the step's graph statically, including ops
that grappler prunes and with per-op-type rules, and gave 110 % of the machine's measured matmul
peak for the batch-8 step, which cannot be. Counting the convolutions (all but ~1 % of the
arithmetic: norms, activations, losses and Adam are element-wise) from the layer shapes gives a
number one can check by hand.

Per image, a multiply-add counted as 2 FLOPs:
* ``Conv2D``: 2 * kh * kw * (C_in / groups) * C_out * H_out * W_out;
* ``Conv2DTranspose``: 2 * kh * kw * C_in * C_out * H_in * W_in (every input pixel scatters a
  kh x kw x C_out patch).
The backward pass of a convolution costs its forward twice: once for the weight gradient, once for
the input gradient; the input gradient of a network's first convolution is only needed when
something upstream is being trained (D's on G's fakes, for G's loss).

The step (``Pix2PixGAN._replica_gradients``) runs G once and D twice (real and fake pairs), then
differentiates G's loss (back through D on the fakes, then through G) and D's loss (back through
both D passes). F_G, F_D are the networks' forward FLOPs, g0, d0 their first convolutions':

    forward       F_G + 2 F_D
    G's gradient  F_D (input gradients through D) + F_G (weights) + F_G - g0 (inputs)
    D's gradient  2 F_D (weights) + 2 (F_D - d0) (inputs)
    total         3 F_G - g0 + 7 F_D - 2 d0

``wgangp``'s gradient penalty adds D's forward on the interpolates, its input gradient, and the
gradient of both with respect to D's weights, about 2x their cost: 6 F_D, an estimate (the
second-order terms' exact cost depends on how TensorFlow builds the double backward).
"""
from __future__ import annotations

import dataclasses
import math
from typing import List, Tuple

import tensorflow as tf

# The backward pass of a convolution: one weight gradient plus one input gradient, each as costly
# as the forward convolution.
BACKWARD_PASSES = 2
FLOPS_PER_MULTIPLY_ADD = 2
# WGAN-GP penalty: forward + input gradient (2 F_D), and differentiating those (2x): 6 F_D.
GRADIENT_PENALTY_FORWARDS = 6
GAN_MODE_WGANGP = "wgangp"


def _spatial(shape) -> Tuple[int, int]:
    return int(shape[1]), int(shape[2])


def conv_flops(layer: tf.keras.layers.Layer) -> int:
    """Forward FLOPs of one image through ``layer``; 0 for a layer that is no convolution."""
    if isinstance(layer, tf.keras.layers.Conv2DTranspose):  # (a subclass of Conv2D: test it first)
        height, width = _spatial(layer.input_shape)
        c_in, c_out = int(layer.input_shape[-1]), layer.filters
        return FLOPS_PER_MULTIPLY_ADD * math.prod(layer.kernel_size) * c_in * c_out * height * width
    if isinstance(layer, tf.keras.layers.Conv2D):
        height, width = _spatial(layer.output_shape)
        c_in, c_out = int(layer.input_shape[-1]) // layer.groups, layer.filters
        return FLOPS_PER_MULTIPLY_ADD * math.prod(layer.kernel_size) * c_in * c_out * height * width
    return 0


def conv_layer_flops(model: tf.keras.Model) -> List[Tuple[str, int]]:
    """(name, forward FLOPs per image) of each convolution, in the model's (topological) order."""
    return [(layer.name, flops) for layer in model.layers if (flops := conv_flops(layer))]


def forward_flops(model: tf.keras.Model) -> int:
    """Forward FLOPs of one image through every convolution of ``model``."""
    return sum(flops for _, flops in conv_layer_flops(model))


def first_conv_flops(model: tf.keras.Model) -> int:
    """Forward FLOPs of the first convolution: its input gradient is skipped when nothing before it
    trains."""
    layers = conv_layer_flops(model)
    return layers[0][1] if layers else 0


@dataclasses.dataclass(frozen=True)
class StepFlops:
    """FLOPs of one train step over a batch, split as in the module docstring."""
    forward: int
    generator_backward: int
    discriminator_backward: int
    gradient_penalty: int

    @property
    def total(self) -> int:
        return self.forward + self.generator_backward + self.discriminator_backward + self.gradient_penalty


def train_step_flops(generator: tf.keras.Model, discriminator: tf.keras.Model, batch_size: int,
                     gan_mode: str = "vanilla") -> StepFlops:
    """FLOPs of ``Pix2PixGAN.train_step`` on a global batch of ``batch_size`` pairs."""
    f_g, f_d = forward_flops(generator), forward_flops(discriminator)
    g0, d0 = first_conv_flops(generator), first_conv_flops(discriminator)
    per_image = StepFlops(
        forward=f_g + 2 * f_d,
        generator_backward=f_d + BACKWARD_PASSES * f_g - g0,
        discriminator_backward=2 * (BACKWARD_PASSES * f_d - d0),
        gradient_penalty=GRADIENT_PENALTY_FORWARDS * f_d if gan_mode == GAN_MODE_WGANGP else 0)
    return StepFlops(**{field.name: getattr(per_image, field.name) * batch_size
                        for field in dataclasses.fields(StepFlops)})
