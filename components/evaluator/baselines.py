"""The trivial baselines the Evaluator scores beside every candidate, named once.

Display names label the report, the run summary and ``metrics.json``; config
names are what a relative threshold's ``baseline`` key takes. This module
imports nothing, so the settings, the blessing rules and the evaluation share
it without an import cycle (the evaluation imports the settings).
"""
from __future__ import annotations

IDENTITY = "identity"
MEAN_TARGET = "mean_target"
IDENTITY_BASELINE = "identity (output = input)"
MEAN_TARGET_BASELINE = "mean target image"

# Config name -> display name (the key of the baselines' stats in metrics.json and the report).
DISPLAY_NAMES = {IDENTITY: IDENTITY_BASELINE, MEAN_TARGET: MEAN_TARGET_BASELINE}
NAMES = tuple(DISPLAY_NAMES)
