"""Pulling a real Alertmanager's ``/api/v2/alerts``: episodes, incidents, suppression, idempotency.

Debian's ``prometheus-alertmanager`` runs on loopback with an inhibit rule (``GPUDown`` inhibits
``RankerLatencyHigh`` on the same ``service``); alerts are injected with ``amtool alert add`` and
one is silenced with ``amtool silence add``. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from augur.evals.servers import AlertmanagerServer, free_port
from augur.server.cli.main import app as cli
from augur.server.intake.alert_pull import AlertPuller, PullError
from augur.server.intake.grouping import GroupingPolicy
from augur.server.jobs.postmortems import generate
from augur.server.store.database import Store
from augur.server.store.models import AlertEpisode, Incident, IncidentEvent, Job
from augur.server.web.app import create_app
from tests.server.conftest import ADMIN_HEADERS, row_counts, settings_for

pytestmark = pytest.mark.slow

CONFIG = {
    "route": {"receiver": "blackhole", "group_by": ["alertname"], "repeat_interval": "1h"},
    "receivers": [{"name": "blackhole"}],
    "inhibit_rules": [{
        "source_matchers": ['alertname="GPUDown"'],
        "target_matchers": ['alertname="RankerLatencyHigh"'],
        "equal": ["service"],
    }],
}


def _wait_for(check: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


def _states(am: AlertmanagerServer) -> dict[str, str]:
    alerts = httpx.get(f"{am.url}/api/v2/alerts", timeout=5).json()
    return {a["labels"]["alertname"]: a["status"]["state"] for a in alerts}


@pytest.fixture(scope="module")
def am(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertmanagerServer]:
    """An Alertmanager with a firing GPUDown, the RankerLatencyHigh it inhibits, a silenced DiskFull."""
    with AlertmanagerServer.start(CONFIG, tmp_path_factory.mktemp("am")) as server:
        server.amtool("alert", "add", "alertname=GPUDown", "service=ranker", "severity=critical",
                      "--annotation=summary=GPU node lost")
        server.amtool("alert", "add", "alertname=RankerLatencyHigh", "service=ranker", "severity=warning")
        server.amtool("alert", "add", "alertname=DiskFull", "service=storage", "severity=warning")
        server.amtool("silence", "add", "alertname=DiskFull", "--author=bob", "--comment=disk swap tonight",
                      "--duration=1h")
        _wait_for(lambda: _states(server) == {"GPUDown": "active", "RankerLatencyHigh": "suppressed",
                                              "DiskFull": "suppressed"}, "the three alerts")
        yield server


def _puller(store: Store, url: str, client: httpx.Client) -> AlertPuller:
    return AlertPuller(store, client, url, GroupingPolicy())


def _events(store: Store, kinds: tuple[str, ...]) -> list[IncidentEvent]:
    with store.read_session() as session:
        return list(session.scalars(select(IncidentEvent).where(IncidentEvent.kind.in_(kinds))
                                    .order_by(IncidentEvent.id)))


def test_pull_stores_alerts_and_their_suppression_once(
        store: Store, store_url: str, am: AlertmanagerServer, tmp_path: Path) -> None:
    with httpx.Client() as client:
        first = _puller(store, am.url, client).pull()
        assert (first.alerts, first.ingest.new_episodes, first.suppressed) == (3, 3, 2)
        with store.read_session() as session:
            episodes = {e.labels["alertname"]: e for e in session.scalars(select(AlertEpisode))}
            incidents = {i.id: i for i in session.scalars(select(Incident))}
        assert set(episodes) == {"GPUDown", "RankerLatencyHigh", "DiskFull"}
        assert all(e.status == "firing" and e.ends_at is None for e in episodes.values())
        assert episodes["GPUDown"].annotations == {"summary": "GPU node lost"}
        # Same component (service=ranker): the inhibited alert joins the GPU incident.
        assert episodes["GPUDown"].incident_id == episodes["RankerLatencyHigh"].incident_id
        # The silenced alert is stored but opens no incident (and no investigation) on its own.
        assert episodes["DiskFull"].incident_id is None
        assert len(incidents) == 1 and first.ingest.opened_incidents == [episodes["GPUDown"].incident_id]
        with store.read_session() as session:
            assert [j.payload["incident_id"] for j in session.scalars(select(Job))] == list(incidents)
        [held] = first.held
        assert [(s["created_by"], s["comment"]) for s in held["silenced_by"]] == [
            ("bob", "disk swap tonight")]
        suppressed = {e.detail["alertname"]: e for e in _events(store, ("alert_suppressed",))}
        assert set(suppressed) == {"RankerLatencyHigh"}
        inhibited = suppressed["RankerLatencyHigh"]
        assert inhibited.incident_id == episodes["RankerLatencyHigh"].incident_id
        assert [i["alertname"] for i in inhibited.detail["inhibited_by"]] == ["GPUDown"]
        assert inhibited.detail["inhibited_by"][0]["fingerprint"] == episodes["GPUDown"].fingerprint

        # The postmortem's timeline says it in words.
        settings = settings_for(store_url)
        sentences = {e.sentence.text for iid in incidents
                     for e in generate(settings, store, iid, out_dir=tmp_path / str(iid))[0].timeline}
        assert "Alert RankerLatencyHigh was inhibited by GPUDown in Alertmanager." in sentences

        before = row_counts(store)
        again = _puller(store, am.url, client).pull()  # a fresh puller too: nothing new either way
        assert again.ingest.new_episodes == 0 and again.ingest.opened_incidents == []
        assert again.suppression_events == []
        assert row_counts(store) == before


def test_a_silenced_alert_opens_its_incident_only_once_the_silence_ends(store: Store, tmp_path: Path) -> None:
    with AlertmanagerServer.start(CONFIG, tmp_path / "am") as am, httpx.Client() as client:
        silence = am.amtool("silence", "add", "alertname=QueueBacklog", "--author=ana", "--comment=backfill",
                            "--duration=1h")
        am.amtool("alert", "add", "alertname=QueueBacklog", "service=feature-pipeline")
        _wait_for(lambda: _states(am).get("QueueBacklog") == "suppressed", "the silenced alert")
        puller = _puller(store, am.url, client)
        quiet = puller.pull()
        assert quiet.ingest.new_episodes == 1 and quiet.ingest.opened_incidents == []
        assert [h["alertname"] for h in quiet.held] == ["QueueBacklog"]
        assert puller.pull().ingest.opened_incidents == []  # still silenced: still nothing
        with store.read_session() as session:
            assert session.scalars(select(Incident)).all() == [] and session.scalars(select(Job)).all() == []
        am.amtool("silence", "expire", silence.stdout.strip())
        _wait_for(lambda: _states(am)["QueueBacklog"] == "active", "the silence to expire")
        loud = puller.pull()
        assert loud.ingest.new_episodes == 0 and len(loud.ingest.opened_incidents) == 1 and loud.held == []
        with store.read_session() as session:
            episode = session.scalars(select(AlertEpisode)).one()
            job = session.scalars(select(Job)).one()
        assert episode.incident_id == loud.ingest.opened_incidents[0]
        assert (job.kind, job.payload["incident_id"]) == ("investigate", episode.incident_id)


def test_alertmanager_down_or_restarted_writes_and_resolves_nothing(store: Store, tmp_path: Path) -> None:
    port = free_port()
    with httpx.Client() as client:
        with AlertmanagerServer.start(CONFIG, tmp_path / "am", port=port) as am:
            am.amtool("alert", "add", "alertname=QueueBacklog", "service=feature-pipeline")
            _wait_for(lambda: "QueueBacklog" in _states(am), "QueueBacklog")
            puller = _puller(store, am.url, client)
            assert puller.pull().ingest.new_episodes == 1
        before = row_counts(store)
        with pytest.raises(PullError, match=r"cannot reach Alertmanager.*AUGUR_ALERTMANAGER_URL"):
            puller.pull()
        assert row_counts(store) == before
        # Restarted, it has lost its in-memory alerts: absence now proves nothing.
        with AlertmanagerServer.start(CONFIG, tmp_path / "am", port=port) as am:
            assert _states(am) == {}
            assert puller.pull().vanished_resolved == 0
        with store.read_session() as session:
            assert session.scalars(select(AlertEpisode.status)).all() == ["firing"]


def test_vanished_alert_resolves_only_when_the_same_alertmanager_listed_it(
        store: Store, tmp_path: Path) -> None:
    with AlertmanagerServer.start(CONFIG, tmp_path / "am") as am, httpx.Client() as client:
        am.amtool("alert", "add", "alertname=QueueBacklog", "service=feature-pipeline")
        _wait_for(lambda: "QueueBacklog" in _states(am), "QueueBacklog")
        puller = _puller(store, am.url, client)
        puller.pull()
        # Silenced, then the silence expires: one event each way, none while nothing changes.
        silence = am.amtool("silence", "add", "alertname=QueueBacklog", "--comment=deploy", "--duration=1h")
        _wait_for(lambda: _states(am)["QueueBacklog"] == "suppressed", "the silence")
        assert [e["kind"] for e in puller.pull().suppression_events] == ["alert_suppressed"]
        am.amtool("silence", "expire", silence.stdout.strip())
        _wait_for(lambda: _states(am)["QueueBacklog"] == "active", "the silence to expire")
        assert [e["kind"] for e in puller.pull().suppression_events] == ["alert_unsuppressed"]
        assert puller.pull().suppression_events == []
        # Prometheus says it ended: Alertmanager drops it from /api/v2/alerts.
        listed = httpx.get(f"{am.url}/api/v2/alerts", timeout=5).json()[0]
        ended = datetime.now(UTC).isoformat()  # after startsAt, and past by the next look
        am.amtool("alert", "add", "alertname=QueueBacklog", "service=feature-pipeline",
                  f"--start={listed['startsAt']}", f"--end={ended}")
        _wait_for(lambda: "QueueBacklog" not in _states(am), "QueueBacklog to end")
        # A puller that never saw it (augur restarted) does not resolve by absence ...
        assert _puller(store, am.url, client).pull().vanished_resolved == 0
        with store.read_session() as session:
            assert session.scalars(select(AlertEpisode.status)).all() == ["firing"]
        # ... the one that listed it a moment ago, from the same Alertmanager process, does.
        result = puller.pull()
        assert (result.vanished_resolved, result.ingest.resolved_episodes) == (1, 1)
        with store.read_session() as session:
            episode = session.scalars(select(AlertEpisode)).one()
            incident = session.scalars(select(Incident)).one()
        assert (episode.status, incident.status) == ("resolved", "resolved")
        assert puller.pull().vanished_resolved == 0


def test_augur_pull_prints_what_it_ingested(store_url: str, am: AlertmanagerServer) -> None:
    runner = CliRunner()
    env = {"AUGUR_DATABASE_URL": store_url, "AUGUR_ALERTMANAGER_URL": am.url}
    elsewhere = runner.invoke(cli, ["pull", "--receiver", "augur"], env=env)  # nothing routes there
    assert elsewhere.exit_code == 0 and "pulled 0 alert(s)" in elsewhere.output, elsewhere.output
    first = runner.invoke(cli, ["pull", "--receiver", "black.*"], env=env)
    assert first.exit_code == 0, first.output
    assert "pulled 3 alert(s)" in first.output and "3 new episode(s)" in first.output
    assert "RankerLatencyHigh" in first.output and "inhibited by GPUDown" in first.output
    assert "silenced by" in first.output and "bob: disk swap tonight" in first.output
    second = runner.invoke(cli, ["pull"], env=env)
    assert second.exit_code == 0 and "0 new episode(s)" in second.output
    down = runner.invoke(cli, ["pull", "--url", f"http://127.0.0.1:{free_port()}"], env=env)
    assert down.exit_code == 1, down.output
    assert "cannot reach Alertmanager" in down.output and "nothing was written" in down.output


def test_serve_pulls_on_its_interval(store: Store, store_url: str, am: AlertmanagerServer) -> None:
    settings = settings_for(store_url, alertmanager_url=am.url, alertmanager_pull_seconds=0.2)
    with TestClient(create_app(settings, store=store), headers=ADMIN_HEADERS) as client:
        def _stored() -> bool:
            with store.read_session() as session:
                return len(session.scalars(select(AlertEpisode)).all()) == 3
        _wait_for(_stored, "the pull loop to store the three alerts")
        _wait_for(lambda: len(_events(store, ("alert_suppressed",))) == 1, "the suppression event")
        time.sleep(0.5)  # a few more pulls
        assert len(_events(store, ("alert_suppressed",))) == 1
        exposition = client.get("/metrics").text
        assert 'augur_alertmanager_pulls_total{outcome="ok"}' in exposition
        assert "augur_alert_episodes_created_total 3.0" in exposition


def test_an_alert_augur_cannot_store_does_not_block_the_others(store: Store, tmp_path: Path) -> None:
    with AlertmanagerServer.start(CONFIG, tmp_path / "am") as am, httpx.Client() as client:
        posted = httpx.post(f"{am.url}/api/v2/alerts", timeout=5, json=[
            {"labels": {"alertname": "Bad", "service": "x"}, "annotations": {"summary": "a\u0000b"}},
            {"labels": {"alertname": "Good", "service": "x"}}])
        assert posted.status_code == 200, posted.text
        _wait_for(lambda: set(_states(am)) == {"Bad", "Good"}, "both alerts")
        result = _puller(store, am.url, client).pull()
        assert result.ingest.new_episodes == 1 and len(result.unstorable) == 1
        with store.read_session() as session:
            assert [e.labels["alertname"] for e in session.scalars(select(AlertEpisode))] == ["Good"]
