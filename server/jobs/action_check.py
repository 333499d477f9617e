"""After an approved action ran: did the incident recover? The ``action_check`` job says so.

:mod:`augur.server.review` queues it when an action executes, to run ``action_followup_seconds``
(default 15 min) later. It reads the incident's alert episodes: when none still fires, the SLI
the alerts watch has recovered; otherwise it names the alerts still firing. Either way one
``action_outcome`` event goes on the incident's timeline, under the job's lease, so a rerun or a
second worker never records it twice. The check does not judge *why* the alerts stopped (the
action, or something else); it says what a person would look at next.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from augur.server.store.database import Store
from augur.server.store.models import AlertEpisode, Incident, IncidentEvent, utcnow
from augur.server.store.queue import ClaimedJob, hold_lease

__all__ = ["OUTCOME", "action_check_handler"]

#: The timeline event this job writes.
OUTCOME = "action_outcome"


def action_check_handler() -> Callable[[ClaimedJob, Store], None]:
    """The ``action_check`` job handler."""

    def handle(job: ClaimedJob, store: Store) -> None:
        incident_id = int(job.payload["incident_id"])
        proposal_id = str(job.payload["proposal_id"])
        with store.transaction() as session:
            hold_lease(session, job)
            incident = session.get(Incident, incident_id)
            if incident is None:
                return  # deleted since: nothing to say it on
            recorded = session.scalars(select(IncidentEvent.detail).where(
                IncidentEvent.incident_id == incident_id, IncidentEvent.kind == OUTCOME))
            if any(d.get("proposal_id") == proposal_id for d in recorded):
                return  # a rerun of a job whose worker died after recording it
            firing = sorted({str(e.labels.get("alertname", e.fingerprint)) for e in session.scalars(
                select(AlertEpisode).where(AlertEpisode.incident_id == incident_id,
                                           AlertEpisode.status == "firing"))})
            executed = datetime.fromisoformat(str(job.payload["executed_at"]))
            now = utcnow()
            minutes = max(0.0, (now - executed).total_seconds() / 60)
            if firing:
                summary = (f"{len(firing)} alert(s) still firing {minutes:.0f} min after the "
                           f"{job.payload.get('action')} action ran: {', '.join(firing)}; it did not "
                           "(yet) bring the incident back — look at the report's other candidates")
            else:
                summary = (f"no alert of the incident fires {minutes:.0f} min after the "
                           f"{job.payload.get('action')} action ran: the SLI recovered")
            session.add(IncidentEvent(incident_id=incident_id, at=now, kind=OUTCOME, detail={
                "proposal_id": proposal_id, "action": job.payload.get("action"),
                "executed_at": executed.isoformat(), "recovered": not firing, "still_firing": firing,
                "incident_status": incident.status, "summary": summary,
            }))

    return handle
