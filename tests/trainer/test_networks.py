"""Tests of the pix2pix U-Net generator and PatchGAN discriminator."""
import numpy as np
import pytest
import tensorflow as tf

from components.trainer import networks

SMALL = 8  # ngf / ndf for fast tests


def _images(batch, size, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    return tf.constant(rng.uniform(-1, 1, (batch, size, size, channels)), tf.float32)


def test_tf_keras_is_legacy_keras_2():
    import tf_keras

    assert tf.keras.__name__.startswith("tf_keras")
    assert tf_keras.__version__.startswith("2.")
    model = networks.build_unet_generator(16, ngf=SMALL)
    assert isinstance(model, tf_keras.Model)


# --- exact parameter counts of the TensorFlow pix2pix tutorial -----------------

def test_generator_256_has_tutorial_parameter_count():
    model = networks.build_unet_generator(256, channels=3, ngf=64, norm="batch")
    assert networks.count_parameters(model) == 54_425_859
    assert networks.count_parameters(model) == model.count_params()


def test_discriminator_256_has_tutorial_parameter_count():
    model = networks.build_patchgan_discriminator(
        256, channels=3, ndf=64, n_layers=3, norm="batch")
    assert networks.count_parameters(model) == 2_770_433
    assert networks.count_parameters(model) == model.count_params()
    assert model.output_shape == (None, 30, 30, 1)


# --- generator ---------------------------------------------------------------

@pytest.mark.parametrize("norm", networks.NORMS)
@pytest.mark.parametrize("size", [16, 32, 64])
def test_generator_output_shape_and_range(size, norm):
    model = networks.build_unet_generator(size, channels=3, ngf=SMALL, norm=norm)
    assert model.input_shape == (None, size, size, 3)
    assert model.output_shape == (None, size, size, 3)
    # Large inputs push the pre-tanh activations far out; output must stay in [-1, 1].
    out = model(_images(2, size) * 50.0, training=True).numpy()
    assert out.shape == (2, size, size, 3)
    assert np.all(np.abs(out) <= 1.0)
    assert np.isfinite(out).all()


def test_generator_other_channel_count():
    model = networks.build_unet_generator(32, channels=1, ngf=SMALL)
    assert model.output_shape == (None, 32, 32, 1)


@pytest.mark.parametrize("size,depth", [(16, 4), (32, 5), (64, 6), (128, 7), (256, 8)])
def test_unet_depth_is_log2_of_size(size, depth):
    assert networks.unet_depth(size) == depth


def test_generator_encoder_filters_and_first_block_unnormalised():
    model = networks.build_unet_generator(256, ngf=64)
    encoder = [model.get_layer(f"enc{i}_conv") for i in range(8)]
    assert [layer.filters for layer in encoder] == [64, 128, 256, 512, 512, 512, 512, 512]
    assert all(layer.kernel_size == (4, 4) and layer.strides == (2, 2) for layer in encoder)
    names = {layer.name for layer in model.layers}
    assert "enc0_norm" not in names
    assert all(f"enc{i}_norm" in names for i in range(1, 8))  # incl. the 1x1 bottleneck
    decoder = [model.get_layer(f"dec{j}_deconv") for j in range(7)]
    assert [layer.filters for layer in decoder] == [512, 512, 512, 512, 256, 128, 64]
    assert model.get_layer("enc1_lrelu").alpha == pytest.approx(0.2)


@pytest.mark.parametrize("size", [16, 32, 64])
def test_dropout_in_exactly_first_three_decoder_blocks(size):
    model = networks.build_unet_generator(size, ngf=SMALL)
    dropouts = [layer for layer in model.layers
                if isinstance(layer, tf.keras.layers.Dropout)]
    assert sorted(layer.name for layer in dropouts) == [
        "dec0_dropout", "dec1_dropout", "dec2_dropout"]
    assert all(layer.rate == 0.5 for layer in dropouts)


def test_dropout_rate_zero_removes_dropout():
    model = networks.build_unet_generator(32, ngf=SMALL, dropout_rate=0.0)
    assert not any(isinstance(layer, tf.keras.layers.Dropout) for layer in model.layers)


def test_dropout_makes_training_mode_stochastic():
    model = networks.build_unet_generator(32, ngf=SMALL, norm="instance")
    x = _images(1, 32)
    np.testing.assert_allclose(model(x, training=False), model(x, training=False))
    assert not np.allclose(model(x, training=True), model(x, training=True))


def test_biases_only_where_no_norm_follows():
    batch = networks.build_unet_generator(32, ngf=SMALL, norm="batch")
    assert not any(batch.get_layer(f"enc{i}_conv").use_bias for i in range(5))
    assert batch.get_layer("output_deconv").use_bias
    plain = networks.build_unet_generator(32, ngf=SMALL, norm="none")
    assert all(plain.get_layer(f"enc{i}_conv").use_bias for i in range(5))


def test_conv_weights_initialised_from_normal_0_002():
    model = networks.build_unet_generator(64, ngf=32)
    kernel = model.get_layer("enc3_conv").kernel.numpy()
    assert abs(kernel.mean()) < 0.002
    assert kernel.std() == pytest.approx(0.02, rel=0.05)


def test_instance_norm_skips_degenerate_1x1_bottleneck():
    model = networks.build_unet_generator(32, ngf=SMALL, norm="instance")
    names = {layer.name for layer in model.layers}
    assert "enc3_norm" in names and "enc4_norm" not in names


@pytest.mark.parametrize("size", [0, 8, 15, 48, 100, 255, 24.0, True])
def test_generator_rejects_bad_image_size(size):
    with pytest.raises(ValueError, match="image_size.*power of two"):
        networks.build_unet_generator(size)


@pytest.mark.parametrize("kwargs,arg", [
    ({"norm": "layer"}, "norm"),
    ({"ngf": 0}, "ngf"),
    ({"channels": 0}, "channels"),
    ({"dropout_rate": 1.0}, "dropout_rate"),
])
def test_generator_rejects_bad_args(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        networks.build_unet_generator(32, **kwargs)


def test_bad_norm_error_lists_allowed_values():
    with pytest.raises(ValueError, match="batch.*instance.*none"):
        networks.build_unet_generator(32, norm="BATCH")


# --- discriminator -------------------------------------------------------------

@pytest.mark.parametrize("norm", networks.NORMS)
@pytest.mark.parametrize("size,n_layers,patches", [
    (32, 3, 2), (64, 3, 6), (64, 2, 14), (64, 1, 30), (32, 1, 14), (128, 3, 14)])
def test_discriminator_patch_logit_shape(size, n_layers, patches, norm):
    model = networks.build_patchgan_discriminator(
        size, ndf=SMALL, n_layers=n_layers, norm=norm)
    assert networks.patchgan_output_size(size, n_layers) == patches
    assert model.output_shape == (None, patches, patches, 1)
    logits = model([_images(2, size, seed=1), _images(2, size, seed=2)], training=True)
    assert logits.shape == (2, patches, patches, 1)
    # Logits, not probabilities: no sigmoid on the last layer.
    assert model.layers[-1].get_config()["activation"] == "linear"


def test_discriminator_is_conditional_on_the_pair():
    model = networks.build_patchgan_discriminator(32, channels=3, ndf=SMALL)
    assert len(model.inputs) == 2
    assert model.get_layer("pair").output_shape == (None, 32, 32, 6)


def test_discriminator_70x70_layout():
    model = networks.build_patchgan_discriminator(256, ndf=64, n_layers=3)
    convs = [model.get_layer(f"conv{i}_conv") for i in range(4)]
    assert [c.filters for c in convs] == [64, 128, 256, 512]
    assert [c.strides for c in convs] == [(2, 2)] * 3 + [(1, 1)]
    names = {layer.name for layer in model.layers}
    assert "conv0_norm" not in names
    assert {"conv1_norm", "conv2_norm", "conv3_norm"} <= names
    assert model.get_layer("logits").filters == 1
    assert networks.patchgan_receptive_field(3) == 70


@pytest.mark.parametrize("n_layers,field", [(1, 16), (2, 34), (3, 70), (4, 142)])
def test_receptive_field(n_layers, field):
    assert networks.patchgan_receptive_field(n_layers) == field


def test_discriminator_filters_capped_at_8x():
    model = networks.build_patchgan_discriminator(128, ndf=SMALL, n_layers=5)
    assert [model.get_layer(f"conv{i}_conv").filters for i in range(6)] == [
        8, 16, 32, 64, 64, 64]


@pytest.mark.parametrize("kwargs,arg", [
    ({"n_layers": 0}, "n_layers"),
    ({"n_layers": -1}, "n_layers"),
    ({"norm": "group"}, "norm"),
    ({"ndf": 0}, "ndf"),
    ({"image_size": 16, "n_layers": 3}, "image_size"),
    ({"image_size": 0}, "image_size"),
])
def test_discriminator_rejects_bad_args(kwargs, arg):
    args = {"image_size": 32, **kwargs}
    with pytest.raises(ValueError, match=arg):
        networks.build_patchgan_discriminator(**args)


# --- instance norm layer -----------------------------------------------------------

def test_instance_norm_normalises_each_sample_and_channel():
    layer = networks.InstanceNormalization()
    x = _images(3, 8, channels=4) * 5.0 + 2.0
    y = layer(x).numpy()
    # Fresh layer: scale ~ N(1, 0.02), offset 0 -> per-sample/channel mean 0, std ~1.
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(1, 2)), 1.0, atol=0.1)
    assert len(layer.trainable_weights) == 2
    assert layer.get_config()["epsilon"] == networks.NORM_EPSILON


