"""The Pusher's custom_config as the pipeline builds it, for tests that call its executor directly."""
import dataclasses
import json
import os

from components.typed_settings import pack
from pipeline.config import load_config

CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pipeline_config.yaml")


def custom_config_json(**settings) -> str:
    """``{"pusher": section}`` as JSON: the default pusher section, no model config file, then ``settings``."""
    pusher = dataclasses.replace(load_config(CONFIG).pusher, **{"model_config_file": None, **settings})
    return json.dumps(pack(pusher=pusher))
