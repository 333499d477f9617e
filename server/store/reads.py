"""Reads several rooms share: an incident's alert episodes and its timeline, in order."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from augur.server.store.models import AlertEpisode, IncidentEvent

__all__ = ["episodes_of", "timeline_of"]


def episodes_of(session: Session, incident_id: int) -> list[AlertEpisode]:
    """An incident's alert episodes, earliest first (ties in insertion order)."""
    return list(session.scalars(
        select(AlertEpisode)
        .where(AlertEpisode.incident_id == incident_id)
        .order_by(AlertEpisode.starts_at, AlertEpisode.id)
    ))


def timeline_of(session: Session, incident_id: int) -> list[IncidentEvent]:
    """An incident's timeline events, oldest first (ties in insertion order)."""
    return list(session.scalars(
        select(IncidentEvent)
        .where(IncidentEvent.incident_id == incident_id)
        .order_by(IncidentEvent.at, IncidentEvent.id)
    ))
