"""Actions: proposed like rules, reviewed like rules, executed once when approved, then checked.

An action is a :class:`~augur.rules.proposal.Proposal` whose kind is ``rollback_model``,
``retrain`` or ``scale`` (``rule`` holds its arguments). It goes through the same review state
machine (:mod:`augur.rules.review`) and table as rule proposals, so the API, the review page,
Slack's buttons and ``augur rules review`` list, approve and audit both alike. What differs is
what approving does: :func:`execute_approved` runs the action instead of writing a rule.

Each kind has three steps:

- **preview** (:func:`preview`, when the action is proposed): a dry run a reviewer reads before
  approving, stored as the proposal's ``validation``:

  - ``rollback_model``: read the alias in MLflow (``GET registered-models/alias``) and the target
    version (``GET model-versions/get``): ``ranker@champion: 2 → 1``, refused when the alias no
    longer points at the version the investigation saw;
  - ``retrain``: the webhook request that would be sent (a webhook has no dry run);
  - ``scale``: the Kubernetes API server's own dry run of the new replica count
    (``PATCH .../deployments/{name}/scale?dryRun=All``), from the current count × the factor;

- **execute** and **check** (:func:`execute_approved`, once, by the reviewer whose approval moved
  the proposal): move the alias then read it back; POST the webhook and require a 2xx; patch the
  scale then read ``spec.replicas`` back. The outcome (``applied`` with what was checked, or
  ``failed`` with why) is the proposal's next event, recorded by ``augur``.

Exactly once: only an approval that changed the proposal's state (a compare-and-set in the
database) executes; a double click or a second reviewer racing gets the settled state and
executes nothing. A ``failed`` action may be approved again to retry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from augur.rules.proposal import Proposal, ProposalKind, Validation
from augur.rules.review import NotFound, ProposalRepository, ReviewOutcome, mark_applied, mark_failed
from augur.tools.errors import BadInput

__all__ = [
    "ACTION_GROUP",
    "ActionConfig",
    "ActionResult",
    "action_proposal",
    "execute",
    "execute_approved",
    "preview",
]

#: The ``group`` of every action proposal (rules have their rule group there).
ACTION_GROUP = "actions"
#: A merge patch of the scale subresource: the official client would otherwise label a dict body a
#: JSON patch (its first listed patch type), which the API server refuses.
MERGE_PATCH = "application/merge-patch+json"
#: Never scale a deployment past this many replicas, whatever the factor says.
MAX_REPLICAS = 100


@dataclass(frozen=True)
class ActionConfig:
    """Where actions act: MLflow, the retraining webhook, the Kubernetes API server."""

    mlflow_url: str | None = None
    retrain_url: str | None = None
    retrain_token: str | None = None
    kubernetes_url: str | None = None
    kubernetes_token: str | None = None
    kubernetes_ca_file: str | None = None
    kubernetes_namespace: str = "default"
    max_replicas: int = MAX_REPLICAS
    timeout_s: float = 10.0


@dataclass(frozen=True)
class ActionResult:
    """A preview's or an execution's outcome: ``ok`` and what was seen, and the resolved params."""

    ok: bool
    detail: str
    params: Mapping[str, Any] | None = None


class ActionFailed(BadInput):
    """An action (or its preview) could not be done; the message says why (it never leaves this
    module: :func:`preview` and :func:`execute` answer it as ``ok=False``)."""


# -- proposals ---------------------------------------------------------------------------------


def _fingerprint(kind: ProposalKind, params: Mapping[str, Any], incident_id: int | None) -> str:
    canonical = json.dumps(
        {"kind": str(kind), "params": dict(params), "incident": incident_id}, sort_keys=True, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _summary(kind: ProposalKind, target: str, params: Mapping[str, Any]) -> str:
    if kind is ProposalKind.ROLLBACK_MODEL:
        return f"{params['model']}@{params['alias']} {params['from_version']} → {params['to_version']}"
    if kind is ProposalKind.SCALE:
        ns = params.get("namespace", "default")
        if "replicas" in params:
            return (
                f"deployment {ns}/{target} {params.get('from_replicas', '?')} → {params['replicas']} replicas"
            )
        return f"deployment {ns}/{target} ×{params.get('factor', 2)}"
    return f"retrain {target}"


def action_proposal(
    kind: str,
    target: str,
    params: Mapping[str, Any],
    why: str,
    evidence_ids: list[str],
    incident_id: int | None,
    checked: ActionResult,
) -> Proposal:
    """The pending proposal for an action, its dry run (``checked``) shown as its validation.

    One per incident and action: the same action proposed again for that incident (a rerun of the
    investigation) has the same fingerprint and is stored once.
    """
    action = ProposalKind(kind)
    resolved = dict(checked.params if checked.params is not None else params)
    fingerprint = _fingerprint(action, {k: v for k, v in params.items()}, incident_id)
    return Proposal(
        id=f"ac-{fingerprint[:12]}",
        kind=action,
        group=ACTION_GROUP,
        rule={"target": target, "summary": _summary(action, target, resolved), "params": resolved},
        rationale=why,
        evidence_ids=list(evidence_ids),
        validation=Validation(ok=checked.ok, tool=f"dry run ({_backend(action)})", output=checked.detail),
        fingerprint=fingerprint,
        incident_id=incident_id,
    )


def _backend(kind: ProposalKind) -> str:
    return {
        ProposalKind.ROLLBACK_MODEL: "MLflow",
        ProposalKind.RETRAIN: "retraining webhook",
        ProposalKind.SCALE: "Kubernetes API",
    }[kind]


# -- MLflow ------------------------------------------------------------------------------------


def _mlflow(config: ActionConfig) -> str:
    if not config.mlflow_url:
        raise ActionFailed("AUGUR_MLFLOW_URL is not set: a model rollback needs the MLflow tracking server")
    return config.mlflow_url.rstrip("/") + "/api/2.0/mlflow"


def _mlflow_call(
    http: httpx.Client, method: str, url: str, config: ActionConfig, **kwargs: Any
) -> dict[str, Any] | None:
    try:
        response = http.request(method, url, timeout=config.timeout_s, **kwargs)
    except httpx.HTTPError as exc:
        raise ActionFailed(f"cannot reach MLflow ({type(exc).__name__}: {exc})") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if (
        response.status_code == 404
        and isinstance(body, dict)
        and body.get("error_code") == "RESOURCE_DOES_NOT_EXIST"
    ):
        return None
    if response.status_code != 200:
        raise ActionFailed(
            f"MLflow answered HTTP {response.status_code} to {method} {url.rsplit('/mlflow/', 1)[-1]}: "
            f"{response.text[:300]}"
        )
    return body if isinstance(body, dict) else {}


def _alias_version(http: httpx.Client, config: ActionConfig, model: str, alias: str) -> str | None:
    got = _mlflow_call(
        http,
        "GET",
        f"{_mlflow(config)}/registered-models/alias",
        config,
        params={"name": model, "alias": alias},
    )
    if got is None:
        return None
    return str((got.get("model_version") or {}).get("version"))


def _preview_rollback(params: Mapping[str, Any], config: ActionConfig, http: httpx.Client) -> ActionResult:
    model, alias = str(params["model"]), str(params["alias"])
    old, new = str(params["from_version"]), str(params["to_version"])
    current = _alias_version(http, config, model, alias)
    if current is None:
        raise ActionFailed(f"{model} has no alias {alias!r} in MLflow")
    if current != old:
        raise ActionFailed(
            f"{model}@{alias} points at version {current}, not {old} as the investigation saw: "
            "not proposing a rollback over a change made since"
        )
    target = _mlflow_call(
        http, "GET", f"{_mlflow(config)}/model-versions/get", config, params={"name": model, "version": new}
    )
    if target is None:
        raise ActionFailed(f"{model} has no version {new} to roll back to")
    version = target.get("model_version") or {}
    status = version.get("status") or "unknown status"
    return ActionResult(
        True,
        f"MLflow: {model}@{alias} now → version {old}; approving points it at version "
        f"{new} ({status}, run {version.get('run_id') or 'none'}). Nothing changed yet.",
    )


def _rollback(params: Mapping[str, Any], config: ActionConfig, http: httpx.Client) -> ActionResult:
    model, alias = str(params["model"]), str(params["alias"])
    old, new = str(params["from_version"]), str(params["to_version"])
    current = _alias_version(http, config, model, alias)
    if current not in (old, new):
        raise ActionFailed(
            f"{model}@{alias} points at version {current} now, neither {old} (proposed from) nor "
            f"{new}: someone changed it since; not moving it"
        )
    _mlflow_call(
        http,
        "POST",
        f"{_mlflow(config)}/registered-models/alias",
        config,
        json={"name": model, "alias": alias, "version": new},
    )
    after = _alias_version(http, config, model, alias)
    if after != new:
        raise ActionFailed(f"MLflow accepted the move but {model}@{alias} reads version {after}, not {new}")
    return ActionResult(
        True, f"{model}@{alias}: version {current} → {new}; checked: MLflow now answers version {after}"
    )


# -- retraining webhook ------------------------------------------------------------------------


def _retrain_body(proposal: Proposal, approved_by: str | None) -> dict[str, Any]:
    params = dict(proposal.rule.get("params") or {})
    return {
        "source": "augur",
        "action": "retrain",
        "proposal_id": proposal.id,
        "incident_id": proposal.incident_id,
        "model": params.get("model"),
        "component": params.get("component"),
        "fault_type": params.get("fault_type"),
        "reason": proposal.rationale,
        "evidence_ids": proposal.evidence_ids,
        "approved_by": approved_by,
    }


def _preview_retrain(params: Mapping[str, Any], config: ActionConfig) -> ActionResult:
    if not config.retrain_url:
        raise ActionFailed("AUGUR_RETRAIN_WEBHOOK_URL is not set: no retraining pipeline to trigger")
    what = params.get("model") or params.get("component")
    return ActionResult(
        True,
        f"approving POSTs the incident and model ({what}) as JSON to {config.retrain_url}; "
        "a 2xx answer counts as triggered (a webhook has no dry run: nothing is sent now)",
    )


def _retrain(
    proposal: Proposal, config: ActionConfig, http: httpx.Client, approved_by: str | None
) -> ActionResult:
    if not config.retrain_url:
        raise ActionFailed("AUGUR_RETRAIN_WEBHOOK_URL is not set: no retraining pipeline to trigger")
    headers = {"Idempotency-Key": proposal.id}
    if config.retrain_token:
        headers["Authorization"] = f"Bearer {config.retrain_token}"
    try:
        response = http.post(
            config.retrain_url,
            json=_retrain_body(proposal, approved_by),
            headers=headers,
            timeout=config.timeout_s,
        )
    except httpx.HTTPError as exc:
        raise ActionFailed(f"cannot reach the retraining webhook ({type(exc).__name__}: {exc})") from None
    if not 200 <= response.status_code < 300:
        raise ActionFailed(
            f"the retraining webhook answered HTTP {response.status_code}: {response.text[:300]}"
        )
    return ActionResult(
        True,
        f"retraining triggered: {config.retrain_url} answered HTTP {response.status_code} "
        f"{' '.join(response.text.split())[:200]}".rstrip(),
    )


# -- Kubernetes --------------------------------------------------------------------------------


def _apps(config: ActionConfig) -> Any:
    """The official client's AppsV1Api against ``kubernetes_url`` (bearer token, CA file)."""
    if not config.kubernetes_url:
        raise ActionFailed("AUGUR_KUBERNETES_URL is not set: scaling needs the Kubernetes API server")
    from kubernetes import client as k8s

    conf = k8s.Configuration()
    conf.host = config.kubernetes_url.rstrip("/")
    if config.kubernetes_token:
        conf.api_key = {"authorization": config.kubernetes_token}
        conf.api_key_prefix = {"authorization": "Bearer"}
    if config.kubernetes_ca_file:
        conf.ssl_ca_cert = config.kubernetes_ca_file
    conf.retries = 1
    return k8s.AppsV1Api(k8s.ApiClient(conf))


