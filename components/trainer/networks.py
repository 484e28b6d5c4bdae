"""Pix2Pix networks: the U-Net generator and the PatchGAN discriminator.

Follows Isola et al., "Image-to-Image Translation with Conditional Adversarial
Networks" (CVPR 2017), appendix 6.1, in the layout of the TensorFlow pix2pix
tutorial (so that the default 256x256 networks have exactly the tutorial's
parameter counts: 54,425,859 for G and 2,770,433 for D) and with the options of
junyanz/pytorch-CycleGAN-and-pix2pix (``ngf``/``ndf``, ``n_layers``, ``norm``).

Notation of the paper: ``Ck`` is Conv-Norm-ReLU with k filters, ``CDk`` the
same with dropout 50%; all convolutions are 4x4, stride 2 (except the last two
of the discriminator), encoder ReLUs are leaky with slope 0.2, decoder ReLUs are
not.

All tensors are NHWC; ``tf.keras`` is the legacy Keras 2 (``tf_keras``), which
TFX/TFT need.
"""
import math
import os
from typing import Optional

# Normally set by ``components/__init__.py``; repeated for when TFX loads this
# file by path. Must precede the first TensorFlow import.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402

# Paper, appendix 6.1: LeakyReLU slope, N(0, 0.02) init, 4x4 kernels, 50% dropout.
LEAKY_RELU_SLOPE = 0.2
INIT_STDDEV = 0.02
KERNEL_SIZE = 4
DOWNSAMPLE_STRIDE = 2
DROPOUT_RATE = 0.5
# Filters double per block up to 8 * ngf (C64-C128-C256-C512-C512-...).
MAX_FILTER_MULTIPLIER = 8
# The first three decoder blocks are CD512 (dropout); the rest are plain Ck.
NUM_DROPOUT_DECODER_BLOCKS = 3
# image_size 16 is the smallest U-Net with the three dropout blocks plus the
# output block; 2**4 = 16 means four downsamplings.
MIN_UNET_IMAGE_SIZE = 16
# The paper's 70x70 PatchGAN has three stride-2 convolutions.
DEFAULT_DISCRIMINATOR_LAYERS = 3

# Norm layers. Scale (gamma) starts at N(1, 0.02) as in the reference PyTorch
# init_weights; epsilon and momentum are PyTorch's defaults (Keras momentum
# 0.9 == PyTorch momentum 0.1).
NORM_SCALE_INIT_MEAN = 1.0
BATCH_NORM_MOMENTUM = 0.9
NORM_EPSILON = 1e-5

NORM_BATCH = "batch"
NORM_INSTANCE = "instance"
NORM_NONE = "none"
NORMS = (NORM_BATCH, NORM_INSTANCE, NORM_NONE)


def _kernel_init() -> tf.keras.initializers.Initializer:
    return tf.keras.initializers.RandomNormal(mean=0.0, stddev=INIT_STDDEV)


def _scale_init() -> tf.keras.initializers.Initializer:
    return tf.keras.initializers.RandomNormal(
        mean=NORM_SCALE_INIT_MEAN, stddev=INIT_STDDEV)


@tf.keras.utils.register_keras_serializable(package="pix2pix")
class InstanceNormalization(tf.keras.layers.Layer):
    """Per-sample, per-channel normalisation over H and W, then scale + offset.

    Unlike batch norm it keeps no moving statistics, so training and inference
    behave the same and batch size does not matter (Ulyanov et al. 2016).
    Kept here instead of pulling in tensorflow-addons (unmaintained).
    """

    def __init__(self, epsilon: float = NORM_EPSILON, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.scale = self.add_weight(
            name="scale", shape=(channels,), initializer=_scale_init(),
            trainable=True)
        self.offset = self.add_weight(
            name="offset", shape=(channels,), initializer="zeros",
            trainable=True)
        super().build(input_shape)

    def call(self, inputs):
        # Statistics in float32 even under mixed precision.
        x = tf.cast(inputs, tf.float32)
        mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)
        x = (x - mean) * tf.math.rsqrt(variance + self.epsilon)
        x = x * tf.cast(self.scale, tf.float32) + tf.cast(self.offset, tf.float32)
        return tf.cast(x, inputs.dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon})
        return config


def _check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def _norm_layer(norm: str, name: str) -> Optional[tf.keras.layers.Layer]:
    """The normalisation layer for ``norm``, or None for "none"."""
    if norm == NORM_BATCH:
        return tf.keras.layers.BatchNormalization(
            momentum=BATCH_NORM_MOMENTUM, epsilon=NORM_EPSILON,
            gamma_initializer=_scale_init(), name=name)
    if norm == NORM_INSTANCE:
        return InstanceNormalization(name=name)
    return None


def _use_bias(norm: str) -> bool:
    """Whether hidden convolutions carry a bias.

    A normalised network drops them: a bias before a norm is cancelled by the
    mean subtraction and replaced by the norm's offset. As in both reference
    implementations this also applies to the un-normalised first encoder conv,
    which keeps the parameter count equal to the tutorial's.
    """
    return norm == NORM_NONE


