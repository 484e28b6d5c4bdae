"""The Pusher's custom_config as the pipeline builds it, and stand-in models, for tests that call its executor."""
import dataclasses
import json
import os

from components.typed_settings import pack
from pipeline.config import load_config
from tests.support.paths import DEFAULT_CONFIG as CONFIG



def custom_config_json(**settings) -> str:
    """``{"pusher": section}`` as JSON: the default pusher section, no model config file, then ``settings``."""
    pusher = dataclasses.replace(load_config(CONFIG).pusher, **{"model_config_file": None, **settings})
    return json.dumps(pack(pusher=pusher))


def fake_saved_model(path, payload: bytes):
    """The two files the Pusher compares (saved_model.pb, the variables), distinct per payload."""
    os.makedirs(os.path.join(path, "variables"), exist_ok=True)
    with open(os.path.join(path, "saved_model.pb"), "wb") as handle:
        handle.write(b"graph" + payload)
    with open(os.path.join(path, "variables", "variables.data-00000-of-00001"), "wb") as handle:
        handle.write(payload)
    return path
