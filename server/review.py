"""Reviewing rule proposals: who may decide, and approving (which applies the rule) or rejecting.

:class:`ProposalService` is what the HTTP API (:mod:`augur.server.web.proposals`), the review page
(:mod:`augur.server.web.review_page`), Slack's buttons (:mod:`augur.server.slack.approvals`) and
``augur rules`` share; :func:`service_from_settings` builds it from the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from augur.rules.apply import ApplyConfig, apply_approved
from augur.rules.proposal import Proposal, ProposalEvent, ProposalState
from augur.rules.review import ProposalRepository, Reviewers, ReviewOutcome, approve, reject
from augur.server.scopes import Scope
from augur.server.settings import Settings

__all__ = ["ProposalService", "proposal_json", "service_from_settings"]


@dataclass
class ProposalService:
    """What the API and the review page share: the repository, the reviewers, how to apply."""

    repo: ProposalRepository
    reviewers: Reviewers
    apply_config: ApplyConfig | None = None

    def decide(self, proposal_id: str, action: str, token: str | None, comment: str) -> ReviewOutcome:
        """Authenticate the reviewer, approve or reject, and apply an approved rule if configured."""
        return self.decide_as(proposal_id, action, self.reviewers.authenticate(token), comment)

    def decide_as(self, proposal_id: str, action: str, reviewer: str, comment: str) -> ReviewOutcome:
        """Approve or reject as ``reviewer``, already authenticated by the caller (a token, or a
        signed Slack request mapped to a reviewer on the allowlist), and apply an approved rule."""
        if action == "reject":
            return reject(self.repo, proposal_id, reviewer, comment)
        outcome = approve(self.repo, proposal_id, reviewer, comment)
        if outcome.proposal.state is ProposalState.APPROVED and self.apply_config is not None:
            with httpx.Client() as client:
                applied = apply_approved(self.repo, proposal_id, self.apply_config, client)
            return ReviewOutcome(applied.proposal, changed=outcome.changed or applied.changed)
        return outcome


def proposal_json(proposal: Proposal, events: list[ProposalEvent] | None = None) -> dict[str, Any]:
    """A proposal as the API returns it."""
    data = proposal.model_dump(mode="json")
    data["title"] = proposal.title
    data["rule_yaml"] = proposal.rule_yaml
    if events is not None:
        data["events"] = [e.model_dump(mode="json") for e in events]
    return data


def service_from_settings(settings: Settings, repo: ProposalRepository) -> ProposalService:
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
    return ProposalService(repo, reviewers, apply_config)
