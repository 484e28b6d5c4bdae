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
from typing import Dict, List, Optional

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
    produced: Dict[str, Dict[str, list]] = {}
    for name in topological_order(job["pipelineSpec"]["root"]["dag"]["tasks"]):
        produced[name] = run_task(job, name, root, project_root, produced, timeout_s=timeout_s)
    return produced


def run_task(job: dict, name: str, root: str, project_root: str, produced: Dict[str, Dict[str, list]],
             timeout_s: int = 900, parameters: Optional[Dict[str, dict]] = None) -> Dict[str, list]:
    """Runs one task (driver, then executor) on its upstream tasks' outputs in ``produced``.

    ``parameters`` replaces compiled constants, as a run-time parameter of a submitted job would.
    Between driver and executor the task's parameters and output artifacts take what the driver
    wrote, as Vertex does ("updates the task's properties and artifacts prior to running the executor").
    """
    spec = job["pipelineSpec"]
    task = spec["root"]["dag"]["tasks"][name]
    component = spec["components"][task["componentRef"]["name"]]
    executor = spec["deploymentSpec"]["executors"][component["executorLabel"]]
    output_defs = component.get("outputDefinitions", {}).get("artifacts", {})
    if "resolver" in executor:               # a metadata query: nothing is blessed yet
        return {key: [] for key in output_defs}
    inputs = {}
    for key, ref in task.get("inputs", {}).get("artifacts", {}).items():
        upstream = ref["taskOutputArtifact"]
        artifacts = produced[upstream["producerTask"]][upstream["outputArtifactKey"]]
        if artifacts:
            inputs[key] = {"artifacts": artifacts}
    values = {**_parameters(task), **(parameters or {})}
    task_dir = os.path.join(root, name)
    os.makedirs(task_dir, exist_ok=True)
    outputs = {key: {"artifacts": [{"name": f"{STORE}/{name}-{key}", "type": definition["artifactType"],
                                    "uri": os.path.join(task_dir, key), "metadata": {}}]}
               for key, definition in output_defs.items()}
    output_file = os.path.join(task_dir, "executor_output.json")
    container = executor["container"]
    driver = container.get("lifecycle", {}).get("preCacheCheck")
    if driver:
        _launch(driver, _executor_input(inputs, values, outputs, output_file), project_root, timeout_s, name)
        with open(output_file) as handle:
            decided = json.load(handle)
        values.update({key: _kfp_value(value) for key, value in decided.get("parameterValues", {}).items()})
        for key, written in decided.get("artifacts", {}).items():
            metadata = written.get("artifacts", [{}])[0].get("metadata", {})
            outputs[key]["artifacts"][0]["metadata"].update(metadata)
        os.remove(output_file)
    _launch(container, _executor_input(inputs, values, outputs, output_file), project_root, timeout_s, name)
    with open(output_file) as handle:
        output = json.load(handle)
    result = {}
    for key, artifact_list in outputs.items():
        runtime = dict(artifact_list["artifacts"][0])
        written = output.get("artifacts", {}).get(key, {}).get("artifacts", [{}])[0]
        runtime["metadata"] = {**runtime["metadata"], **written.get("metadata", {})}
        result[key] = [runtime]
    return result


def _executor_input(inputs: dict, values: Dict[str, dict], outputs: dict, output_file: str) -> dict:
    return {"inputs": {"artifacts": inputs, "parameters": values,
                       "parameterValues": {k: _google_value(v) for k, v in values.items()}},
            "outputs": {"artifacts": outputs, "outputFile": output_file}}


def _kfp_value(google_value: object) -> dict:
    """A driver's google.protobuf.Value (JSON: a number or a string) as a KFP Value."""
    if isinstance(google_value, bool) or not isinstance(google_value, (int, float)):
        return {"stringValue": str(google_value)}
    if float(google_value).is_integer():
        return {"intValue": str(int(google_value))}
    return {"doubleValue": google_value}


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
