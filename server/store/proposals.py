"""Rule proposals in the SQL store: the :class:`~augur.rules.review.ProposalRepository` of the server.

A state change and its event are written in one transaction, and the change is a
compare-and-set (``UPDATE ... WHERE status = :expected``), so two reviewers clicking at once, or a
replayed request, make exactly one transition on SQLite and PostgreSQL alike.

Approving also queues what the approval calls for, in that same transaction: one job per
approval (key :func:`execution_key`), due :data:`EXECUTION_GRACE_S` later — an
:data:`EXECUTE_ACTION` for an *action*, an :data:`APPLY_RULE` for a *rule* (promtool, the rule
file, the reload). The approving process claims it at once and runs it
(:mod:`augur.server.review`); if that process dies first, or while running it, a worker runs it
once its lease (or the grace) has passed, so an approved action is never left unexecuted and an
approved rule never left unapplied.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from augur.rules.proposal import Backtest, Proposal, ProposalEvent, ProposalKind, ProposalState, Validation
from augur.rules.review import SYSTEM_ACTOR
from augur.server.store import models
from augur.server.store.database import Store
from augur.server.store.queue import enqueue

__all__ = ["APPLY_RULE", "EXECUTE_ACTION", "EXECUTION_GRACE_S", "SqlProposalStore", "approval_job",
           "execution_key"]

#: The job that executes an approved action (handled by :mod:`augur.server.review`).
EXECUTE_ACTION = "execute_action"
#: The job that applies an approved rule (handled by :mod:`augur.server.review`).
APPLY_RULE = "apply_rule"
#: How long a queued execution waits for the approving process before any worker may take it.
EXECUTION_GRACE_S = 30.0
_ACTION_KINDS = (ProposalKind.ROLLBACK_MODEL.value, ProposalKind.RETRAIN.value, ProposalKind.SCALE.value)


def approval_job(proposal_kind: str) -> str:
    """The job an approval of a proposal of this kind queues: execute an action, apply a rule."""
    return EXECUTE_ACTION if proposal_kind in _ACTION_KINDS else APPLY_RULE


def execution_key(proposal_id: str, approval: int, job: str = EXECUTE_ACTION) -> str:
    """The key of the ``job`` of a proposal's ``approval``-th approval (a failed action or rule
    may be approved again: each approval is executed, or applied, once)."""
    return f"{job}:{proposal_id}:{approval}"


def _to_row(proposal: Proposal) -> models.Proposal:
    now = models.utcnow()
    return models.Proposal(
        id=proposal.id, incident_id=proposal.incident_id, kind=proposal.kind.value,
        status=proposal.state.value, group_name=proposal.group, rule=proposal.rule,
        rule_yaml=proposal.rule_yaml, rationale=proposal.rationale,
        evidence_ids=list(proposal.evidence_ids),
        check_output=proposal.validation.model_dump_json(),
        backtest=proposal.backtest.model_dump(mode="json") if proposal.backtest else None,
        fingerprint=proposal.fingerprint, created_at=proposal.created_at, updated_at=now,
    )


def _validation(text: str | None) -> Validation:
    if text and text.startswith("{"):
        return Validation.model_validate_json(text)
    return Validation(ok=True, tool="promtool check rules", output=text or "")


def _from_row(row: models.Proposal) -> Proposal:
    backtest: dict[str, Any] | None = row.backtest
    return Proposal(
        id=row.id, kind=ProposalKind(row.kind), group=row.group_name, rule=row.rule,
        rationale=row.rationale, evidence_ids=[str(e) for e in row.evidence_ids],
        validation=_validation(row.check_output),
        backtest=Backtest.model_validate(backtest) if backtest else None,
        fingerprint=row.fingerprint, state=ProposalState(row.status), created_at=row.created_at,
        incident_id=row.incident_id,
    )


class SqlProposalStore:
    """Proposals and their review events in augur's store (any SQLAlchemy engine it supports)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, proposal_id: str) -> Proposal | None:
        """The proposal, or None."""
        with self._store.read_session() as session:
            row = session.get(models.Proposal, proposal_id)
            return _from_row(row) if row else None

    def find(self, state: ProposalState | None = None, *, incident_id: int | None = None) -> list[Proposal]:
        """Proposals, newest first, optionally only those in ``state`` or from one incident."""
        query = select(models.Proposal).order_by(models.Proposal.created_at.desc(), models.Proposal.id)
        if state is not None:
            query = query.where(models.Proposal.status == state.value)
        if incident_id is not None:
            query = query.where(models.Proposal.incident_id == incident_id)
        with self._store.read_session() as session:
            return [_from_row(row) for row in session.scalars(query)]

    def add(self, proposal: Proposal) -> tuple[Proposal, bool]:
        """Store a new pending proposal with its creation event; a known fingerprint returns the
        stored proposal unchanged and ``False``."""
        existing = self._by_fingerprint(proposal.fingerprint)
        if existing is not None:
            return existing, False
        try:
            with self._store.transaction() as session:
                row = _to_row(proposal)
                session.add(row)
                session.flush()
                session.add(models.ProposalEvent(
                    proposal_id=proposal.id, from_status=None, to_status=proposal.state.value,
                    actor=SYSTEM_ACTOR, comment="proposed", at=models.utcnow(),
                ))
        except IntegrityError:  # the same rule proposed concurrently
            stored = self._by_fingerprint(proposal.fingerprint) or self.get(proposal.id)
            if stored is None:
                raise
            return stored, False
        return proposal, True

    def _by_fingerprint(self, fingerprint: str) -> Proposal | None:
        with self._store.read_session() as session:
            row = session.scalars(
                select(models.Proposal).where(models.Proposal.fingerprint == fingerprint)
            ).first()
            return _from_row(row) if row else None

    def fingerprints(self) -> set[str]:
        """Fingerprints of every stored proposal."""
        with self._store.read_session() as session:
            return set(session.scalars(select(models.Proposal.fingerprint)))

    def move(
        self, proposal_id: str, expected: ProposalState, new: ProposalState, actor: str, comment: str
    ) -> bool:
        """Compare-and-set the status and append the event, in one transaction."""
        now = models.utcnow()
        with self._store.transaction() as session:
            result = session.execute(
                update(models.Proposal)
                .where(models.Proposal.id == proposal_id, models.Proposal.status == expected.value)
                .values(status=new.value, updated_at=now)
            )
            if getattr(result, "rowcount", 0) != 1:
                return False
            session.add(models.ProposalEvent(
                proposal_id=proposal_id, from_status=expected.value, to_status=new.value,
                actor=actor, comment=comment, at=now,
            ))
            if new is ProposalState.APPROVED:
                self._queue_execution(session, proposal_id, now)
        return True

    @staticmethod
    def _queue_execution(session: Any, proposal_id: str, now: Any) -> None:
        """In the approval's transaction: queue its job (execute the action, or apply the rule)."""
        kind = session.scalar(select(models.Proposal.kind).where(models.Proposal.id == proposal_id))
        job = approval_job(kind)
        session.flush()
        approval = int(session.scalar(select(func.count()).select_from(models.ProposalEvent).where(
            models.ProposalEvent.proposal_id == proposal_id,
            models.ProposalEvent.to_status == ProposalState.APPROVED.value)) or 0)
        enqueue(session, job, {"proposal_id": proposal_id, "approval": approval},
                dedupe_key=execution_key(proposal_id, approval, job), max_attempts=3,
                run_after=now + timedelta(seconds=EXECUTION_GRACE_S), now=now)

    def events(self, proposal_id: str) -> list[ProposalEvent]:
        """The proposal's transitions, oldest first."""
        query = (select(models.ProposalEvent).where(models.ProposalEvent.proposal_id == proposal_id)
                 .order_by(models.ProposalEvent.at, models.ProposalEvent.id))
        with self._store.read_session() as session:
            return [
                ProposalEvent(
                    proposal_id=row.proposal_id,
                    from_state=ProposalState(row.from_status) if row.from_status else None,
                    to_state=ProposalState(row.to_status), actor=row.actor, comment=row.comment, at=row.at,
                )
                for row in session.scalars(query)
            ]
