"""TFRecord pass-through: the project's Examples are validated record by record, bad ones quarantined."""
import gzip
import io

import pytest
import tensorflow as tf

from components import features
from components.example_gen import image_properties, pairing, quarantine as q, tfrecord_files
from tests.support import images
from tests.support.ingestion import image_bytes, run_example_gen

SMALL = dict(min_image_side=8, min_valid_fraction=0.3)


def _png(seed, size=(16, 16)):
    return images.encode(images.smooth_pixels(*size, seed=seed))


def _record(pair_id, seed=0, replace=None) -> bytes:
    example = pairing.make_example(pair_id, _png(seed), _png(seed + 1))
    for key, feature in (replace or {}).items():
        example.features.feature[key].CopyFrom(feature)
    return example.SerializeToString()


def _write_tf(path, records, compression=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path), options=compression) as writer:
        for record in records:
            writer.write(record)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    extra = tf.train.Feature(int64_list=tf.train.Int64List(value=[7]))
    _write_tf(root / "train" / "plain.tfrecord", [_record("p0", 0), _record("p1", 2), _record("p2", 4),
                                                  _record("p3", 6, {"extra_feature": extra})])
    missing_target = tf.train.Example()
    missing_target.features.feature[features.INPUT_IMAGE_KEY].bytes_list.value.append(_png(1))
    missing_target.features.feature[features.PAIR_ID_KEY].bytes_list.value.append(b"m")
    _write_tf(root / "train" / "more.gz", [
        _record("p4", 8), _record("p5", 10),
        b"\x00\x01 definitely not a protobuf \xff",                                        # more.gz#2
        missing_target.SerializeToString(),                                              # #3
        _record("corrupt", 12, {features.INPUT_IMAGE_KEY: tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[_png(12)[:40]]))}),                    # #4
        _record("intid", 14, {features.PAIR_ID_KEY: tf.train.Feature(
            int64_list=tf.train.Int64List(value=[1]))}),                                # #5
        _record("p0", 16),                                                               # #6: duplicate of plain#0
        pairing.make_example("resized", _png(18), _png(19, (24, 20))).SerializeToString(),  # #7: kept, resized
    ], compression="GZIP")
    framed = [tfrecord_files.encode_record(_record(f"d{i}", 20 + i)) for i in range(4)]
    damaged = bytearray(b"".join(framed))
    damaged[len(framed[0]) + len(framed[1]) + 20] ^= 0xFF                                # inside record 2's data
    images.write(root / "train" / "damaged.tfrecord", bytes(damaged))
    gz = gzip.compress(b"".join(tfrecord_files.encode_record(_record(f"c{i}", 30 + i)) for i in range(2)))
    images.write(root / "train" / "cut.tfrecords", gz[: len(gz) - 30])
    images.write(root / "train" / "text.tfrecord", b"hello, this is a text file\n" * 3)
    images.write(root / "train" / "empty.tfrecord", b"")
    images.write(root / "train" / "photo.png", _png(30))
    _write_tf(root / "val" / "v.tfrecord", [_record("v0", 40), _record("v1", 42)])
    run = run_example_gen(root, tmp_path_factory.mktemp("work"), layout="tfrecord", **SMALL)
    return root, run


def test_valid_records_pass_through_and_bad_ones_are_reported(imported):
    root, run = imported
    assert run.ids("train") == ["c0", "d0", "d1", "p1", "p2", "p3", "p4", "p5", "resized"]
    assert run.ids("eval") == ["v0", "v1"]
    reasons = run.reasons_by_file(root)
    assert reasons == {
        "train/more.gz#2": q.BAD_RECORD, "train/more.gz#3": q.BAD_RECORD, "train/more.gz#4": q.CORRUPT_IMAGE,
        "train/more.gz#5": q.BAD_RECORD, "train/more.gz#6": q.DUPLICATE_PAIR_ID,
        "train/plain.tfrecord#0": q.DUPLICATE_PAIR_ID,
        "train/damaged.tfrecord#2": q.CORRUPT_TFRECORD, "train/cut.tfrecords#1": q.CORRUPT_TFRECORD,
        "train/text.tfrecord": q.NOT_A_TFRECORD, "train/empty.tfrecord": q.EMPTY_FILE,
        "train/photo.png": q.UNSUPPORTED_EXTENSION}
    details = {row["file"].rsplit("/", 1)[-1]: row["detail"] for row in run.rows}
    assert "feature 'target_image' is missing" in details["more.gz#3"]
    assert "input_image:" in details["more.gz#4"]
    assert "'pair_id' must hold exactly one bytes value, got int64_list" in details["more.gz#5"]
    assert "data checksum mismatch" in details["damaged.tfrecord#2"] and "records 0-1 were read" in details[
        "damaged.tfrecord#2"]
    assert run.audit.unit == "record" and run.audit.resized_pairs == 1


def test_records_keep_their_image_bytes_and_lose_extra_features(imported):
    """A record's own features are dropped; ExampleGen's image properties describe the decoded pixels."""
    _, run = imported
    example = run.by_id()["p3"]
    assert set(example.features.feature) == set(pairing.EXAMPLE_FEATURES) | set(features.IMAGE_PROPERTY_KEYS)
    assert image_bytes(example, features.INPUT_IMAGE_KEY) == _png(6)
    assert image_bytes(example, features.TARGET_IMAGE_KEY) == _png(7)
    pixels = tf.io.decode_png(_png(6)).numpy()
    assert image_properties.of_pixels("input", pixels) == pytest.approx({
        key: (value.int64_list.value or value.float_list.value)[0]
        for key, value in example.features.feature.items() if key.startswith("input_") and key != "input_image"})


def test_an_examples_artifact_can_be_imported_again(imported, tmp_path):
    """TFX's own output (Split-train/*.gz) is the tfrecord layout with other split folder names."""
    _, first = imported
    again = run_example_gen(first.examples_uri, tmp_path, layout="tfrecord",
                            split_folders={"train": "Split-train", "eval": "Split-eval"}, **SMALL)
    assert again.ids("train") == first.ids("train") and again.ids("eval") == first.ids("eval")
    assert again.rows == [] and again.audit.ignored_files == 3   # quarantine.csv, summary.json, fingerprints.json
    for pair_id, example in first.by_id().items():
        assert again.by_id()[pair_id] == example


def test_reader_matches_tensorflow_and_detects_damage(tmp_path):
    records = [_record(f"r{i}", i) for i in range(3)]
    for compression in (None, "GZIP"):
        path = tmp_path / f"r-{compression}.tfrecord"
        _write_tf(path, records, compression)
        with tfrecord_files.open_records(str(path)) as handle:
            assert list(tfrecord_files.read_records(handle)) == records
    framed = tfrecord_files.encode_record(b"payload")
    for damaged, message in ((framed[:10], "ends inside a record header"),
                             (framed[:-2], "ends inside the record"),
                             (framed[:3] + b"\x7f" + framed[4:], "length checksum mismatch"),
                             (framed[:14] + b"X" + framed[15:], "data checksum mismatch")):
        with pytest.raises(tfrecord_files.CorruptRecords, match=message):
            list(tfrecord_files.read_records(io.BytesIO(damaged)))
