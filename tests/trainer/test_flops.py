"""Analytic FLOP count of the train step (components/trainer/flops.py), against hand counts.

Pins: a Conv2D costs 2*kh*kw*C_in*C_out*H_out*W_out per image, a Conv2DTranspose the same with the
input's H and W, other layers nothing; the first convolution is found; the step's total is
3 F_G - g0 + 7 F_D - 2 d0 per image (plus 6 F_D for wgangp), times the batch.
"""
import pytest
import tensorflow as tf

from components.trainer import flops, networks


def tiny_model():
    """8x8x3 -> conv 3x3/2 'same' to 4x4x4 -> ReLU -> transposed conv 4x4/2 to 8x8x2 -> conv 1x1 to 8x8x1."""
    inputs = tf.keras.Input((8, 8, 3))
    x = tf.keras.layers.Conv2D(4, 3, strides=2, padding="same", name="down")(inputs)
    x = tf.keras.layers.ReLU(name="relu")(x)
    x = tf.keras.layers.Conv2DTranspose(2, 4, strides=2, padding="same", name="up")(x)
    x = tf.keras.layers.Conv2D(1, 1, name="out")(x)
    return tf.keras.Model(inputs, x)


DOWN = 2 * 3 * 3 * 3 * 4 * 4 * 4   # 2 k k C_in C_out H_out W_out = 3456
UP = 2 * 4 * 4 * 4 * 2 * 4 * 4     # 2 k k C_in C_out H_in W_in   = 4096
OUT = 2 * 1 * 1 * 2 * 1 * 8 * 8    # 256


def test_convolutions_are_counted_from_their_shapes_and_other_layers_not_at_all():
    model = tiny_model()
    assert flops.conv_layer_flops(model) == [("down", DOWN), ("up", UP), ("out", OUT)]
    assert flops.forward_flops(model) == DOWN + UP + OUT == 7808
    assert flops.first_conv_flops(model) == DOWN
    assert flops.conv_flops(model.get_layer("relu")) == 0


def test_the_pixel_discriminator_by_hand():
    # (input, target) of 4x4x3 concatenated: 6 channels; 1x1 convs 6->2, 2->4, 4->1 on 16 pixels.
    model = networks.build_pixel_discriminator(4, channels=3, ndf=2, norm="none")
    assert flops.conv_layer_flops(model) == [("conv0_conv", 2 * 6 * 2 * 16), ("conv1_conv", 2 * 2 * 4 * 16),
                                             ("logits", 2 * 4 * 1 * 16)]
    assert flops.forward_flops(model) == 384 + 256 + 128


@pytest.mark.parametrize("gan_mode, penalty", [("vanilla", 0), ("lsgan", 0), ("wgangp", 6)])
def test_the_train_step_count_follows_the_steps_passes(gan_mode, penalty):
    generator = tiny_model()                                             # F_G = 7808, g0 = 3456
    discriminator = networks.build_pixel_discriminator(4, ndf=2, norm="none")  # F_D = 768, d0 = 384
    f_g, g0, f_d, d0 = 7808, DOWN, 768, 384
    step = flops.train_step_flops(generator, discriminator, batch_size=3, gan_mode=gan_mode)

    assert step.forward == 3 * (f_g + 2 * f_d)
    assert step.generator_backward == 3 * (f_d + 2 * f_g - g0)
    assert step.discriminator_backward == 3 * 2 * (2 * f_d - d0)
    assert step.gradient_penalty == 3 * penalty * f_d
    assert step.total == 3 * (3 * f_g - g0 + 7 * f_d - 2 * d0 + penalty * f_d)


def test_the_papers_networks_at_256():
    """U-Net ngf 64 (6.05 G multiply-adds) and the 70x70 PatchGAN ndf 64 (3.20 G) per image."""
    generator = networks.build_unet_generator(256, ngf=64)
    discriminator = networks.build_patchgan_discriminator(256, ndf=64)
    assert flops.forward_flops(generator) == 12_096_372_736
    assert flops.forward_flops(discriminator) == 6_394_281_984
    assert flops.train_step_flops(generator, discriminator, batch_size=1).total == 80_545_775_616