def test_instance_norm_round_trips_through_config():
    model = networks.build_unet_generator(16, ngf=SMALL, norm="instance")
    clone = tf.keras.Model.from_config(
        model.get_config(),
        custom_objects={"InstanceNormalization": networks.InstanceNormalization})
    assert clone.count_params() == model.count_params()


# --- ResNet generator (PyTorch's ResnetGenerator) ---------------------------------

def _resnet_256_parameters(n_blocks):
    """Parameters of resnet_<n_blocks>blocks at 256, ngf 64, 3 channels, batch norm,
    layer by layer: (trainable weights, batch-norm moving statistics)."""
    ngf, c, k7, k3 = 64, 3, 7 * 7, 3 * 3
    bn = lambda f: (2 * f, 2 * f)  # noqa: E731  gamma + beta; moving mean + variance
    layers = [
        (k7 * c * ngf, 0), bn(ngf),                      # c7s1-64, no bias (batch norm follows)
        (k3 * ngf * 2 * ngf, 0), bn(2 * ngf),            # d128
        (k3 * 2 * ngf * 4 * ngf, 0), bn(4 * ngf),        # d256
    ]
    for _ in range(n_blocks):                            # R256: two 3x3 convs + two norms
        layers += [(k3 * 4 * ngf * 4 * ngf, 0), bn(4 * ngf)] * 2
    layers += [
        (k3 * 4 * ngf * 2 * ngf, 0), bn(2 * ngf),        # u128 (transposed)
        (k3 * 2 * ngf * ngf, 0), bn(ngf),                # u64 (transposed)
        (k7 * ngf * c + c, 0),                           # c7s1-3 with bias, tanh
    ]
    return sum(t for t, _ in layers), sum(m for _, m in layers)