def _filters(base: int, index: int) -> int:
    """``base * 2**index``, capped at ``base * MAX_FILTER_MULTIPLIER``."""
    return base * min(2 ** index, MAX_FILTER_MULTIPLIER)


def _check_positive_int(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def unet_depth(image_size: int) -> int:
    """Number of U-Net downsamplings: log2(image_size), down to a 1x1 bottleneck.

    256 -> 8 (the paper's unet_256), 128 -> 7, 64 -> 6, 32 -> 5, 16 -> 4.
    """
    if (isinstance(image_size, bool) or not isinstance(image_size, int)
            or image_size < MIN_UNET_IMAGE_SIZE
            or image_size & (image_size - 1)):
        raise ValueError(
            "image_size must be a power of two >= "
            f"{MIN_UNET_IMAGE_SIZE} (16, 32, 64, 128, 256, ...), "
            f"got {image_size!r}")
    return int(math.log2(image_size))


def build_unet_generator(image_size: int,
                         channels: int = 3,
                         ngf: int = 64,
                         norm: str = NORM_BATCH,
                         dropout_rate: float = DROPOUT_RATE,
                         name: str = "unet_generator") -> tf.keras.Model:
    """The pix2pix U-Net generator (paper appendix 6.1.1).

    Encoder C64-C128-C256-C512-C512-C512-C512-C512 (at 256; one block per
    halving down to 1x1, no norm on the first), decoder CD512-CD512-CD512-
    C512-C256-C128-C64 with skip connections concatenating the mirrored
    encoder output, then a transposed conv to ``channels`` and tanh.

    As in the TensorFlow tutorial, the 1x1 bottleneck conv is batch-normalised
    (needed for the reference parameter count). Instance norm is *not*
    applied there: per-sample statistics of a single pixel are degenerate
    (the output would be the constant offset, cutting the bottleneck off).

    Pix2pix's only noise source is this dropout, which the paper keeps on at
    test time; pass ``training=True`` when sampling if you want that.

    Args:
      image_size: height = width of input and output; a power of two >= 16.
      channels: image channels of input and output.
      ngf: filters of the first encoder block.
      norm: "batch", "instance" or "none".
      dropout_rate: dropout of the first three decoder blocks; 0 disables it.
      name: Keras model name.

    Returns:
      A Keras model mapping [B, S, S, channels] to [B, S, S, channels] in
      [-1, 1].
    """
    depth = unet_depth(image_size)
    _check_positive_int(channels, "channels")
    _check_positive_int(ngf, "ngf")
    _check_norm(norm)
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate!r}")
    use_bias = _use_bias(norm)

    inputs = tf.keras.Input(shape=(image_size, image_size, channels),
                            name="input_image")
    x = inputs
    encoder_filters = [_filters(ngf, i) for i in range(depth)]
    skips = []
    for i, filters in enumerate(encoder_filters):
        prefix = f"enc{i}"
        x = tf.keras.layers.Conv2D(
            filters, KERNEL_SIZE, strides=DOWNSAMPLE_STRIDE, padding="same",
            use_bias=use_bias, kernel_initializer=_kernel_init(),
            name=f"{prefix}_conv")(x)
        is_first = i == 0
        is_bottleneck = i == depth - 1
        if not is_first and not (is_bottleneck and norm == NORM_INSTANCE):
            norm_layer = _norm_layer(norm, f"{prefix}_norm")
            if norm_layer is not None:
                x = norm_layer(x)
        x = tf.keras.layers.LeakyReLU(LEAKY_RELU_SLOPE, name=f"{prefix}_lrelu")(x)
        skips.append(x)

    # Decoder: mirror every encoder block but the first (whose mirror is the
    # output layer), concatenating the encoder output of matching size.
    for j, skip_index in enumerate(range(depth - 2, -1, -1)):
        prefix = f"dec{j}"
        x = tf.keras.layers.Conv2DTranspose(
            encoder_filters[skip_index], KERNEL_SIZE,
            strides=DOWNSAMPLE_STRIDE, padding="same", use_bias=use_bias,
            kernel_initializer=_kernel_init(), name=f"{prefix}_deconv")(x)
        norm_layer = _norm_layer(norm, f"{prefix}_norm")
        if norm_layer is not None:
            x = norm_layer(x)
        if j < NUM_DROPOUT_DECODER_BLOCKS and dropout_rate > 0.0:
            x = tf.keras.layers.Dropout(dropout_rate, name=f"{prefix}_dropout")(x)
        x = tf.keras.layers.ReLU(name=f"{prefix}_relu")(x)
        x = tf.keras.layers.Concatenate(name=f"{prefix}_skip")(
            [x, skips[skip_index]])

    outputs = tf.keras.layers.Conv2DTranspose(
        channels, KERNEL_SIZE, strides=DOWNSAMPLE_STRIDE, padding="same",
        activation="tanh", use_bias=True, kernel_initializer=_kernel_init(),
        name="output_deconv")(x)
    return tf.keras.Model(inputs=inputs, outputs=outputs, name=name)


