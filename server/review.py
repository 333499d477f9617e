"""Reviewing proposals: who may decide, and approving (which applies the rule, or executes the
action) or rejecting.

Actions (:mod:`augur.rules.actions`: model rollback, retrain, scale) are proposals of their own
kinds in the same table, so one review path serves both: the same reviewers and allowlist, the
same compare-and-set state machine, the same audit events. Only the approval whose
compare-and-set moved the action to ``approved`` executes it, so a double click or two reviewers
at once execute it once; the outcome (what was checked, or why it failed) goes on the incident's
timeline as ``action_executed`` / ``action_failed`` with who approved it and when. An action that
ran also queues its follow-up (:mod:`augur.server.jobs.action_check`): ``followup_s`` later, the
timeline says whether the incident's alerts stopped firing, or that they did not.

:class:`ProposalService` is what the HTTP API (:mod:`augur.server.web.proposals`), the review page
(:mod:`augur.server.web.review_page`), Slack's buttons (:mod:`augur.server.slack.approvals`) and
``augur rules`` share; :func:`service_from_settings` builds it from the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from augur.rules.actions import ActionConfig, execute_approved
from augur.rules.apply import ApplyConfig, apply_approved
from augur.rules.proposal import Proposal, ProposalEvent, ProposalState
from augur.rules.review import ProposalRepository, Reviewers, ReviewOutcome, approve, reject
from augur.server.scopes import Scope
from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.models import IncidentEvent, utcnow
from augur.server.store.queue import ACTION_CHECK, enqueue

__all__ = ["ProposalService", "proposal_json", "service_from_settings"]


@dataclass
class ProposalService:
    """What the API and the review page share: the repository, the reviewers, how to apply."""

    repo: ProposalRepository
    reviewers: Reviewers
    apply_config: ApplyConfig | None = None
    action_config: ActionConfig | None = None
    #: Where the incident timeline lives (action outcomes are recorded there); None: not recorded.
    store: Store | None = None
    #: The HTTP client actions use (MLflow, the webhook); None: a fresh one per execution.
    http: httpx.Client | None = None
    #: Seconds after an action ran that its effect on the incident's alerts is checked.
    followup_s: float = 900.0

    def decide(self, proposal_id: str, action: str, token: str | None, comment: str) -> ReviewOutcome:
        """Authenticate the reviewer, approve or reject, and apply an approved rule if configured."""
        return self.decide_as(proposal_id, action, self.reviewers.authenticate(token), comment)

    def decide_as(self, proposal_id: str, action: str, reviewer: str, comment: str) -> ReviewOutcome:
        """Approve or reject as ``reviewer``, already authenticated by the caller (a token, or a
        signed Slack request mapped to a reviewer on the allowlist), and apply an approved rule."""
        if action == "reject":
            return reject(self.repo, proposal_id, reviewer, comment)
        outcome = approve(self.repo, proposal_id, reviewer, comment)
        if outcome.proposal.is_action:
            return self._execute(outcome, reviewer) if outcome.changed else outcome
        if outcome.proposal.state is ProposalState.APPROVED and self.apply_config is not None:
            with httpx.Client() as client:
                applied = apply_approved(self.repo, proposal_id, self.apply_config, client)
            return ReviewOutcome(applied.proposal, changed=outcome.changed or applied.changed)
        return outcome

    def _execute(self, approved: ReviewOutcome, reviewer: str) -> ReviewOutcome:
        """Execute the action this approval moved to ``approved``, and record it on the timeline."""
        proposal = approved.proposal
        config = self.action_config or ActionConfig()
        done, result = execute_approved(self.repo, proposal.id, config, self.http)
        if self.store is not None and proposal.incident_id is not None:
            now = utcnow()
            with self.store.transaction() as session:
                session.add(IncidentEvent(
                    incident_id=proposal.incident_id, at=now,
                    kind="action_executed" if result.ok else "action_failed",
                    detail={"proposal_id": proposal.id, "action": proposal.kind.value,
                            "summary": proposal.rule.get("summary"), "approved_by": reviewer,
                            "approved_at": _approved_at(self.repo, proposal.id), "result": result.detail},
                ))
                if result.ok:
                    enqueue(session, ACTION_CHECK,
                            {"incident_id": proposal.incident_id, "proposal_id": proposal.id,
                             "action": proposal.kind.value, "executed_at": now.isoformat()},
                            dedupe_key=f"{ACTION_CHECK}:{proposal.id}",
                            run_after=now + timedelta(seconds=self.followup_s), now=now)
        return ReviewOutcome(done.proposal, changed=True)


def _approved_at(repo: ProposalRepository, proposal_id: str) -> str | None:
    approvals = [e for e in repo.events(proposal_id) if e.to_state is ProposalState.APPROVED]
    return approvals[-1].at.isoformat() if approvals else None


def proposal_json(proposal: Proposal, events: list[ProposalEvent] | None = None) -> dict[str, Any]:
    """A proposal as the API returns it."""
    data = proposal.model_dump(mode="json")
    data["title"] = proposal.title
    data["rule_yaml"] = proposal.rule_yaml
    if events is not None:
        data["events"] = [e.model_dump(mode="json") for e in events]
    return data


def service_from_settings(settings: Settings, repo: ProposalRepository,
                          store: Store | None = None) -> ProposalService:
    """The service as configured: reviewer tokens and allowlist, and apply settings if a rules dir is set."""
    # Every token with the review scope (AUGUR_REVIEWER_TOKENS and AUGUR_API_TOKENS) names a reviewer.
    reviewers = Reviewers.of({name: token for name, token, scopes in settings.token_grants()
                              if Scope.REVIEW in scopes}, settings.reviewers)
    apply_config = None
    if settings.rules_dir is not None:
        apply_config = ApplyConfig(
            rules_dir=settings.rules_dir, prometheus_url=settings.prometheus_url,
            mode=settings.rules_apply_mode, patch_dir=settings.rules_patch_dir,
            alertmanager_config=settings.alertmanager_config_file,
            alertmanager_url=settings.alertmanager_url, alertmanager_mode=settings.alertmanager_apply_mode,
        )
    return ProposalService(repo, reviewers, apply_config, settings.action_config(), store,
                           followup_s=settings.action_followup_seconds)