def _k8s(call: Any, what: str, *args: Any, **kwargs: Any) -> Any:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return call(*args, **kwargs)
    except ApiException as exc:
        reason = exc.reason
        with contextlib.suppress(ValueError, AttributeError):
            reason = json.loads(exc.body or "{}").get("message") or reason
        raise ActionFailed(f"the Kubernetes API refused {what}: HTTP {exc.status} {reason}") from None
    except HTTPError as exc:
        raise ActionFailed(
            f"cannot reach the Kubernetes API for {what} ({type(exc).__name__}: {exc})"
        ) from None


def _scale_target(params: Mapping[str, Any], config: ActionConfig) -> tuple[str, str]:
    return str(params.get("namespace") or config.kubernetes_namespace), str(params["deployment"])


def _preview_scale(params: Mapping[str, Any], config: ActionConfig) -> ActionResult:
    apps = _apps(config)
    namespace, name = _scale_target(params, config)
    timeout = config.timeout_s
    scale = _k8s(
        apps.read_namespaced_deployment_scale,
        f"reading {namespace}/{name}'s scale",
        name,
        namespace,
        _request_timeout=timeout,
    )
    current = int(scale.spec.replicas or 0)
    wanted = min(max(current * int(params.get("factor", 2)), current + 1), config.max_replicas)
    if wanted <= current:
        raise ActionFailed(
            f"deployment {namespace}/{name} already runs {current} replicas (the limit is "
            f"{config.max_replicas})"
        )
    dry = _k8s(
        apps.patch_namespaced_deployment_scale,
        f"a dry run of scaling {namespace}/{name}",
        name,
        namespace,
        {"spec": {"replicas": wanted}},
        _content_type=MERGE_PATCH,
        dry_run="All",
        _request_timeout=timeout,
    )
    return ActionResult(
        True,
        f"Kubernetes dry run (dryRun=All) accepted: deployment {namespace}/{name} {current} → "
        f"{int(dry.spec.replicas)} replicas. Nothing changed yet.",
        {**params, "namespace": namespace, "from_replicas": current, "replicas": wanted},
    )


