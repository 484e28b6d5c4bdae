"""Command line: ``python -m pipeline run --config pipeline_config.yaml [--set k=v ...]``."""
import os
import sys
import warnings

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

# google-api-core warns on every import that Python 3.10 support is ending; TFX 1.16 needs 3.10.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.api_core")

from pipeline.cli import main  # noqa: E402  (environment first)

sys.exit(main())
