"""The ModelRun artifact's layout: what the Trainer writes there, by name, for everyone who reads it.

The Trainer (run_outputs, checkpoints) writes these; the Evaluator's report and
the run summary read them. Naming them here keeps readers off the trainer's code.
"""
TENSORBOARD_DIR = "tensorboard"
SAMPLES_DIR = "samples"                  # one grid per samples_every_epochs epochs
LATEST_SAMPLES = "samples_latest.png"
LOSS_CURVES = "loss_curves.png"
LOSS_HISTORY = "loss_history.json"
CHECKPOINT_DIR = "checkpoints"           # the finished run's last checkpoint (and any set aside as unusable)
TRAINING_SUMMARY = "training.json"          # which epoch was exported and why (validation.write_summary)
