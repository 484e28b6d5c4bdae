"""A finished pipeline run's Trainer, again, in a process of its own: as a Vertex AI / Kubeflow step runs it.

    python -m benchmarks.trainer_alone --artifacts TFX_ROOT --output DIR [--config F] [--set SECTION.KEY=VALUE ...]

Why: the local runner runs every component in one process, so the Trainer's peak memory there
includes what the stages before it left with the allocator, and it varies from run to run. This
runs the same ``run_fn`` with the same settings (``pipeline_def.trainer_custom_config``) on the
newest ExampleGen and Transform artifacts under TFX_ROOT, with its model, ModelRun and
checkpoints under DIR: nothing of the run is resumed or overwritten. ``benchmarks.scale``
measures it as one more row.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "pipeline_config.yaml")
# Where the LocalDagRunner puts the artifacts the Trainer reads: <root>/<component id>/<output>/<execution id>/.
EXAMPLES_DIR = os.path.join("FileBasedExampleGen", "examples")
TRANSFORM_GRAPH_DIR = os.path.join("Transform", "transform_graph")
TRAIN_SPLIT, EVAL_SPLIT = "train", "eval"


def newest_artifact(tfx_root: str, output_dir: str) -> str:
    """``<tfx_root>/<output_dir>/<highest execution id>``; SystemExit naming the folder when there is none."""
    folder = os.path.join(tfx_root, output_dir)
    executions = [entry for entry in (os.listdir(folder) if os.path.isdir(folder) else []) if entry.isdigit()]
    if not executions:
        raise SystemExit(f"--artifacts {tfx_root}: no artifact in {folder}; give the pipeline.root of a finished run")
    return os.path.join(folder, max(executions, key=int))


def fn_args_for(tfx_root: str, output: str, custom_config: dict):
    """TFX's FnArgs as the Trainer component builds them for ``run_fn``, from the run's artifacts."""
    from tfx.components.trainer.fn_args_utils import FnArgs

    examples = newest_artifact(tfx_root, EXAMPLES_DIR)
    return FnArgs(train_files=[os.path.join(examples, f"Split-{TRAIN_SPLIT}", "*")],
                  eval_files=[os.path.join(examples, f"Split-{EVAL_SPLIT}", "*")],
                  transform_output=newest_artifact(tfx_root, TRANSFORM_GRAPH_DIR),
                  serving_model_dir=os.path.join(output, "serving_model"),
                  model_run_dir=os.path.join(output, "model_run"), custom_config=custom_config)


def settings(output: str, overrides: Sequence[str]) -> List[str]:
    """The run's ``--set`` values, then a pipeline.root under ``output``: the checkpoints go there."""
    return [*overrides, f"pipeline.root={os.path.join(output, 'root')}"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.trainer_alone", description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", required=True, help="the finished run's pipeline.root (its tfx_root)")
    parser.add_argument("--output", required=True, help="a new or empty folder for the model, ModelRun, checkpoints")
    parser.add_argument("--config", default=CONFIG, help="default: %(default)s")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="the run's settings (repeatable)")
    args = parser.parse_args(argv)
    output = os.path.abspath(args.output)
    if os.path.islink(output) or (os.path.exists(output) and (not os.path.isdir(output) or os.listdir(output))):
        parser.error(f"--output {args.output}: give a new or empty folder")

    import components  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
    from components.trainer import run_fn
    from pipeline import logs
    from pipeline.config import ConfigError, load_config
    from pipeline.pipeline_def import trainer_custom_config

    try:
        config = load_config(args.config, settings(output, args.overrides))
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return 2
    fn_args = fn_args_for(os.path.abspath(args.artifacts), output, trainer_custom_config(config))
    os.makedirs(output, exist_ok=True)
    logs.configure(os.path.join(output, "trainer.log"))   # the epoch lines on the console, everything in the file
    run_fn.run_fn(fn_args)
    print(f"trained alone on {fn_args.train_files[0]}; model in {fn_args.serving_model_dir}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
