"""Pix2Pix networks: U-Net / ResNet generators, PatchGAN / PixelGAN discriminators.

Follows Isola et al., "Image-to-Image Translation with Conditional Adversarial
Networks" (CVPR 2017), appendix 6.1, in the layout of the TensorFlow pix2pix
tutorial (so that the default 256x256 networks have exactly the tutorial's
parameter counts: 54,425,859 for G and 2,770,433 for D) and with the options of
junyanz/pytorch-CycleGAN-and-pix2pix (``ngf``/``ndf``, ``n_layers``, ``norm``,
``--netG resnet_6blocks | resnet_9blocks``, ``--netD pixel``).

Notation of the paper: ``Ck`` is Conv-Norm-ReLU with k filters, ``CDk`` the
same with dropout 50%; all convolutions are 4x4, stride 2 (except the last two
of the discriminator), encoder ReLUs are leaky with slope 0.2, decoder ReLUs are
not.

All tensors are NHWC; ``tf.keras`` is the legacy Keras 2 (``tf_keras``), which
TFX/TFT need.
"""
import math
from typing import Optional

import components  # noqa: F401,E402 - components/__init__.py sets TF_USE_LEGACY_KERAS before TensorFlow loads

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

# The last layer of every network (G's tanh conv, D's logit conv) computes in
# float32 whatever the Keras mixed-precision policy of the other layers: the
# tanh and the logits feed the losses, and the export's signatures stay float32.
# None would follow the policy; under the default float32 policy both agree.
OUTPUT_DTYPE = "float32"

# Norm layers. Scale (gamma) starts at N(1, 0.02) as in the reference PyTorch
# init_weights; epsilon and momentum are PyTorch's defaults (Keras momentum
# 0.9 == PyTorch momentum 0.1).
NORM_SCALE_INIT_MEAN = 1.0
BATCH_NORM_MOMENTUM = 0.9
NORM_EPSILON = 1e-5


@tf.keras.utils.register_keras_serializable(package="pix2pix")
class StepSeededDropout(tf.keras.layers.Dropout):
    """Dropout whose training mask comes from ``seed_tensor`` when the train step sets one.

    The Trainer draws one seed per step from a ``tf.random.Generator`` that is saved in its checkpoint, so a
    resumed run replays the very masks of an uninterrupted one (Keras's own dropout draws from op-level random
    state that no checkpoint holds). Without a seed (e.g. a plain ``model(x, training=True)``) it is Keras's
    dropout; in inference it is the identity, as always.
    """

    seed_tensor = None   # int64 [2], set by the train step before the model is called in its traced function

    def call(self, inputs, training=None):
        if not training or not self._seeded_here():
            return super().call(inputs, training=training)
        keep = tf.random.stateless_uniform(tf.shape(inputs), seed=self.seed_tensor) >= self.rate
        return tf.where(keep, inputs / (1.0 - self.rate), tf.zeros_like(inputs))

    def _seeded_here(self) -> bool:
        """A seed set by a train step belongs to that step's graph: any other call draws as Keras does."""
        seed = self.seed_tensor
        return seed is not None and getattr(seed, "graph", None) is tf.compat.v1.get_default_graph()


def seed_dropouts(model: tf.keras.Model, seed: tf.Tensor) -> None:
    """Gives each StepSeededDropout of ``model`` its own stream derived from one int64 [2] ``seed``."""
    layers = [layer for layer in model.layers if isinstance(layer, StepSeededDropout)]
    for index, layer in enumerate(layers):
        layer.seed_tensor = tf.stack([seed[0], seed[1] + index])


NORM_BATCH = "batch"
NORM_INSTANCE = "instance"
NORM_NONE = "none"
NORMS = (NORM_BATCH, NORM_INSTANCE, NORM_NONE)

# Generator kinds, named as PyTorch's --netG (the U-Net's depth follows the
# image size, so one "unet" covers unet_128 and unet_256).
GENERATOR_UNET = "unet"
GENERATOR_RESNET_6BLOCKS = "resnet_6blocks"
GENERATOR_RESNET_9BLOCKS = "resnet_9blocks"
GENERATORS = (GENERATOR_UNET, GENERATOR_RESNET_6BLOCKS, GENERATOR_RESNET_9BLOCKS)
RESNET_GENERATOR_BLOCKS = {GENERATOR_RESNET_6BLOCKS: 6, GENERATOR_RESNET_9BLOCKS: 9}