def _scale(params: Mapping[str, Any], config: ActionConfig) -> ActionResult:
    apps = _apps(config)
    namespace, name = _scale_target(params, config)
    wanted = int(params["replicas"])
    timeout = config.timeout_s
    _k8s(
        apps.patch_namespaced_deployment_scale,
        f"scaling {namespace}/{name}",
        name,
        namespace,
        {"spec": {"replicas": wanted}},
        _content_type=MERGE_PATCH,
        _request_timeout=timeout,
    )
    after = _k8s(
        apps.read_namespaced_deployment_scale,
        f"reading {namespace}/{name}'s scale back",
        name,
        namespace,
        _request_timeout=timeout,
    )
    if int(after.spec.replicas or 0) != wanted:
        raise ActionFailed(
            f"Kubernetes accepted the patch but {namespace}/{name} reads "
            f"{after.spec.replicas} replicas, not {wanted}"
        )
    ready = getattr(after.status, "replicas", None)
    return ActionResult(
        True,
        f"deployment {namespace}/{name} scaled to {wanted} replicas; checked: spec.replicas "
        f"{after.spec.replicas}, status.replicas {ready} (pods may still be starting)",
    )


# -- entry points ------------------------------------------------------------------------------


def preview(
    kind: str, params: Mapping[str, Any], config: ActionConfig, http: httpx.Client | None = None
) -> ActionResult:
    """The dry run of an action: what approving it would do, checked against the live system
    without changing it. ``ok=False`` with the reason when it cannot be done."""
    action = ProposalKind(kind)
    own = http is None
    client = http or httpx.Client()
    try:
        if action is ProposalKind.ROLLBACK_MODEL:
            return _preview_rollback(params, config, client)
        if action is ProposalKind.RETRAIN:
            return _preview_retrain(params, config)
        if action is ProposalKind.SCALE:
            return _preview_scale(params, config)
        raise ActionFailed(f"{kind} is not an action")
    except ActionFailed as exc:
        return ActionResult(False, str(exc), params)
    finally:
        if own:
            client.close()