@pytest.mark.parametrize("kind,trainable,moving", [
    # 9408 + 73,728 + 294,912 + 9 * 1,179,648 + 294,912 + 73,728 + 9,411 conv weights
    # + 10,496 BN gamma/beta = 11,383,427: PyTorch's count (parameters only).
    ("resnet_9blocks", 11_383_427, 10_496),
    # three residual blocks fewer: 3 * (1,179,648 + 1,024) less.
    ("resnet_6blocks", 7_841_411, 7_424),
])
def test_resnet_generator_256_parameter_count(kind, trainable, moving):
    n_blocks = networks.RESNET_GENERATOR_BLOCKS[kind]
    assert _resnet_256_parameters(n_blocks) == (trainable, moving)
    model = networks.build_generator(kind, 256, channels=3, ngf=64, norm="batch")
    assert model.name == f"{kind}_generator"
    # count_params() also counts the BN moving mean/variance (PyTorch buffers).
    assert model.count_params() == trainable + moving
    assert networks.count_parameters(model) == trainable + moving
    assert sum(np.prod(w.shape) for w in model.trainable_weights) == trainable
    assert model.output_shape == (None, 256, 256, 3)


@pytest.mark.parametrize("norm", networks.NORMS)
@pytest.mark.parametrize("size", [8, 12, 32])
def test_resnet_generator_output_shape_and_range(size, norm):
    model = networks.build_resnet_generator(size, channels=3, ngf=4, norm=norm, n_blocks=2)
    assert model.output_shape == (None, size, size, 3)
    out = model(_images(2, size) * 50.0, training=True).numpy()
    assert out.shape == (2, size, size, 3)
    assert np.all(np.abs(out) <= 1.0) and np.isfinite(out).all()


