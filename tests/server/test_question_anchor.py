"""POST /v1/investigations with a question: anchored at a time the request gives, never at now.

On both stores. A question with no ``end``, no time in its text and no matching incident is a
422 that asks for ``end``; one that matches a stored incident is anchored at that incident's
alert time, the same however often (and whenever) it is asked.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from augur.server.store.database import Store
from augur.server.store.models import Job
from tests.fixtures.incidents import seed_incident

INV = "/v1/investigations"


def _job_at(store: Store, job_id: int) -> float:
    with store.read_session() as session:
        job = session.scalars(select(Job).where(Job.id == job_id)).one()
        return float(job.payload["at"])


def test_a_question_with_no_time_and_no_incident_is_refused(client: TestClient, store: Store) -> None:
    answer = client.post(INV, json={"question": "why is ctr down?"})
    assert answer.status_code == 422
    assert "end" in answer.text and "wall clock" in answer.text


def test_a_question_is_anchored_at_its_matched_incident_or_its_written_time(
    client: TestClient, store: Store,
) -> None:
    alert_at = datetime(2026, 11, 24, 2, 40, tzinfo=UTC)
    seed_incident(store, None, title="CTRDropped on ctr", component="ctr", opened_at=alert_at)
    first = client.post(INV, json={"question": "why is ctr down?"})
    again = client.post(INV, json={"question": "why is ctr down?"})
    assert first.status_code == again.status_code == 202, first.text
    anchors = {_job_at(store, answer.json()["job_id"]) for answer in (first, again)}
    assert anchors == {alert_at.timestamp()}
    written = client.post(INV, json={"question": "what changed at 2026-11-20T10:00:00Z?"})
    assert written.status_code == 202
    assert _job_at(store, written.json()["job_id"]) == datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp()
