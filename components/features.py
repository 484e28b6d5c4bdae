"""Feature names shared by ExampleGen, Transform, Trainer, Evaluator and serving.

Named once here so the Example format, the transform graph and the serving
signatures cannot drift apart.
"""

# Raw tf.train.Example features written by the paired-image ExampleGen.
INPUT_IMAGE_KEY = "input_image"    # encoded PNG/JPEG/BMP/GIF bytes of the input (A)
TARGET_IMAGE_KEY = "target_image"  # encoded bytes of the target (B)
PAIR_ID_KEY = "pair_id"            # stable id of the pair: its file stem

IMAGE_KEYS = (INPUT_IMAGE_KEY, TARGET_IMAGE_KEY)  # all the Trainer and the served model read

# Image properties ExampleGen records beside the bytes, so that StatisticsGen describes them and
# ExampleValidator checks them against the schema (and for drift): <role>_<property>.
IMAGE_ROLES = ("input", "target")
IMAGE_PROPERTIES = ("width", "height", "channels", "brightness")  # brightness: mean pixel value in [0, 1]
IMAGE_PROPERTY_KEYS = tuple(f"{role}_{name}" for role in IMAGE_ROLES for name in IMAGE_PROPERTIES)

# Transformed features: float32 [H, W, C] in [-1, 1].
INPUT_XF = "input"
TARGET_XF = "target"

# Serving signature names and tensors.
SERVING_DEFAULT = "serving_default"               # deterministic: dropout off, batch norm's moving statistics
SERVING_STOCHASTIC = "serving_stochastic"         # as the paper tests: dropout on, each image's own statistics
SERVING_EXAMPLES = "serving_examples"
SERVING_EXAMPLES_STOCHASTIC = "serving_examples_stochastic"
TRANSFORM_FEATURES = "transform_features"
SERVING_INPUT_BYTES = "image_bytes"
SERVING_OUTPUT_BYTES = "generated_image_bytes"
SERVING_OUTPUT_PIXELS = "generated_image"  # uint8 [B, H, W, C]
SERVING_SEED = "seed"                      # int64 scalar of the stochastic signatures: same seed, same image