def execute(
    proposal: Proposal, config: ActionConfig, http: httpx.Client | None = None, approved_by: str | None = None
) -> ActionResult:
    """Do the approved action and check it took effect; ``ok=False`` with why when it did not."""
    params = dict(proposal.rule.get("params") or {})
    own = http is None
    client = http or httpx.Client()
    try:
        if proposal.kind is ProposalKind.ROLLBACK_MODEL:
            return _rollback(params, config, client)
        if proposal.kind is ProposalKind.RETRAIN:
            return _retrain(proposal, config, client, approved_by)
        if proposal.kind is ProposalKind.SCALE:
            return _scale(params, config)
        raise ActionFailed(f"proposal {proposal.id} is a {proposal.kind.value} rule, not an action")
    except ActionFailed as exc:
        return ActionResult(False, str(exc))
    finally:
        if own:
            client.close()


def execute_approved(
    repo: ProposalRepository, proposal_id: str, config: ActionConfig, http: httpx.Client | None = None
) -> tuple[ReviewOutcome, ActionResult]:
    """Execute an approved action and record ``applied`` (with what was checked) or ``failed``.

    Call it only from the approval that moved the proposal to ``approved`` (``changed=True``):
    that is what makes the execution happen once.
    """
    proposal = repo.get(proposal_id)
    if proposal is None:
        raise NotFound(f"no proposal {proposal_id!r}")
    approver = next(
        (e.actor for e in reversed(repo.events(proposal_id)) if e.to_state.value == "approved"), None
    )
    result = execute(proposal, config, http, approved_by=approver)
    if result.ok:
        return mark_applied(repo, proposal_id, result.detail), result
    return mark_failed(repo, proposal_id, result.detail), result
