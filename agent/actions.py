"""Actions a report proposes: roll a model back, retrain it, or scale its deployment out.

:func:`propose_actions` reads the report's verdict and the evidence behind it and proposes, for a
reviewer to approve (nothing here changes anything):

- ``rollback_model`` when the named cause is a model version (``bad_model_version``) and the
  ``model_registry`` evidence says which alias serves it and which version came before: point that
  alias back at the previous version;
- ``retrain`` when the cause is the data or the model's fit to it (drift, skew, degradation): the
  retraining pipeline for the component (and its registered model, if the registry was read);
- ``scale`` when a resource ran out, traffic surged or latency regressed on a component: scale its
  deployment out (the server reads the current replicas in its dry run and proposes twice as many).

Each action cites the evidence it rests on. An inconclusive report proposes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from augur.agent.report import ProposedAction, RootCause
from augur.tools.evidence import Meaning, meaning_of

__all__ = ["RETRAIN_FAULTS", "ROLLBACK_FAULTS", "SCALE_FAULTS", "propose_actions"]

ROLLBACK_FAULTS = frozenset({"bad_model_version"})
RETRAIN_FAULTS = frozenset({"data_drift", "train_serve_skew", "model_degradation"})
SCALE_FAULTS = frozenset({"resource_saturation", "traffic_surge", "latency_regression", "gpu_saturation"})
#: How much a ``scale`` proposal multiplies the current replicas by.
SCALE_FACTOR = 2


def _registry(evidence: Mapping[str, Mapping[str, Any]], ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """The usable ``model_registry`` answers, those the cause cites first."""
    rows = [(i, evidence[i]) for i in ids if i in evidence]
    rows += [(i, ev) for i, ev in evidence.items() if i not in ids]
    return [
        (i, dict(ev.get("data") or {}))
        for i, ev in rows
        if meaning_of(ev) is Meaning.MODEL_VERSION and ev.get("status") == "ok"
    ]


def _alias(live: Mapping[str, Any]) -> str | None:
    selected = str(live.get("selected_by") or "")
    if selected.startswith("alias "):
        return selected.removeprefix("alias ").strip() or None
    return None


def _rollbacks(root: RootCause, evidence: Mapping[str, Mapping[str, Any]]) -> list[ProposedAction]:
    out: list[ProposedAction] = []
    for ev_id, data in _registry(evidence, root.evidence_ids):
        live, previous = data.get("live"), data.get("previous")
        if not isinstance(live, dict) or not isinstance(previous, dict) or not data.get("changed_since"):
            continue
        alias = _alias(live)
        if alias is None:  # a stage-based registry: MLflow deprecated stage transitions; say it in the fixes
            continue
        model = str(data.get("model"))
        out.append(
            ProposedAction(
                kind="rollback_model",
                target=model,
                params={
                    "model": model,
                    "alias": alias,
                    "from_version": str(live.get("version")),
                    "to_version": str(previous.get("version")),
                },
                why=(
                    f"{model} v{live.get('version')} went live as @{alias} at {data.get('changed_at')}, "
                    f"before the onset; v{previous.get('version')} served before it"
                ),
                evidence_ids=sorted({ev_id, *root.evidence_ids}),
            )
        )
    return out


def propose_actions(
    root: RootCause, evidence: Mapping[str, Mapping[str, Any]], labels: Mapping[str, str] | None = None
) -> list[ProposedAction]:
    """The actions the verdict ``root`` calls for, from the evidence (id -> evidence as JSON).

    ``labels`` are the alert's: a ``namespace`` / ``deployment`` there names what ``scale`` acts on.
    """
    if root.verdict != "identified" or not root.component:
        return []
    labels = labels or {}
    if root.fault_type in ROLLBACK_FAULTS:
        return _rollbacks(root, evidence)
    if root.fault_type in RETRAIN_FAULTS:
        params: dict[str, str | int] = {"component": root.component, "fault_type": root.fault_type}
        models = [str(d.get("model")) for _, d in _registry(evidence, root.evidence_ids) if d.get("model")]
        if models:
            params["model"] = models[0]
        return [
            ProposedAction(
                kind="retrain",
                target=models[0] if models else root.component,
                params=params,
                why=f"{root.summary}: the model no longer fits the data it serves",
                evidence_ids=root.evidence_ids,
            )
        ]
    if root.fault_type in SCALE_FAULTS:
        deployment = labels.get("deployment") or root.component
        params = {"deployment": deployment, "factor": SCALE_FACTOR}
        if labels.get("namespace"):
            params["namespace"] = labels["namespace"]
        return [
            ProposedAction(
                kind="scale",
                target=deployment,
                params=params,
                why=f"{root.summary}: more replicas share the load",
                evidence_ids=root.evidence_ids,
            )
        ]
    return []
