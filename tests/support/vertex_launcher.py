"""Runs a compiled Vertex AI pipeline spec here, step by step, the way Vertex's launcher does.

Test support only. For each task in dependency order it builds the ExecutorInput
(input artifacts from upstream outputs, parameters from the compiled constants,
output artifacts under a local root), runs the task's compiled driver and
container command with TFX's Kubeflow V2 entrypoint, and reads back the
ExecutorOutput. Resolver tasks (Vertex ML Metadata queries) resolve to nothing,
as on a first run. What it cannot show: Vertex's own scheduling, caching, GCS.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Dict, List

STORE = "projects/my-gcp-project/locations/us-central1/metadataStores/default/artifacts"
PLACEHOLDER = "{{$}}"


def topological_order(tasks: Dict[str, dict]) -> List[str]:
    done: List[str] = []
    while len(done) < len(tasks):
        ready = sorted(name for name, task in tasks.items()
                       if name not in done and all(dep in done for dep in task.get("dependentTasks", [])))
        assert ready, f"cycle among {set(tasks) - set(done)}"
        done.extend(ready)
    return done


def _parameters(task: dict) -> Dict[str, dict]:
    return {key: value["runtimeValue"]["constantValue"]
            for key, value in task.get("inputs", {}).get("parameters", {}).items()}


def _google_value(kfp_value: dict) -> object:
    if "intValue" in kfp_value:
        return int(kfp_value["intValue"])
    if "doubleValue" in kfp_value:
        return float(kfp_value["doubleValue"])
    return kfp_value.get("stringValue", "")


def run_pipeline(job: dict, root: str, project_root: str, timeout_s: int = 900) -> Dict[str, dict]:
    """Runs every task; returns {task: {output key: [runtime artifacts with their output metadata]}}."""
    spec = job["pipelineSpec"]
    tasks = spec["root"]["dag"]["tasks"]
    produced: Dict[str, Dict[str, list]] = {}
    for name in topological_order(tasks):
        task = tasks[name]
        component = spec["components"][task["componentRef"]["name"]]
        executor = spec["deploymentSpec"]["executors"][component["executorLabel"]]
        output_defs = component.get("outputDefinitions", {}).get("artifacts", {})
        if "resolver" in executor:               # a metadata query: nothing is blessed yet
            produced[name] = {key: [] for key in output_defs}
            continue
        inputs = {}
        for key, ref in task.get("inputs", {}).get("artifacts", {}).items():
            upstream = ref["taskOutputArtifact"]
            artifacts = produced[upstream["producerTask"]][upstream["outputArtifactKey"]]
            if artifacts:
                inputs[key] = {"artifacts": artifacts}
        parameters = _parameters(task)
        task_dir = os.path.join(root, name)
        os.makedirs(task_dir, exist_ok=True)
        outputs = {key: {"artifacts": [{"name": f"{STORE}/{name}-{key}", "type": definition["artifactType"],
                                        "uri": os.path.join(task_dir, key), "metadata": {}}]}
                   for key, definition in output_defs.items()}
        executor_input = {
            "inputs": {"artifacts": inputs, "parameters": parameters,
                       "parameterValues": {k: _google_value(v) for k, v in parameters.items()}},
            "outputs": {"artifacts": outputs, "outputFile": os.path.join(task_dir, "executor_output.json")},
        }
        container = executor["container"]
        driver = container.get("lifecycle", {}).get("preCacheCheck")
        for step in ([driver] if driver else []) + [container]:
            _launch(step, executor_input, project_root, timeout_s, name)
        with open(executor_input["outputs"]["outputFile"]) as handle:
            output = json.load(handle)
        produced[name] = {}
        for key, artifact_list in outputs.items():
            runtime = dict(artifact_list["artifacts"][0])
            written = output.get("artifacts", {}).get(key, {}).get("artifacts", [{}])[0]
            runtime["metadata"] = {**runtime["metadata"], **written.get("metadata", {})}
            produced[name][key] = [runtime]
    return produced


def _launch(step: dict, executor_input: dict, project_root: str, timeout_s: int, name: str) -> None:
    command = list(step["command"])
    assert command[0] == "python", command
    argv = [sys.executable, *command[1:],
            *[json.dumps(executor_input) if arg == PLACEHOLDER else arg for arg in step.get("args", [])]]
    env = {**os.environ, "PYTHONPATH": project_root}     # the image puts the project on PYTHONPATH
    result = subprocess.run(argv, cwd=os.path.dirname(executor_input["outputs"]["outputFile"]) or None,
                            env=env, capture_output=True, text=True, timeout=timeout_s)
    if result.returncode != 0:
        raise AssertionError(f"task {name} failed ({result.returncode}):\n{result.stderr[-5000:]}")
