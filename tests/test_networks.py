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
