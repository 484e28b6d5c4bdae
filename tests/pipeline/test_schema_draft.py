"""``python -m pipeline schema``: a real ExampleGen -> StatisticsGen -> SchemaGen draft, curated like the committed one."""
import os
import subprocess
import sys

import pytest
from tensorflow_metadata.proto.v0 import schema_pb2

from components import features
from components.example_validator import schema_file
from tests.support import paths

pytestmark = pytest.mark.slow  # runs a small TFX pipeline in a process of its own

TINY = ["data.synthetic.num_pairs=12", "data.synthetic.image_size=40"]


def _draft(dataset_dir, output, *extra):
    command = [sys.executable, "-m", "pipeline", "schema", "--config", paths.DEFAULT_CONFIG, "--output", str(output),
               "--set", f"data.dataset_dir={dataset_dir}", *[part for s in TINY for part in ("--set", s)], *extra]
    return subprocess.run(command, cwd=paths.ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def drafted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("draft")
    output = folder / "schema" / "schema.pbtxt"
    result = _draft(folder / "synthetic_facades", output)
    return folder, output, result


def test_the_draft_has_the_committed_schemas_features_curated_alike(drafted):
    _, output, result = drafted
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"schema draft: {output}" in result.stdout
    draft = schema_file.read(str(output))
    committed = schema_file.read(os.path.join(paths.ROOT, "data", "schema", "schema.pbtxt"))
    types = {feature.name: feature.type for feature in draft.feature}
    assert types == {feature.name: feature.type for feature in committed.feature}
    for name in features.IMAGE_KEYS:
        feature = next(f for f in draft.feature if f.name == name)
        assert feature.type == schema_pb2.BYTES and feature.HasField("image_domain")
        assert feature.presence.min_fraction == 1.0
    assert not draft.string_domain            # the pair ids seen are not a domain new pairs must match
    assert draft == committed                 # the committed schema is this command's draft of the embedded data


def test_an_existing_schema_is_kept_without_force_and_replaced_whole_with_it(drafted):
    folder, output, _ = drafted
    before = output.read_text()
    refused = _draft(folder / "synthetic_facades", output)
    assert refused.returncode == 2 and f"{output} exists" in refused.stderr and "--force" in refused.stderr
    assert output.read_text() == before
    output.write_text("# hand-curated\n" + before)
    forced = _draft(folder / "synthetic_facades", output, "--force")
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert output.read_text() == before       # same data, same draft; the hand edit is replaced
    assert sorted(os.listdir(output.parent)) == ["schema.pbtxt"]   # no staging file left beside it


def test_the_statistics_seed_marks_only_the_encoded_images():
    seed = schema_file.image_features_only()
    assert [(f.name, f.type, f.HasField("image_domain")) for f in seed.feature] == [
        (name, schema_pb2.BYTES, True) for name in features.IMAGE_KEYS]