def patchgan_output_size(image_size: int, n_layers: int = DEFAULT_DISCRIMINATOR_LAYERS) -> int:
    """Side of the PatchGAN logit map: n_layers 'same' stride-2 convs halve
    (rounding up), then two padded 4x4 stride-1 convs each remove one pixel.

    256 with n_layers=3 -> 30 (the 30x30 map of 70x70 patches).
    """
    size = image_size
    for _ in range(n_layers):
        size = math.ceil(size / DOWNSAMPLE_STRIDE)
    # ZeroPadding2D(1) adds 2, a valid 4x4 conv removes 3: net -1, twice.
    return size - 2


def patchgan_receptive_field(n_layers: int = DEFAULT_DISCRIMINATOR_LAYERS) -> int:
    """Input patch seen by one logit: 70 for n_layers=3 (paper's default),
    34 for 2, 16 for 1."""
    field = 1
    strides = [1, 1] + [DOWNSAMPLE_STRIDE] * n_layers  # from the output back
    for stride in strides:
        field = (field - 1) * stride + KERNEL_SIZE
    return field


def build_patchgan_discriminator(image_size: int,
                                 channels: int = 3,
                                 ndf: int = 64,
                                 n_layers: int = DEFAULT_DISCRIMINATOR_LAYERS,
                                 norm: str = NORM_BATCH,
                                 name: str = "patchgan_discriminator") -> tf.keras.Model:
    """The conditional PatchGAN discriminator (paper appendix 6.1.2).

    D sees the (input, candidate) pair concatenated on channels and returns a
    map of logits, one per overlapping patch; with n_layers=3 this is the
    paper's 70x70 PatchGAN C64-C128-C256-C512 (C512 with stride 1, no norm on
    C64) followed by a 1-filter conv. No sigmoid: the losses take logits.

    Args:
      image_size: height = width of both inputs.
      channels: channels of each of the two images.
      ndf: filters of the first conv.
      n_layers: number of stride-2 convs; 3 = 70x70, 2 = 34x34, 1 = 16x16
        patches. >= 1 (the 1x1 PixelGAN is not implemented).
      norm: "batch", "instance" or "none".
      name: Keras model name.

    Returns:
      A Keras model mapping ([B, S, S, channels], [B, S, S, channels]) to
      logits [B, P, P, 1], P = patchgan_output_size(S, n_layers).
    """
    _check_positive_int(image_size, "image_size")
    _check_positive_int(channels, "channels")
    _check_positive_int(ndf, "ndf")
    if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < 1:
        raise ValueError(
            f"n_layers must be an int >= 1 (3 = the paper's 70x70 PatchGAN), "
            f"got {n_layers!r}")
    _check_norm(norm)
    if patchgan_output_size(image_size, n_layers) < 1:
        raise ValueError(
            f"image_size {image_size} is too small for n_layers={n_layers}: "
            f"need image_size > {2 * DOWNSAMPLE_STRIDE ** n_layers}")
    use_bias = _use_bias(norm)

    input_image = tf.keras.Input(shape=(image_size, image_size, channels),
                                 name="input_image")
    target_image = tf.keras.Input(shape=(image_size, image_size, channels),
                                  name="target_image")
    x = tf.keras.layers.Concatenate(name="pair")([input_image, target_image])

    def block(x, filters, strides, index, normalise):
        prefix = f"conv{index}"
        if strides == 1:
            x = tf.keras.layers.ZeroPadding2D(name=f"{prefix}_pad")(x)
        x = tf.keras.layers.Conv2D(
            filters, KERNEL_SIZE, strides=strides,
            padding="same" if strides > 1 else "valid", use_bias=use_bias,
            kernel_initializer=_kernel_init(), name=f"{prefix}_conv")(x)
        norm_layer = _norm_layer(norm, f"{prefix}_norm") if normalise else None
        if norm_layer is not None:
            x = norm_layer(x)
        return tf.keras.layers.LeakyReLU(LEAKY_RELU_SLOPE, name=f"{prefix}_lrelu")(x)

    for i in range(n_layers):
        x = block(x, _filters(ndf, i), DOWNSAMPLE_STRIDE, i, normalise=i > 0)
    x = block(x, _filters(ndf, n_layers), 1, n_layers, normalise=True)

    x = tf.keras.layers.ZeroPadding2D(name="logits_pad")(x)
    logits = tf.keras.layers.Conv2D(
        1, KERNEL_SIZE, strides=1, padding="valid", use_bias=True,
        kernel_initializer=_kernel_init(), name="logits")(x)
    return tf.keras.Model(inputs=[input_image, target_image], outputs=logits,
                          name=name)


def count_parameters(model: tf.keras.Model) -> int:
    """All weights, trainable and not (batch-norm moving statistics count),
    like ``model.count_params()``."""
    return int(sum(math.prod(w.shape) for w in model.weights))
