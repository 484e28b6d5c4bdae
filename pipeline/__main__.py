"""Command line: ``python -m pipeline run --config pipeline_config.yaml [--set k=v ...]``."""
import os
import sys
import warnings

import components  # noqa: F401,E402 - components/__init__.py sets TF_USE_LEGACY_KERAS before TensorFlow loads
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Google client libraries warn on import about Python 3.10 and old grpcio/storage
# versions; TFX 1.16 pins those, so the warnings cannot be acted on here.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.")

from pipeline.cli import main  # noqa: E402  (environment first)

sys.exit(main())
