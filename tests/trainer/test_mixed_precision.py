"""Mixed precision from trainer.mixed_precision (components/trainer/precision.py).

Pins, on CPU with tiny networks: each 16-bit policy trains with float32 variables, 16-bit hidden
layers and float32 network outputs and losses; float16 (only) scales its losses; the policy does
not leak past the networks' build; a float16 checkpoint restores the loss scale with the rest; a
generator trained under a mixed policy exports the same serving contract as a float32 one.
"""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components import features
from components.trainer import export, precision
from components.trainer.gan_trainer import Pix2PixGAN, fit
from tests.support.transform_graph import TINY_IMAGE_SIZE
from tests.support.training import CHANNELS, LOSS_KEYS, checkpoint_and_manager, in_memory_dataset, random_images
from tests.support.training import tiny_settings

pytestmark = pytest.mark.slow  # exports models, starts processes or trains: seconds per test

SIXTEEN_BITS = {"mixed_float16": tf.float16, "mixed_bfloat16": tf.bfloat16}


def trained(policy, tmp_path, steps=2, **changes):
    """A tiny GAN of ``policy`` after ``steps`` steps of ``fit``, checkpointed at the end."""
    tf.keras.utils.set_random_seed(0)
    gan = Pix2PixGAN(tiny_settings(mixed_precision=policy, **changes), TINY_IMAGE_SIZE, CHANNELS)
    _, manager = checkpoint_and_manager(gan, tmp_path / "checkpoints")
    history = fit(gan, in_memory_dataset(2 * steps, batch_size=2), steps_per_epoch=steps, total_epochs=1,
                  checkpoint_manager=manager, checkpoint_every_steps=0)
    return gan, manager, history


@pytest.mark.parametrize("policy", sorted(SIXTEEN_BITS))
def test_a_mixed_policy_trains_in_16_bits_with_float32_variables_outputs_and_losses(policy, tmp_path):
    gan, _, history = trained(policy, tmp_path, steps=3)

    losses = history[0].as_dict()
    assert all(np.isfinite(losses[name]) for name in LOSS_KEYS), losses
    for network in (gan.generator, gan.discriminator):
        assert {v.dtype for v in network.variables} == {tf.float32}
        hidden = [layer for layer in network.layers if layer.weights and layer.name not in ("output_deconv", "logits")]
        assert {layer.compute_dtype for layer in hidden} == {SIXTEEN_BITS[policy].name}
    generated = gan.generator(tf.constant(random_images(2, 3)), training=False)
    logits = gan.discriminator([tf.constant(random_images(2, 3)), generated], training=False)
    assert generated.dtype == tf.float32 and logits.dtype == tf.float32
    assert tf.keras.mixed_precision.global_policy().name == "float32"  # scoped to the build
    loss_scaled = isinstance(gan.g_optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
    assert loss_scaled == isinstance(gan.d_optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
    assert loss_scaled == (policy == "mixed_float16")
    if loss_scaled:
        assert float(gan.g_optimizer.loss_scale) > 1.0 and gan.g_optimizer.dynamic


def test_the_policy_is_restored_even_when_the_build_fails():
    with pytest.raises(ValueError, match="U-Net"):
        with precision.policy_scope("mixed_bfloat16"):
            assert tf.keras.mixed_precision.global_policy().name == "mixed_bfloat16"
            raise ValueError("U-Net")
    assert tf.keras.mixed_precision.global_policy().name == "float32"


def test_an_unknown_policy_is_refused_naming_the_key():
    with pytest.raises(ValueError, match="trainer.mixed_precision.*allowed values"):
        precision.policy_scope("float8").__enter__()


def test_a_float16_checkpoint_restores_the_loss_scale_with_the_optimizer_state(tmp_path):
    gan, manager, _ = trained("mixed_float16", tmp_path)
    saved = tf.train.load_checkpoint(manager.latest_checkpoint)
    for name in ("g_optimizer", "d_optimizer"):
        assert saved.has_tensor(f"{name}/loss_scale/current_loss_scale/.ATTRIBUTES/VARIABLE_VALUE")

    fresh = Pix2PixGAN(gan.settings, TINY_IMAGE_SIZE, CHANNELS)
    assert int(fresh.g_optimizer.dynamic_counter) == 0
    checkpoint, _ = checkpoint_and_manager(fresh, tmp_path / "checkpoints")
    checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    for restored, original in ((fresh.g_optimizer, gan.g_optimizer), (fresh.d_optimizer, gan.d_optimizer)):
        assert float(restored.loss_scale) == float(original.loss_scale)
        assert int(restored.dynamic_counter) == int(original.dynamic_counter) > 0  # good steps since the last change
        assert int(restored.iterations) == int(original.iterations)
    for got, want in zip(fresh.generator.get_weights(), gan.generator.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_a_mixed_precision_generator_exports_the_float32_serving_contract(transform_output_dir, tmp_path):
    from tests.support import images

    gan, _, _ = trained("mixed_float16", tmp_path, steps=1)
    tft_output = tft.TFTransformOutput(transform_output_dir)
    loaded = tf.saved_model.load(export.export_generator(gan.generator, tft_output, str(tmp_path / "model")))

    serve = loaded.signatures[features.SERVING_DEFAULT]
    (spec,) = serve.structured_input_signature[1].values()
    assert (spec.dtype, spec.shape.as_list()) == (tf.string, [None])
    assert {name: t.dtype for name, t in serve.structured_outputs.items()} == {
        features.SERVING_OUTPUT_BYTES: tf.string}
    examples = loaded.signatures[features.SERVING_EXAMPLES]
    (pixels,) = examples.structured_outputs.values()
    assert pixels.dtype == tf.uint8 and pixels.shape.as_list() == [None, TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, CHANNELS]

    encoded = images.png(24, 24, seed=0)   # square: the resize path then matches Transform's exactly
    png = serve(**{features.SERVING_INPUT_BYTES: tf.constant([encoded])})[features.SERVING_OUTPUT_BYTES][0]
    served = tf.io.decode_png(png).numpy().astype(int)
    transformed = loaded.transform_features(tf.constant([tf.train.Example(features=tf.train.Features(feature={
        features.INPUT_IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
        features.TARGET_IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
        features.PAIR_ID_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"p"])),
    })).SerializeToString()]))[features.INPUT_XF]
    expected = export.to_uint8(gan.generator(transformed, training=False))[0].numpy().astype(int)
    assert np.abs(served - expected).max() <= 1  # float16 may round a level the other way