def test_resnet_generator_layout():
    model = networks.build_resnet_generator(32, channels=1, ngf=SMALL, n_blocks=3)
    in_conv, out_conv = model.get_layer("in_conv"), model.get_layer("out_conv")
    assert (in_conv.filters, in_conv.kernel_size) == (SMALL, (7, 7))
    assert (out_conv.filters, out_conv.kernel_size) == (1, (7, 7))
    assert out_conv.get_config()["activation"] == "tanh"
    assert [model.get_layer(f"down{i}_conv").filters for i in range(2)] == [16, 32]
    assert all(model.get_layer(f"down{i}_conv").strides == (2, 2) for i in range(2))
    assert [model.get_layer(f"up{i}_deconv").filters for i in range(2)] == [16, 8]
    for b in range(3):
        for j in (1, 2):
            conv = model.get_layer(f"res{b}_conv{j}")
            assert (conv.filters, conv.kernel_size, conv.strides) == (32, (3, 3), (1, 1))
            assert model.get_layer(f"res{b}_pad{j}").padding == 1
    assert model.get_layer("in_pad").padding == model.get_layer("out_pad").padding == 3
    names = {layer.name for layer in model.layers}
    assert "res3_conv1" not in names
    # The residual sum is the block's output: PyTorch has no ReLU after it.
    assert model.get_layer("res1_add").output is model.get_layer("res2_pad1").input


def test_resnet_generator_zero_blocks_still_maps_image_to_image():
    model = networks.build_resnet_generator(16, ngf=4, n_blocks=0)
    assert not any(isinstance(layer, tf.keras.layers.Add) for layer in model.layers)
    assert model.output_shape == (None, 16, 16, 3)


def test_resnet_biases_only_without_norm_and_on_the_output():
    batch = networks.build_resnet_generator(16, ngf=4, n_blocks=1, norm="batch")
    hidden = ["in_conv", "down0_conv", "down1_conv", "res0_conv1", "res0_conv2",
              "up0_deconv", "up1_deconv"]
    assert not any(batch.get_layer(name).use_bias for name in hidden)
    assert batch.get_layer("out_conv").use_bias
    plain = networks.build_resnet_generator(16, ngf=4, n_blocks=1, norm="none")
    assert all(plain.get_layer(name).use_bias for name in hidden)
    assert not any("norm" in layer.name for layer in plain.layers)


def test_resnet_dropout_in_every_block_and_stochastic_in_training():
    model = networks.build_resnet_generator(16, ngf=4, n_blocks=3, norm="instance",
                                            dropout_rate=0.5)
    dropouts = sorted(layer.name for layer in model.layers
                      if isinstance(layer, tf.keras.layers.Dropout))
    assert dropouts == ["res0_dropout", "res1_dropout", "res2_dropout"]
    x = _images(1, 16)
    np.testing.assert_allclose(model(x, training=False), model(x, training=False))
    assert not np.allclose(model(x, training=True), model(x, training=True))
    plain = networks.build_resnet_generator(16, ngf=4, n_blocks=3)
    assert not any(isinstance(layer, tf.keras.layers.Dropout) for layer in plain.layers)


def _torch_conv2d(x, kernel, stride, padding):
    """PyTorch Conv2d (cross-correlation, zero padding on both sides), HWC numpy."""
    x = np.pad(x, ((padding, padding), (padding, padding), (0, 0)))
    k = kernel.shape[0]
    out_size = (x.shape[0] - k) // stride + 1
    out = np.zeros((out_size, out_size, kernel.shape[3]))
    for i in range(out_size):
        for j in range(out_size):
            patch = x[i * stride:i * stride + k, j * stride:j * stride + k]
            out[i, j] = np.einsum("abc,abcd->d", patch, kernel)
    return out