# Discriminator kinds (PyTorch --netD basic/n_layers = patchgan, pixel = pixelgan).
DISCRIMINATOR_PATCHGAN = "patchgan"
DISCRIMINATOR_PIXELGAN = "pixelgan"
DISCRIMINATORS = (DISCRIMINATOR_PATCHGAN, DISCRIMINATOR_PIXELGAN)

# ResNet generator (Johnson et al. 2016, as in PyTorch's ResnetGenerator):
# 7x7 convs at full resolution, 3x3 elsewhere, two stride-2 down/upsamplings.
RESNET_OUTER_KERNEL = 7
RESNET_KERNEL = 3
RESNET_SAMPLINGS = 2
DEFAULT_RESNET_BLOCKS = 9
# The image must survive RESNET_SAMPLINGS halvings exactly ...
RESNET_SIZE_MULTIPLE = DOWNSAMPLE_STRIDE ** RESNET_SAMPLINGS
# ... and a reflection pad needs more pixels than it pads: the residual blocks'
# 1-pixel reflection needs >= 2 pixels at 1/4 size.
MIN_RESNET_IMAGE_SIZE = 2 * RESNET_SIZE_MULTIPLE


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


@tf.keras.utils.register_keras_serializable(package="pix2pix")
class ReflectionPadding2D(tf.keras.layers.Layer):
    """Pads H and W by mirroring the border (PyTorch's ReflectionPad2d).

    The ResNet generator pads this way instead of with zeros so that its
    full-resolution 7x7 convs see no artificial dark frame around the image.
    """

    def __init__(self, padding: int = 1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"padding must be an int >= 0, got {padding!r}")
        self.padding = padding

    def call(self, inputs):
        p = self.padding
        return tf.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")

    def compute_output_shape(self, input_shape):
        shape = tf.TensorShape(input_shape).as_list()
        for axis in (1, 2):
            if shape[axis] is not None:
                shape[axis] += 2 * self.padding
        return tf.TensorShape(shape)

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding})
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


def _check_dropout_rate(dropout_rate) -> None:
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate!r}")


