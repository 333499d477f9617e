"""Reviewing proposals: who may decide, and approving (which applies the rule, or executes the
action) or rejecting.

Actions (:mod:`augur.rules.actions`: model rollback, retrain, scale) are proposals of their own
kinds in the same table, so one review path serves both: the same reviewers and allowlist, the
same compare-and-set state machine, the same audit events. Only the approval whose
compare-and-set moved the action to ``approved`` executes it, so a double click or two reviewers
at once execute it once. That approval queued the execution as a job in its own transaction
(:mod:`augur.server.store.proposals`); the approving process claims the job at once and runs it
(:meth:`ProposalService.run_execution`), and if it dies before or while running it, a worker runs
it (:func:`execute_action_handler`) after the job's grace or lease: an approved action always
runs. The outcome (what was checked, or why it failed) goes on the incident's
timeline as ``action_executed`` / ``action_failed`` with who approved it and when. An action that
ran also queues its follow-up (:mod:`augur.server.jobs.action_check`): ``followup_s`` later, the
timeline says whether the incident's alerts stopped firing, or that they did not.

An approved *rule* is applied the same way (:mod:`augur.rules.apply`: promtool, the rule file,
the reload): its approval queued an ``apply_rule`` job in its transaction, the approving process
claims and runs it (:meth:`ProposalService.run_apply`), and a worker runs it
(:func:`apply_rule_handler`) if that process died first. It applies only a proposal still
``approved``, and applying the same rule again leaves it once in its file (the merge adds it only
if absent), so a rerun after a crash writes one rule and records one ``applied`` transition.

:class:`ProposalService` is what the HTTP API (:mod:`augur.server.web.proposals`), the review page
(:mod:`augur.server.web.review_page`), Slack's buttons (:mod:`augur.server.slack.approvals`) and
``augur rules`` share; :func:`service_from_settings` builds it from the settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from augur.rules.actions import ActionConfig, execute_approved
from augur.rules.apply import ApplyConfig, apply_approved
from augur.rules.proposal import Proposal, ProposalEvent, ProposalState
from augur.rules.review import NotFound, ProposalRepository, Reviewers, ReviewOutcome, approve, reject
from augur.server.scopes import Scope
from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.models import IncidentEvent, Job, utcnow
from augur.server.store.proposals import APPLY_RULE, EXECUTE_ACTION, SqlProposalStore, execution_key
from augur.server.store.queue import ACTION_CHECK, ClaimedJob, JobQueue, enqueue, hold_lease, worker_identity

__all__ = ["ProposalService", "apply_rule_handler", "execute_action_handler", "proposal_json",
           "service_from_settings"]

#: The timeline events of an executed action.
EXECUTED, EXECUTION_FAILED = "action_executed", "action_failed"


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
    #: The lease the approving process holds on the execution job while it runs it.
    lease_s: float = 60.0

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
            return self._execute(outcome) if outcome.changed else outcome
        if outcome.proposal.state is ProposalState.APPROVED and (outcome.changed or self.apply_config):
            return self._apply(outcome)  # a new approval's job always runs: without a rules dir, to no effect
        return outcome

    def _execute(self, approved: ReviewOutcome) -> ReviewOutcome:
        """Run the execution job this approval queued, now, in this process.

        Without a store (no queue, no timeline) the action is executed directly. When a worker
        already holds the job (the grace passed), it runs it and the answer is ``approved``.
        """
        proposal = approved.proposal
        if self.store is None:
            config = self.action_config or ActionConfig()
            done, _ = execute_approved(self.repo, proposal.id, config, self.http)
            return ReviewOutcome(done.proposal, changed=True)
        job_id, _ = self._approval_job(proposal.id, EXECUTE_ACTION)
        return self._run_now(job_id, self.run_execution) or approved

    def _apply(self, approved: ReviewOutcome) -> ReviewOutcome:
        """Run the apply job of the proposal's approval, now, in this process, if it is queued.

        An approval that changed nothing (a replay, the other of two reviewers at once) claims the
        job too if it is still queued: its approver died before claiming it. When another process
        holds it, that one applies, and the answer is ``approved``. Without a store, or when the
        approval has no job left to run (approved before applies were jobs, or its job ended and
        the rule is still approved), the rule is applied here as before: approving again retries.
        """
        job_id, status = None, None
        if self.store is not None:
            job_id, status = self._approval_job(approved.proposal.id, APPLY_RULE)
        if job_id is not None and status in ("queued", "running"):
            applied = self._run_now(job_id, self.run_apply)
        elif self.apply_config is not None:
            with httpx.Client() as client:
                applied = apply_approved(self.repo, approved.proposal.id, self.apply_config, client)
        else:
            applied = None
        if applied is None:
            return approved
        return ReviewOutcome(applied.proposal, changed=approved.changed or applied.changed)

    def _approval_job(self, proposal_id: str, kind: str) -> tuple[int | None, str | None]:
        """The id and status of the ``kind`` job the proposal's latest approval queued."""
        assert self.store is not None
        approval = len(self._approvals(proposal_id))
        with self.store.read_session() as session:
            row = session.execute(select(Job.id, Job.status).where(
                Job.dedupe_key == execution_key(proposal_id, approval, kind))).first()
        return (None, None) if row is None else (int(row[0]), str(row[1]))

    def _run_now(self, job_id: int | None,
                 run: Callable[[ClaimedJob], ReviewOutcome]) -> ReviewOutcome | None:
        """Claim the queued job and ``run`` it under its lease, here; None if it is not queued
        (another process holds it, or it is done)."""
        assert self.store is not None
        queue = JobQueue(self.store, lease_seconds=self.lease_s)
        job = queue.claim_job(job_id, worker_identity()) if job_id is not None else None
        if job is None:
            return None
        try:
            outcome = run(job)
        except Exception as exc:
            queue.fail(job, f"{type(exc).__name__}: {exc}")
            raise
        queue.complete(job.id, job.lease_owner, job.attempts)
        return outcome

    def run_execution(self, job: ClaimedJob) -> ReviewOutcome:
        """Run an ``execute_action`` job under its lease: execute the action if its approval is
        still waiting for it, then record the outcome on the incident's timeline, once.

        A rerun after a crash executes only what had not run (the proposal is still ``approved``)
        and records only what had not been recorded (no timeline event of this job yet).
        """
        proposal, approvals = self._approval_of(job, "execute")
        proposal_id = proposal.id
        if proposal.state is ProposalState.APPROVED:
            self._hold(job)  # still this claim's, just before acting
            proposal = execute_approved(self.repo, proposal_id, self.action_config or ActionConfig(),
                                        self.http)[0].proposal
        if proposal.state in (ProposalState.APPLIED, ProposalState.FAILED):
            self._record(job, proposal, approvals[-1])
        return ReviewOutcome(proposal, changed=True)

    def run_apply(self, job: ClaimedJob) -> ReviewOutcome:
        """Run an ``apply_rule`` job under its lease: apply the rule if its approval is still
        waiting for it (the proposal is ``approved``), and record ``applied`` or ``failed``.

        A rerun after a crash applies only a rule not yet recorded as applied; a file the dead
        process had already written still holds the rule once (the merge adds only what is
        missing), and the compare-and-set records one ``applied``. Without apply settings (no
        rules directory) there is nothing to apply: the rule stays approved, as before.
        """
        proposal, _ = self._approval_of(job, "apply")
        if proposal.state is not ProposalState.APPROVED or self.apply_config is None:
            return ReviewOutcome(proposal, changed=False)
        self._hold(job)
        with httpx.Client() as client:
            return apply_approved(self.repo, proposal.id, self.apply_config, client)

    def _approvals(self, proposal_id: str) -> list[ProposalEvent]:
        """The proposal's approvals, oldest first: the n-th one's job has the key of approval n."""
        return [e for e in self.repo.events(proposal_id) if e.to_state is ProposalState.APPROVED]

    def _approval_of(self, job: ClaimedJob, verb: str) -> tuple[Proposal, list[ProposalEvent]]:
        """The proposal of a job and its approvals; :class:`NotFound` unless the job's approval
        is the latest (a later approval has a job of its own)."""
        proposal_id, approval = str(job.payload["proposal_id"]), int(job.payload["approval"])
        approvals = self._approvals(proposal_id)
        proposal = self.repo.get(proposal_id)
        if proposal is None or len(approvals) != approval:
            raise NotFound(f"job {job.id}: proposal {proposal_id} has no approval #{approval} to {verb} "
                           f"(it has {len(approvals)})")
        return proposal, approvals

    def _hold(self, job: ClaimedJob) -> None:
        if self.store is not None:
            with self.store.transaction() as session:
                hold_lease(session, job)

    def _record(self, job: ClaimedJob, proposal: Proposal, approval: ProposalEvent) -> None:
        """The executed action on the incident's timeline (and its follow-up check), under the lease."""
        if self.store is None or proposal.incident_id is None:
            return
        ok = proposal.state is ProposalState.APPLIED
        result = self.repo.events(proposal.id)[-1].comment
        now = utcnow()
        with self.store.transaction() as session:
            hold_lease(session, job)
            recorded = session.scalars(select(IncidentEvent.detail).where(
                IncidentEvent.incident_id == proposal.incident_id,
                IncidentEvent.kind.in_((EXECUTED, EXECUTION_FAILED))))
            if any(d.get("job_id") == job.id for d in recorded):
                return  # a rerun of a job whose process died after recording it
            session.add(IncidentEvent(
                incident_id=proposal.incident_id, at=now, kind=EXECUTED if ok else EXECUTION_FAILED,
                detail={"proposal_id": proposal.id, "action": proposal.kind.value,
                        "summary": proposal.rule.get("summary"), "approved_by": approval.actor,
                        "approved_at": approval.at.isoformat(), "result": result, "job_id": job.id},
            ))
            if ok:
                enqueue(session, ACTION_CHECK,
                        {"incident_id": proposal.incident_id, "proposal_id": proposal.id,
                         "action": proposal.kind.value, "executed_at": now.isoformat()},
                        dedupe_key=f"{ACTION_CHECK}:{proposal.id}",
                        run_after=now + timedelta(seconds=self.followup_s), now=now)


def execute_action_handler(settings: Settings) -> Callable[[ClaimedJob, Store], None]:
    """The ``execute_action`` job handler: what a worker runs when the approving process did not."""

    def handle(job: ClaimedJob, store: Store) -> None:
        service_from_settings(settings, SqlProposalStore(store), store).run_execution(job)

    return handle


def apply_rule_handler(settings: Settings) -> Callable[[ClaimedJob, Store], None]:
    """The ``apply_rule`` job handler: what a worker runs when the approving process did not."""

    def handle(job: ClaimedJob, store: Store) -> None:
        service_from_settings(settings, SqlProposalStore(store), store).run_apply(job)

    return handle


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
                           followup_s=settings.action_followup_seconds, lease_s=settings.worker_lease_seconds)
