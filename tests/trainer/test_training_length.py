"""Small datasets train at least trainer.min_steps steps, with both phases lengthened alike, and it is said."""
from components.trainer import training_length
from tests.support.training import tiny_settings


def test_a_small_dataset_is_trained_for_at_least_min_steps_keeping_the_phases_proportion():
    settings = tiny_settings(epochs=25, epochs_decay=5, min_steps=1000)
    longer, message = training_length.stretched(settings, steps_per_epoch=12)   # 100 pairs at batch 8
    assert (longer.epochs + longer.epochs_decay) * 12 >= 1000
    assert (longer.epochs, longer.epochs_decay) == (70, 14)
    assert "trainer.min_steps 1000" in message and "360 steps" in message and "70 + 14 epochs" in message
    assert longer.learning_rate == settings.learning_rate and longer.batch_size == settings.batch_size


def test_a_dataset_already_long_enough_or_min_steps_0_trains_the_configured_epochs():
    settings = tiny_settings(epochs=25, epochs_decay=5, min_steps=1000)
    assert training_length.stretched(settings, steps_per_epoch=40) == (settings, None)
    off = tiny_settings(epochs=25, epochs_decay=5, min_steps=0)
    assert training_length.stretched(off, steps_per_epoch=1) == (off, None)


def test_zero_epochs_stay_zero():
    settings = tiny_settings(epochs=0, epochs_decay=0, min_steps=1000)
    assert training_length.stretched(settings, steps_per_epoch=12) == (settings, None)


def test_a_constant_only_schedule_stays_without_decay():
    longer, _ = training_length.stretched(tiny_settings(epochs=10, epochs_decay=0, min_steps=100), 2)
    assert (longer.epochs, longer.epochs_decay) == (50, 0)
