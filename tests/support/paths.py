"""Where the checkout and its default config are, for tests at any depth under tests/."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_CONFIG = os.path.join(ROOT, "pipeline_config.yaml")
