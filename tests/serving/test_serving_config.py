"""serving/: the TF Serving config files parse as TF Serving parses them and agree with the pipeline."""
import pathlib
import re

import pytest
import tensorflow as tf
import yaml
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from tensorflow_serving.config import model_server_config_pb2

from serving import client
from serving.beam_model_handler import DEFAULT_MAX_BATCH_SIZE
from tests.support import paths

ROOT = pathlib.Path(paths.ROOT)
SERVING = ROOT / "serving"
COMPOSE_SERVICE = "pix2pix-serving"
REST_PORT, GRPC_PORT = 8501, 8500

# tensorflow.serving.BatchingParameters as in TF Serving 2.16.1
# (tensorflow_serving/servables/tensorflow/session_bundle_config.proto). tensorflow-serving-api
# does not ship that module, so the message is rebuilt here, field for field.
BATCHING_PARAMETERS_FIELDS = [
    ("max_batch_size", 1, "Int64Value"),
    ("batch_timeout_micros", 2, "Int64Value"),
    ("max_enqueued_batches", 3, "Int64Value"),
    ("num_batch_threads", 4, "Int64Value"),
    ("thread_pool_name", 5, "StringValue"),
    ("allowed_batch_sizes", 6, "repeated int64"),
    ("pad_variable_length_inputs", 7, "bool"),
    ("enable_large_batch_splitting", 8, "BoolValue"),
    ("max_execution_batch_size", 9, "Int64Value"),
]


def _batching_parameters_class():
    from google.protobuf import wrappers_pb2

    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    proto = descriptor_pb2.FileDescriptorProto(name="session_bundle_config_test.proto", package="tensorflow.serving",
                                               syntax="proto3", dependency=["google/protobuf/wrappers.proto"])
    message = proto.message_type.add(name="BatchingParameters")
    field_type = descriptor_pb2.FieldDescriptorProto
    for name, number, kind in BATCHING_PARAMETERS_FIELDS:
        field = message.field.add(name=name, number=number)
        if kind == "repeated int64":
            field.label, field.type = field_type.LABEL_REPEATED, field_type.TYPE_INT64
        elif kind == "bool":
            field.label, field.type = field_type.LABEL_OPTIONAL, field_type.TYPE_BOOL
        else:
            field.label, field.type = field_type.LABEL_OPTIONAL, field_type.TYPE_MESSAGE
            field.type_name = f".google.protobuf.{kind}"
    pool.Add(proto)
    descriptor = pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)  # protobuf 3.20 API


def _pipeline_config() -> dict:
    return yaml.safe_load((ROOT / "pipeline_config.yaml").read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((SERVING / "docker-compose.yml").read_text())["services"][COMPOSE_SERVICE]


@pytest.fixture(scope="module")
def flags(compose) -> dict:
    return dict(re.fullmatch(r"--([a-z_]+)=(.*)", item).groups() for item in compose["command"])


@pytest.fixture(scope="module")
def mounts(compose) -> dict:
    """container path -> host path (relative to serving/), read-only mounts only."""
    found = {}
    for volume in compose["volumes"]:
        host, container, mode = volume.split(":")
        assert mode == "ro", f"{volume}: TF Serving only reads; mount read-only"
        found[container] = host
    return found


def test_models_config_is_a_model_server_config_for_the_pushed_model():
    config = text_format.Parse((SERVING / "models.config").read_text(), model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    name = _pipeline_config()["pusher"]["model_name"]
    assert model.name == name == client.DEFAULT_MODEL_NAME
    assert model.base_path == f"/models/{name}"
    assert model.model_platform == "tensorflow"
    assert model.model_version_policy.WhichOneof("policy_choice") == "latest"
    assert model.model_version_policy.latest.num_versions == 1


def test_a_misspelt_field_would_not_parse():
    """The checks above can fail: text_format refuses fields the proto does not have."""
    with pytest.raises(text_format.ParseError):
        text_format.Parse('model_config_list { config { nmae: "x" } }', model_server_config_pb2.ModelServerConfig())
    with pytest.raises(text_format.ParseError):
        text_format.Parse("max_batch_sise { value: 8 }", _batching_parameters_class()())


def test_batching_parameters_parse_and_fit_the_clients():
    params = text_format.Parse((SERVING / "batching_parameters.txt").read_text(), _batching_parameters_class()())
    assert params.num_batch_threads.value >= 1
    assert params.batch_timeout_micros.value >= 0
    assert params.max_enqueued_batches.value >= params.num_batch_threads.value
    assert params.enable_large_batch_splitting.value
    assert 1 <= params.max_execution_batch_size.value <= params.max_batch_size.value
    # A request from the client's default batch size (or the batch job's) is never refused as too large.
    assert max(client.DEFAULT_BATCH_SIZE, DEFAULT_MAX_BATCH_SIZE) <= params.max_batch_size.value


def test_compose_runs_the_official_image_matching_tensorflow(compose):
    image, tag = compose["image"].split(":")
    assert image == "tensorflow/serving"
    major_minor = ".".join(tf.__version__.split(".")[:2])
    assert tag.startswith(major_minor + "."), f"{tag} does not match TensorFlow {tf.__version__}"
    configured = _pipeline_config().get("pusher", {}).get("serving_image_tag")
    if configured is not None:  # InfraValidator's image: the same server that will serve the model
        assert tag == configured
    assert compose["entrypoint"] == ["/usr/bin/tensorflow_model_server"]


def test_compose_publishes_rest_and_grpc(compose, flags):
    assert f"{REST_PORT}:{REST_PORT}" in compose["ports"] and f"{GRPC_PORT}:{GRPC_PORT}" in compose["ports"]
    assert flags["rest_api_port"] == str(REST_PORT) and flags["port"] == str(GRPC_PORT)
    assert client.DEFAULT_SERVERS[client.PROTOCOL_REST].endswith(f":{REST_PORT}")
    assert client.DEFAULT_SERVERS[client.PROTOCOL_GRPC].endswith(f":{GRPC_PORT}")


def test_compose_serves_the_pushers_folder_with_the_config_files(compose, flags, mounts):
    serving_dir = _pipeline_config()["pusher"]["serving_dir"]
    assert (SERVING / mounts["/models"]).resolve() == (ROOT / serving_dir).resolve()
    assert mounts[flags["model_config_file"]] == "./models.config"
    assert flags["enable_batching"] == "true"
    assert mounts[flags["batching_parameters_file"]] == "./batching_parameters.txt"
    for container, host in mounts.items():
        if container != "/models":
            assert (SERVING / host).is_file(), f"{host} (mounted at {container}) is missing"
    model = text_format.Parse((SERVING / "models.config").read_text(), model_server_config_pb2.ModelServerConfig())
    assert model.model_config_list.config[0].base_path.startswith("/models/")


def test_compose_healthcheck_asks_the_model_status_api(compose):
    check = " ".join(compose["healthcheck"]["test"])
    assert f"/dev/tcp/127.0.0.1/{REST_PORT}" in check
    assert f"GET /v1/models/{client.DEFAULT_MODEL_NAME} " in check and "AVAILABLE" in check
