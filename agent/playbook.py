"""The remediation playbook: what to do, keyed by the type of the root cause.

The fault type itself comes from what the changed signals are (:mod:`augur.agent.fault_type`,
re-exported here as :func:`fault_type` and :func:`classify`); :func:`fixes_for` returns the
playbook's steps for it, citing the evidence they rest on. The steps come from the domain (see
the project's domain notes): roll back a model version, retrain on fresh data, restore the
feature pipeline, reduce batch/sequence size on GPU OOM, scale out, fix the network when
AllReduce takes more than 30 % of a step. An LLM may add steps; those are marked
``source="llm"`` and must cite evidence too.
"""

from __future__ import annotations

from collections.abc import Sequence

from augur.agent.fault_type import classify, fault_type
from augur.agent.report import Fix

__all__ = ["PLAYBOOK", "classify", "fault_type", "fixes_for"]

#: fault type -> [(action, why)]
PLAYBOOK: dict[str, list[tuple[str, str]]] = {
    "data_drift": [
        ("Restore the feature pipeline's previous behaviour (roll back the upstream change that "
         "moved the feature's distribution) or map the new distribution to the old one.",
         "the model still assumes the old distribution of the drifted feature"),
        ("Retrain the model on fresh data that includes the new distribution, validate it against "
         "the current traffic, and deploy it behind a canary.",
         "if the new distribution is legitimate, the model must learn it"),
        ("Add a composite rule: drift PSI > 0.2 AND accuracy down > 5 % pages the model owner.",
         "catches the same chain at its first link next time"),
    ],
    "train_serve_skew": [
        ("Compare the serving feature values with the training set's (same transformation code, "
         "same units); fix the serving path or retrain on data logged from serving.",
         "training accuracy above serving accuracy usually means train/serve skew"),
    ],
    "data_freshness": [
        ("Restore the feature pipeline: restart the stuck job, backfill the missing partitions, "
         "and check the upstream source's freshness.", "features are late"),
        ("Serve the last good feature snapshot until fresh features arrive.",
         "stale features degrade predictions silently"),
    ],
    "missing_features": [
        ("Restore the feature pipeline's inputs: find the source or join that stopped filling the "
         "feature, backfill it, and add a missing-rate rule.", "the model sees defaults instead of values"),
    ],
    "model_degradation": [
        ("Roll back `model_version` to the last version whose accuracy was normal.",
         "the fastest way to restore prediction quality"),
        ("Retrain on fresh data and compare train vs serving metrics (a gap means train/serve skew).",
         "accuracy fell without an infrastructure fault"),
        ("Check accuracy by slice (age, region, device): the aggregate may hide a failing segment.",
         "aggregate accuracy hides slices"),
    ],
    "bad_model_version": [
        ("Roll back `model_version` to the previous version.", "the change started with a new version"),
        ("Diff the new version's feature weights and inference cost against the previous one before "
         "redeploying it behind a canary.", "a new version changed how the model computes"),
    ],
    "slice_degradation": [
        ("Find the failing slice (age band, region, device) and its inputs; retrain with that slice "
         "weighted, or route it to the previous model.", "aggregate accuracy hides slices"),
    ],
    "latency_regression": [
        ("Scale out the serving deployment (more replicas) to bring p99 back under its objective.",
         "latency rose while the cause is being fixed"),
        ("Profile the slow hop (trace: gateway → feature store → inference) before changing hardware.",
         "GPU utilisation 100 % is not proof of a hardware limit"),
    ],
    "upstream_latency": [
        ("Fix the slow dependency (cache, feature store, upstream service): check its hit ratio, "
         "capacity and recent changes; add timeouts and fallbacks in its callers.",
         "the callers wait on it"),
    ],
    "bad_deploy": [
        ("Roll back the last deployment.", "errors started with it"),
        ("Split errors into business (4xx, bad input) and system (5xx, OOM) and read the new error "
         "templates in the logs before redeploying.", "system errors after a change point to it"),
    ],
    "gpu_oom": [
        ("Reduce batch size or maximum sequence length on the affected GPUs.",
         "GPU memory holds inputs and intermediate tensors, not only the model: growing inputs OOM"),
        ("Enable memory-efficient attention / activation checkpointing, or move to larger-memory GPUs.",
         "the same model needs more memory for larger inputs"),
    ],
    "gpu_hardware": [
        ("Cordon and drain the GPU node, then reset or replace the GPU (check XID codes, ECC and "
         "retired pages with the NVML probe).", "a failing GPU corrupts or slows the work on it"),
    ],
    "gpu_underutilized": [
        ("Batch more requests together (dynamic batching) or consolidate onto fewer GPUs.",
         "low SM utilisation means the work does not fill the GPU"),
    ],
    "gpu_saturation": [
        ("Scale out the GPU pool or shed load; then check operator fusion (TensorRT-style) — "
         "utilisation may fall while latency improves.", "the GPUs are pegged"),
        ("If SM utilisation is low with small batches, batch more requests together.",
         "low SM utilisation means the work does not fill the GPU"),
    ],
    "network_bottleneck": [
        ("Fix the network: AllReduce above 30 % of step time means gradient sync is the "
         "bottleneck — check NCCL topology, link errors, and use gradient compression or larger "
         "buckets.", "distributed training waits on the network"),
    ],
    "resource_saturation": [
        ("Scale out (more replicas or nodes) and set resource requests/limits from observed peaks.",
         "a resource ran out"),
    ],
    "traffic_surge": [
        ("Scale out for the surge (replicas, autoscaler limits); if the traffic is legitimate "
         "(a holiday, a campaign), adapt the thresholds instead of paging.",
         "more requests arrived than the capacity planned for"),
    ],
    "traffic_drop": [
        ("Check the upstream callers and the load balancer: fewer requests reached the service.",
         "QPS fell"),
    ],
    "kpi_drop": [
        ("Follow the business-to-technical map: restore the technical signals the KPI rests on "
         "(accuracy, latency, drift), then confirm the KPI recovers.",
         "the KPI moved because something under it did"),
    ],
    "error_logs": [
        ("Read the new error templates in the logs and fix the failing code path.",
         "a new error appeared in the logs when the incident started"),
    ],
    "unknown": [
        ("Inspect the first changed signal's dashboard and recent deployments of its component.",
         "the evidence does not match a known fault type"),
    ],
}


def fixes_for(kind: str, evidence_ids: list[str], *, symptoms: Sequence[str] = ()) -> list[Fix]:
    """The playbook's steps for ``kind``, plus mitigation for symptom types, citing evidence."""
    out = [Fix(action=a, why=w, fault_type=kind, evidence_ids=list(evidence_ids))
           for a, w in PLAYBOOK.get(kind, PLAYBOOK["unknown"])]
    for symptom in dict.fromkeys(symptoms):
        if symptom != kind and symptom in ("latency_regression", "gpu_saturation"):
            action, why = PLAYBOOK[symptom][0]
            out.append(Fix(action=f"Mitigate meanwhile: {action[0].lower()}{action[1:]}", why=why,
                           fault_type=symptom, evidence_ids=list(evidence_ids)))
    return out