def _torch_conv_transpose2d(x, kernel, stride, padding, output_padding):
    """PyTorch ConvTranspose2d: scatter x[i] * w to i * stride - padding, HWC numpy.
    ``kernel`` in Keras' Conv2DTranspose layout (k, k, out, in)."""
    size, k = x.shape[0], kernel.shape[0]
    full = np.zeros(((size - 1) * stride + k,) * 2 + (kernel.shape[2],))
    for i in range(size):
        for j in range(size):
            full[i * stride:i * stride + k, j * stride:j * stride + k] += np.einsum(
                "c,abdc->abd", x[i, j], kernel)
    out_size = (size - 1) * stride - 2 * padding + k + output_padding
    return full[padding:padding + out_size, padding:padding + out_size]


def test_resnet_sampling_convs_align_with_pytorch():
    # Same parameter count is not enough: "same" padding would shift every pixel.
    model = networks.build_resnet_generator(16, ngf=4, n_blocks=1, norm="none")
    down_in = _images(1, 16, channels=4, seed=3)
    down = model.get_layer("down0_conv")
    ours = down(model.get_layer("down0_pad")(down_in)).numpy()[0]
    ref = _torch_conv2d(down_in.numpy()[0], down.kernel.numpy(), 2, 1) + down.bias.numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-5)

    up_in = _images(1, 4, channels=16, seed=4)
    up = model.get_layer("up0_deconv")
    ours = model.get_layer("up0_crop")(up(up_in)).numpy()[0]
    ref = _torch_conv_transpose2d(up_in.numpy()[0], up.kernel.numpy(), 2, 1, 1) + up.bias.numpy()
    assert ours.shape == (8, 8, 8)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


@pytest.mark.parametrize("size", [0, 4, 6, 10, 18, 16.0, True])
def test_resnet_generator_rejects_bad_image_size(size):
    with pytest.raises(ValueError, match="image_size.*multiple of 4"):
        networks.build_resnet_generator(size)


