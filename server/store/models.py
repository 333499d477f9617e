"""The store's tables as SQLAlchemy 2 ORM classes (the schema itself is made by Alembic migrations).

Every timestamp is a timezone-aware UTC :class:`datetime` in Python (:class:`UTCDateTime`), stored
as ``timestamptz`` on PostgreSQL and as a naive UTC string on SQLite, so that ordering and
comparisons in SQL behave the same on both.

Tables:

- :class:`AlertEpisode` — one alert from ``startsAt`` to its resolution, keyed by
  ``(fingerprint, starts_at)``; redelivered notifications update it, never duplicate it.
- :class:`Incident` and :class:`IncidentEvent` — alert episodes grouped into an incident and
  its timeline.
- :class:`Job` — the work queue (investigations and anything else a worker runs).
- :class:`Report` — investigation outputs (JSON and Markdown).
- :class:`Proposal` and :class:`ProposalEvent` — alert-rule proposals and their review history.
- :class:`SlackThread` and :class:`SlackEvent` — where an incident is discussed in Slack, and the
  Slack event ids already handled (Slack retries deliveries).
- :class:`VerdictRow` — a person's verdict on an incident's root cause; every change is a new row
  (the audit), the latest one counts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AlertEpisode",
    "Base",
    "Incident",
    "IncidentEvent",
    "Job",
    "Proposal",
    "ProposalEvent",
    "Report",
    "SlackEvent",
    "SlackThread",
    "UTCDateTime",
    "VerdictRow",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always aware UTC in Python; naive UTC text on SQLite, timestamptz elsewhere."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of augur's tables."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Incident(Base):
    """Alert episodes that belong together; ``status`` is ``open`` or ``resolved``."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_status_group_key", "status", "group_key"),
        Index("ix_incidents_status_component", "status", "component"),
        Index("ix_incidents_opened_at", "opened_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    group_key: Mapped[str] = mapped_column(Text)
    component: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str | None] = mapped_column(String(32))
    opened_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class AlertEpisode(Base):
    """One firing of one alert: ``(fingerprint, starts_at)`` is its identity."""

    __tablename__ = "alert_episodes"
    __table_args__ = (
        UniqueConstraint("fingerprint", "starts_at", name="uq_alert_episodes_fingerprint_starts_at"),
        Index("ix_alert_episodes_incident_id", "incident_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    labels: Mapped[dict[str, Any]]
    annotations: Mapped[dict[str, Any]]
    generator_url: Mapped[str] = mapped_column(Text, default="")
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


class IncidentEvent(Base):
    """One line of an incident's timeline (``opened``, ``alerts_added``, ``resolved``, ...)."""

    __tablename__ = "incident_events"
    __table_args__ = (Index("ix_incident_events_incident_id_at", "incident_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]]


class Job(Base):
    """A unit of work for a worker.

    ``status`` is ``queued`` → ``running`` → ``done``; a failure goes back to ``queued`` with a
    later ``run_after`` until ``max_attempts``, then ``parked``. A ``running`` job whose
    ``lease_expires_at`` has passed may be claimed by another worker.
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_run_after", "status", "run_after"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    run_after: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Report(Base):
    """An investigation's report: the structured JSON and its Markdown rendering."""

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_incident_id", "incident_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    report: Mapped[dict[str, Any]]
    markdown: Mapped[str] = mapped_column(Text, default="")


class Proposal(Base):
    """A proposed alert rule under review.

    ``status``: ``pending`` → ``approved`` / ``rejected``; ``approved`` → ``applied`` / ``failed``.
    """

    __tablename__ = "proposals"
    __table_args__ = (
        Index("ix_proposals_status", "status"),
        Index("ix_proposals_incident_id", "incident_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    group_name: Mapped[str] = mapped_column(String(255), default="")
    rule: Mapped[dict[str, Any]]
    rule_yaml: Mapped[str] = mapped_column(Text, default="")
    rationale: Mapped[str] = mapped_column(Text, default="")
    evidence_ids: Mapped[list[Any]]
    check_output: Mapped[str | None] = mapped_column(Text)
    backtest: Mapped[dict[str, Any] | None]
    fingerprint: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ProposalEvent(Base):
    """One review step of a proposal: who moved it from which status to which, when, and why."""

    __tablename__ = "proposal_events"
    __table_args__ = (Index("ix_proposal_events_proposal_id", "proposal_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(255))
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]


class SlackThread(Base):
    """The Slack message thread where an incident is discussed."""

    __tablename__ = "slack_threads"
    __table_args__ = (UniqueConstraint("channel", "ts", name="uq_slack_threads_channel_ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True,
                                             unique=True)
    channel: Mapped[str] = mapped_column(String(64))
    #: The first message's ts; ``pending-<incident id>`` while a notifier is posting it.
    ts: Mapped[str] = mapped_column(String(32))
    #: When the pending claim was taken (a claim older than a minute is a crashed poster's: retaken).
    claimed_at: Mapped[datetime | None]


class SlackEvent(Base):
    """A Slack event id already handled, so a retried delivery is ignored."""

    __tablename__ = "slack_events"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    received_at: Mapped[datetime]


class VerdictRow(Base):
    """One verdict on an incident's root cause, by whom, when, through what; the latest one counts.

    ``verdict`` is ``confirmed`` (augur named the right cause), ``wrong`` (``real_cause`` names the
    right one, ``real_fault_type`` optionally its fault type) or ``not_actionable`` (the alert should
    not have paged). ``report_id`` is the report that was judged (the incident's latest at the time).
    """

    __tablename__ = "verdicts"
    __table_args__ = (Index("ix_verdicts_incident_id_id", "incident_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id", ondelete="SET NULL"))
    verdict: Mapped[str] = mapped_column(String(16))
    named_cause: Mapped[str | None] = mapped_column(String(255))
    real_cause: Mapped[str | None] = mapped_column(String(255))
    real_fault_type: Mapped[str | None] = mapped_column(String(64))
    fix: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(255))
    via: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