def unet_depth(image_size: int) -> int:
    """Number of U-Net downsamplings: log2(image_size), down to a 1x1 bottleneck.

    256 -> 8 (the paper's unet_256), 128 -> 7, 64 -> 6, 32 -> 5, 16 -> 4.
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int) or generator_size_rule(
            GENERATOR_UNET, image_size):
        raise ValueError(
            "image_size must be a power of two >= "
            f"{MIN_UNET_IMAGE_SIZE} (16, 32, 64, 128, 256, ...), "
            f"got {image_size!r}")
    return int(math.log2(image_size))


def generator_size_rule(kind: str, image_size: int) -> Optional[str]:
    """None when generator ``kind`` translates image_size x image_size images, else the rule the size breaks.

    The U-Net halves the image down to a 1x1 bottleneck (a power of two); the
    ResNet generator downsamples twice with reflection padding.
    """
    if kind == GENERATOR_UNET:
        if image_size >= MIN_UNET_IMAGE_SIZE and not image_size & (image_size - 1):
            return None
        return "a power of two" if image_size >= MIN_UNET_IMAGE_SIZE else f"a power of two >= {MIN_UNET_IMAGE_SIZE}"
    if kind in RESNET_GENERATOR_BLOCKS:
        if image_size >= MIN_RESNET_IMAGE_SIZE and image_size % RESNET_SIZE_MULTIPLE == 0:
            return None
        return f"a multiple of {RESNET_SIZE_MULTIPLE} >= {MIN_RESNET_IMAGE_SIZE}"
    raise ValueError(f"generator must be one of {GENERATORS}, got {kind!r}")


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
    _check_dropout_rate(dropout_rate)
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
            x = StepSeededDropout(dropout_rate, name=f"{prefix}_dropout")(x)
        x = tf.keras.layers.ReLU(name=f"{prefix}_relu")(x)
        x = tf.keras.layers.Concatenate(name=f"{prefix}_skip")(
            [x, skips[skip_index]])

    outputs = tf.keras.layers.Conv2DTranspose(
        channels, KERNEL_SIZE, strides=DOWNSAMPLE_STRIDE, padding="same",
        activation="tanh", use_bias=True, kernel_initializer=_kernel_init(),
        dtype=OUTPUT_DTYPE, name="output_deconv")(x)
    return tf.keras.Model(inputs=inputs, outputs=outputs, name=name)


def _check_resnet_image_size(image_size) -> None:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or generator_size_rule(
            GENERATOR_RESNET_6BLOCKS, image_size):
        raise ValueError(
            f"image_size must be a multiple of {RESNET_SIZE_MULTIPLE} and >= "
            f"{MIN_RESNET_IMAGE_SIZE} for the ResNet generator (two stride-2 "
            f"downsamplings, reflection padding), got {image_size!r}")


def _norm_then(x, norm: str, name: str):
    norm_layer = _norm_layer(norm, name)
    return norm_layer(x) if norm_layer is not None else x


def build_resnet_generator(image_size: int,
                           channels: int = 3,
                           ngf: int = 64,
                           norm: str = NORM_BATCH,
                           n_blocks: int = DEFAULT_RESNET_BLOCKS,
                           dropout_rate: float = 0.0,
                           name: str = "resnet_generator") -> tf.keras.Model:
    """The ResNet generator of the PyTorch implementation (``ResnetGenerator``).

    c7s1-ngf, d(2 ngf), d(4 ngf), n_blocks x R(4 ngf), u(2 ngf), u(ngf),
    c7s1-channels + tanh (Johnson et al. 2016): a fully convolutional
    encoder / residual transformer / decoder with no skip connections, the
    alternative to the U-Net that PyTorch offers as ``--netG resnet_9blocks``
    (and ``resnet_6blocks``). Layer by layer as PyTorch, padding included:
    reflection padding around the 7x7 convs and inside the residual blocks,
    1-pixel zero padding + 'valid' for the stride-2 3x3 convs, and each
    transposed conv cropped like ``ConvTranspose2d(padding=1,
    output_padding=1)``, so that outputs align pixel for pixel.

    Biases: only when ``norm`` is "none" (our convention, see ``_use_bias``);
    the final 7x7 conv always has one. PyTorch instead gives every conv a bias
    exactly when norm is instance (its InstanceNorm2d has no affine offset);
    with batch norm the two agree: 11,383,427 trainable parameters for
    resnet_9blocks at ngf 64, plus 10,496 batch-norm moving statistics that
    ``count_params()`` also counts (PyTorch keeps those as buffers).

    Args:
      image_size: height = width of input and output; a multiple of 4, >= 8.
      channels: image channels of input and output.
      ngf: filters of the first conv; the residual blocks have 4 * ngf.
      norm: "batch", "instance" or "none".
      n_blocks: residual blocks at 1/4 resolution (PyTorch: 9 or 6); >= 0.
      dropout_rate: dropout between the two convs of every residual block;
        PyTorch's pix2pix uses 0.5 unless --no_dropout.
      name: Keras model name.

    Returns:
      A Keras model mapping [B, S, S, channels] to [B, S, S, channels] in
      [-1, 1].
    """
    _check_resnet_image_size(image_size)
    _check_positive_int(channels, "channels")
    _check_positive_int(ngf, "ngf")
    _check_norm(norm)
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, int) or n_blocks < 0:
        raise ValueError(f"n_blocks must be an int >= 0, got {n_blocks!r}")
    _check_dropout_rate(dropout_rate)
    use_bias = _use_bias(norm)
    outer_pad = RESNET_OUTER_KERNEL // 2
    inner_pad = RESNET_KERNEL // 2

    def conv(filters, kernel, layer_name, strides=1, bias=use_bias, activation=None, dtype=None):
        return tf.keras.layers.Conv2D(
            filters, kernel, strides=strides, padding="valid", use_bias=bias,
            activation=activation, kernel_initializer=_kernel_init(),
            dtype=dtype, name=layer_name)

    inputs = tf.keras.Input(shape=(image_size, image_size, channels),
                            name="input_image")
    x = ReflectionPadding2D(outer_pad, name="in_pad")(inputs)
    x = conv(ngf, RESNET_OUTER_KERNEL, "in_conv")(x)
    x = _norm_then(x, norm, "in_norm")
    x = tf.keras.layers.ReLU(name="in_relu")(x)

    for i in range(RESNET_SAMPLINGS):
        prefix = f"down{i}"
        x = tf.keras.layers.ZeroPadding2D(inner_pad, name=f"{prefix}_pad")(x)
        x = conv(_filters(ngf, i + 1), RESNET_KERNEL, f"{prefix}_conv",
                 strides=DOWNSAMPLE_STRIDE)(x)
        x = _norm_then(x, norm, f"{prefix}_norm")
        x = tf.keras.layers.ReLU(name=f"{prefix}_relu")(x)

    block_filters = _filters(ngf, RESNET_SAMPLINGS)
    for b in range(n_blocks):
        prefix = f"res{b}"
        y = ReflectionPadding2D(inner_pad, name=f"{prefix}_pad1")(x)
        y = conv(block_filters, RESNET_KERNEL, f"{prefix}_conv1")(y)
        y = _norm_then(y, norm, f"{prefix}_norm1")
        y = tf.keras.layers.ReLU(name=f"{prefix}_relu")(y)
        if dropout_rate > 0.0:
            y = StepSeededDropout(dropout_rate, name=f"{prefix}_dropout")(y)
        y = ReflectionPadding2D(inner_pad, name=f"{prefix}_pad2")(y)
        y = conv(block_filters, RESNET_KERNEL, f"{prefix}_conv2")(y)
        y = _norm_then(y, norm, f"{prefix}_norm2")
        x = tf.keras.layers.Add(name=f"{prefix}_add")([x, y])  # no ReLU after the sum

    for i in range(RESNET_SAMPLINGS):
        prefix = f"up{i}"
        # 'valid' gives 2S + 1; dropping the first row and column is PyTorch's
        # padding=1 (crop 1 each side) + output_padding=1 (add 1 at the end).
        x = tf.keras.layers.Conv2DTranspose(
            _filters(ngf, RESNET_SAMPLINGS - 1 - i), RESNET_KERNEL,
            strides=DOWNSAMPLE_STRIDE, padding="valid", use_bias=use_bias,
            kernel_initializer=_kernel_init(), name=f"{prefix}_deconv")(x)
        x = tf.keras.layers.Cropping2D(((inner_pad, 0), (inner_pad, 0)),
                                       name=f"{prefix}_crop")(x)
        x = _norm_then(x, norm, f"{prefix}_norm")
        x = tf.keras.layers.ReLU(name=f"{prefix}_relu")(x)

    x = ReflectionPadding2D(outer_pad, name="out_pad")(x)
    outputs = conv(channels, RESNET_OUTER_KERNEL, "out_conv", bias=True,
                   activation="tanh", dtype=OUTPUT_DTYPE)(x)
    return tf.keras.Model(inputs=inputs, outputs=outputs, name=name)


def build_generator(kind: str,
                    image_size: int,
                    channels: int = 3,
                    ngf: int = 64,
                    norm: str = NORM_BATCH,
                    dropout_rate: float = DROPOUT_RATE) -> tf.keras.Model:
    """The generator named by the config's ``trainer.generator``.

    ``kind`` is "unet" (depth from the image size), "resnet_6blocks" or
    "resnet_9blocks" (PyTorch's --netG names). ``dropout_rate`` goes to the
    U-Net's first three decoder blocks or to every residual block.
    """
    if kind == GENERATOR_UNET:
        return build_unet_generator(image_size, channels=channels, ngf=ngf,
                                    norm=norm, dropout_rate=dropout_rate)
    if kind in RESNET_GENERATOR_BLOCKS:
        return build_resnet_generator(
            image_size, channels=channels, ngf=ngf, norm=norm,
            n_blocks=RESNET_GENERATOR_BLOCKS[kind], dropout_rate=dropout_rate,
            name=f"{kind}_generator")
    raise ValueError(f"generator must be one of {GENERATORS}, got {kind!r}")


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


def max_patchgan_layers(image_size: int) -> int:
    """The deepest PatchGAN (n_layers) that still leaves a logit map at ``image_size`` (at least 1)."""
    layers = 1
    while patchgan_output_size(image_size, layers + 1) >= 1:
        layers += 1
    return layers


def patchgan_receptive_field(n_layers: int = DEFAULT_DISCRIMINATOR_LAYERS) -> int:
    """Input patch seen by one logit: 70 for n_layers=3 (paper's default),
    34 for 2, 16 for 1."""
    field = 1
    strides = [1, 1] + [DOWNSAMPLE_STRIDE] * n_layers  # from the output back
    for stride in strides:
        field = (field - 1) * stride + KERNEL_SIZE
    return field


def _pair_inputs(image_size: int, channels: int):
    """The two conditional-D inputs and their channel concatenation."""
    input_image = tf.keras.Input(shape=(image_size, image_size, channels),
                                 name="input_image")
    target_image = tf.keras.Input(shape=(image_size, image_size, channels),
                                  name="target_image")
    pair = tf.keras.layers.Concatenate(name="pair")([input_image, target_image])
    return input_image, target_image, pair


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
        patches. >= 1 (the 1x1 PixelGAN is ``build_pixel_discriminator``).
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

    input_image, target_image, x = _pair_inputs(image_size, channels)

    def block(x, filters, strides, index, normalise):
        prefix = f"conv{index}"
        if strides == 1:
            x = tf.keras.layers.ZeroPadding2D(name=f"{prefix}_pad")(x)
        x = tf.keras.layers.Conv2D(
            filters, KERNEL_SIZE, strides=strides,
            padding="same" if strides > 1 else "valid", use_bias=use_bias,
            kernel_initializer=_kernel_init(), name=f"{prefix}_conv")(x)
        if normalise:
            x = _norm_then(x, norm, f"{prefix}_norm")
        return tf.keras.layers.LeakyReLU(LEAKY_RELU_SLOPE, name=f"{prefix}_lrelu")(x)

    for i in range(n_layers):
        x = block(x, _filters(ndf, i), DOWNSAMPLE_STRIDE, i, normalise=i > 0)
    x = block(x, _filters(ndf, n_layers), 1, n_layers, normalise=True)

    x = tf.keras.layers.ZeroPadding2D(name="logits_pad")(x)
    logits = tf.keras.layers.Conv2D(
        1, KERNEL_SIZE, strides=1, padding="valid", use_bias=True,
        kernel_initializer=_kernel_init(), dtype=OUTPUT_DTYPE, name="logits")(x)
    return tf.keras.Model(inputs=[input_image, target_image], outputs=logits,
                          name=name)


def build_pixel_discriminator(image_size: int,
                              channels: int = 3,
                              ndf: int = 64,
                              norm: str = NORM_BATCH,
                              name: str = "pixel_discriminator") -> tf.keras.Model:
    """The conditional 1x1 PixelGAN (PyTorch's ``PixelDiscriminator``).

    Judges every pixel of the (input, candidate) pair on its own: 1x1 conv
    ndf + LeakyReLU, 1x1 conv 2 ndf + norm + LeakyReLU, 1x1 conv to one logit.
    The paper (section 4.4) finds it improves colour but not spatial
    sharpness. Biases as in the PatchGAN (hidden convs only when norm is
    "none", the logit conv always); PyTorch biases its first conv and, with
    batch norm, not its logit conv.

    Returns:
      A Keras model mapping ([B, S, S, channels], [B, S, S, channels]) to
      logits [B, S, S, 1].
    """
    _check_positive_int(image_size, "image_size")
    _check_positive_int(channels, "channels")
    _check_positive_int(ndf, "ndf")
    _check_norm(norm)
    use_bias = _use_bias(norm)

    def pointwise(filters, layer_name, bias=use_bias, dtype=None):
        return tf.keras.layers.Conv2D(
            filters, 1, use_bias=bias, kernel_initializer=_kernel_init(),
            dtype=dtype, name=layer_name)

    input_image, target_image, x = _pair_inputs(image_size, channels)
    x = pointwise(ndf, "conv0_conv")(x)
    x = tf.keras.layers.LeakyReLU(LEAKY_RELU_SLOPE, name="conv0_lrelu")(x)
    x = pointwise(_filters(ndf, 1), "conv1_conv")(x)
    x = _norm_then(x, norm, "conv1_norm")
    x = tf.keras.layers.LeakyReLU(LEAKY_RELU_SLOPE, name="conv1_lrelu")(x)
    logits = pointwise(1, "logits", bias=True, dtype=OUTPUT_DTYPE)(x)
    return tf.keras.Model(inputs=[input_image, target_image], outputs=logits,
                          name=name)


def build_discriminator(kind: str,
                        image_size: int,
                        channels: int = 3,
                        ndf: int = 64,
                        n_layers: int = DEFAULT_DISCRIMINATOR_LAYERS,
                        norm: str = NORM_BATCH) -> tf.keras.Model:
    """The discriminator named by the config: "patchgan" (``n_layers`` deep)
    or "pixelgan" (1x1, ignores ``n_layers``)."""
    if kind == DISCRIMINATOR_PATCHGAN:
        return build_patchgan_discriminator(image_size, channels=channels, ndf=ndf,
                                            n_layers=n_layers, norm=norm)
    if kind == DISCRIMINATOR_PIXELGAN:
        return build_pixel_discriminator(image_size, channels=channels, ndf=ndf,
                                         norm=norm)
    raise ValueError(f"discriminator must be one of {DISCRIMINATORS}, got {kind!r}")


def count_parameters(model: tf.keras.Model) -> int:
    """All weights, trainable and not (batch-norm moving statistics count),
    like ``model.count_params()``."""
    return int(sum(math.prod(w.shape) for w in model.weights))