@pytest.mark.parametrize("kwargs,arg", [
    ({"n_blocks": -1}, "n_blocks"),
    ({"n_blocks": 2.0}, "n_blocks"),
    ({"norm": "layer"}, "norm"),
    ({"ngf": 0}, "ngf"),
    ({"channels": 0}, "channels"),
    ({"dropout_rate": 1.0}, "dropout_rate"),
])
def test_resnet_generator_rejects_bad_args(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        networks.build_resnet_generator(16, **kwargs)


def test_resnet_generator_round_trips_through_config():
    model = networks.build_resnet_generator(16, ngf=4, n_blocks=1, norm="instance")
    clone = tf.keras.Model.from_config(model.get_config())  # registered custom layers
    assert clone.count_params() == model.count_params()
    clone.set_weights(model.get_weights())
    x = _images(1, 16)
    np.testing.assert_allclose(clone(x), model(x), atol=1e-6)


def test_reflection_padding_mirrors_without_repeating_the_border():
    x = np.arange(2 * 4 * 4 * 3, dtype=np.float32).reshape(2, 4, 4, 3)
    layer = networks.ReflectionPadding2D(2)
    expected = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    np.testing.assert_array_equal(layer(x).numpy(), expected)
    assert layer.compute_output_shape((None, 4, 4, 3)) == (None, 8, 8, 3)
    assert networks.ReflectionPadding2D.from_config(layer.get_config()).padding == 2
    with pytest.raises(ValueError, match="padding"):
        networks.ReflectionPadding2D(-1)


# --- generator dispatch --------------------------------------------------------------

def test_build_generator_dispatches_unet():
    model = networks.build_generator("unet", 32, channels=3, ngf=SMALL, norm="batch",
                                     dropout_rate=0.5)
    reference = networks.build_unet_generator(32, ngf=SMALL)
    assert model.name == "unet_generator"
    assert model.count_params() == reference.count_params()


def test_build_generator_resnet_6_and_9_blocks():
    six = networks.build_generator("resnet_6blocks", 16, ngf=4, norm="instance", dropout_rate=0.0)
    nine = networks.build_generator("resnet_9blocks", 16, ngf=4, norm="instance", dropout_rate=0.5)
    assert sum(isinstance(layer, tf.keras.layers.Add) for layer in six.layers) == 6
    assert sum(isinstance(layer, tf.keras.layers.Add) for layer in nine.layers) == 9
    assert sum(isinstance(layer, tf.keras.layers.Dropout) for layer in nine.layers) == 9


@pytest.mark.parametrize("kind", ["resnet", "unet_256", "Unet", ""])
def test_build_generator_rejects_unknown_kind(kind):
    with pytest.raises(ValueError, match="generator.*unet.*resnet_6blocks.*resnet_9blocks"):
        networks.build_generator(kind, 32)


# --- PixelGAN ---------------------------------------------------------------------------

def test_pixel_discriminator_256_parameter_count():
    # 1x1 convs on the 6-channel pair: 6*64 (no bias, convention) + 64*128
    # + BN(128) gamma/beta 256 and moving stats 256 + logits 128*1 + 1 bias.
    expected = 6 * 64 + 64 * 128 + 256 + 256 + 128 + 1
    model = networks.build_discriminator("pixelgan", 256, channels=3, ndf=64, norm="batch")
    assert expected == 9_217
    assert model.count_params() == expected
    assert model.output_shape == (None, 256, 256, 1)


@pytest.mark.parametrize("norm", networks.NORMS)
def test_pixel_discriminator_layout_and_shape(norm):
    model = networks.build_pixel_discriminator(16, channels=3, ndf=SMALL, norm=norm)
    assert len(model.inputs) == 2
    assert model.get_layer("pair").output_shape == (None, 16, 16, 6)
    convs = [model.get_layer(name) for name in ("conv0_conv", "conv1_conv", "logits")]
    assert [c.filters for c in convs] == [SMALL, 2 * SMALL, 1]
    assert all(c.kernel_size == (1, 1) for c in convs)
    assert convs[-1].use_bias and convs[-1].get_config()["activation"] == "linear"
    names = {layer.name for layer in model.layers}
    assert "conv0_norm" not in names
    assert ("conv1_norm" in names) == (norm != "none")
    assert model.get_layer("conv0_lrelu").alpha == pytest.approx(0.2)
    logits = model([_images(2, 16, seed=1), _images(2, 16, seed=2)], training=True)
    assert logits.shape == (2, 16, 16, 1)


def test_pixel_discriminator_judges_each_pixel_alone():
    model = networks.build_pixel_discriminator(8, ndf=SMALL, norm="none")
    a, b = _images(1, 8, seed=1).numpy(), _images(1, 8, seed=2).numpy()
    changed = b.copy()
    changed[0, 3, 5] += 1.0
    diff = (model([a, changed]) - model([a, b])).numpy()[0, :, :, 0]
    assert diff[3, 5] != 0.0
    diff[3, 5] = 0.0
    np.testing.assert_array_equal(diff, 0.0)


def test_build_discriminator_dispatches_patchgan_with_n_layers():
    model = networks.build_discriminator("patchgan", 64, ndf=SMALL, n_layers=2, norm="instance")
    reference = networks.build_patchgan_discriminator(64, ndf=SMALL, n_layers=2, norm="instance")
    assert model.output_shape == (None, 14, 14, 1)
    assert model.count_params() == reference.count_params()


@pytest.mark.parametrize("kind", ["pixel", "basic", "n_layers", "PatchGAN"])
def test_build_discriminator_rejects_unknown_kind(kind):
    with pytest.raises(ValueError, match="discriminator.*patchgan.*pixelgan"):
        networks.build_discriminator(kind, 32)


@pytest.mark.parametrize("kwargs,arg", [
    ({"norm": "group"}, "norm"), ({"ndf": 0}, "ndf"), ({"image_size": 0}, "image_size")])
def test_pixel_discriminator_rejects_bad_args(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        networks.build_pixel_discriminator(**{"image_size": 16, **kwargs})
