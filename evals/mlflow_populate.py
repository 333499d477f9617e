"""Fill an MLflow registry from a JSON spec with the official ``mlflow`` client.

Run by :func:`augur.evals.mlflow_server.populate` with the Python of the MLflow environment
(``.venv-mlflow``, which has ``mlflow`` but not augur), so this file imports nothing of augur::

    .venv-mlflow/bin/python evals/mlflow_populate.py http://127.0.0.1:5000 spec.json

The spec::

    {"models": [{"name": "ranker", "experiment": "ranker-training",
                 "versions": [{"metrics": {"accuracy": 0.80}, "curves": {"loss": [0.9, 0.5, 0.3]},
                               "params": {"lr": "0.01"}, "tags": {"deployed_at": "2026-12-03T10:00:00Z"},
                               "stage": "Production", "description": "weekly retrain"}],
                 "aliases": {"champion": 2}, "replace": true}]}

Versions are registered in order (1, 2, ...), each from its own training run that logged the
metrics (a curve's values at steps 0, 1, ...); ``replace`` deletes a model of the same name
first. It prints the run ids as JSON on stdout.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from typing import Any


def populate(url: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Register every model of ``spec`` at ``url``; the run id of each version, by model."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    runs: dict[str, list[str]] = {}
    for model in spec.get("models", []):
        name = model["name"]
        experiment = client.get_experiment_by_name(model.get("experiment") or f"{name}-training")
        experiment_id = (experiment.experiment_id if experiment else
                         client.create_experiment(model.get("experiment") or f"{name}-training"))
        if model.get("replace") and client.search_registered_models(f"name = '{name}'"):
            client.delete_registered_model(name)  # a re-run of the same scenario on a long-lived server
        client.create_registered_model(name, description=model.get("description"))
        runs[name] = []
        for number, version in enumerate(model.get("versions", []), start=1):
            run = client.create_run(experiment_id, run_name=f"{name}-v{number}")
            run_id = run.info.run_id
            now = int(time.time() * 1000)
            metrics = [Metric(key, float(value), now, 0) for key, value in version.get("metrics", {}).items()]
            for key, values in version.get("curves", {}).items():
                metrics += [Metric(key, float(v), now + step, step) for step, v in enumerate(values)]
            params = [Param(k, str(v)) for k, v in version.get("params", {}).items()]
            for i in range(0, len(metrics), 500):  # log_batch takes at most 1000 metrics
                client.log_batch(run_id, metrics=metrics[i:i + 500], params=params if i == 0 else [])
            if not metrics and params:
                client.log_batch(run_id, params=params)
            client.set_terminated(run_id)
            mv = client.create_model_version(
                name, source=f"{run.info.artifact_uri}/model", run_id=run_id,
                tags=version.get("tags") or None, description=version.get("description"),
                await_creation_for=0,  # SQLite registers synchronously: no polling for READY
            )
            if version.get("stage"):
                with warnings.catch_warnings():  # stages are deprecated; older registries still use them
                    warnings.simplefilter("ignore")
                    client.transition_model_version_stage(name, mv.version, version["stage"])
            runs[name].append(run_id)
        for alias, number in model.get("aliases", {}).items():
            client.set_registered_model_alias(name, alias, str(number))
    return {"runs": runs}


if __name__ == "__main__":
    with open(sys.argv[2]) as f:
        result = populate(sys.argv[1], json.load(f))
    print(json.dumps(result))
