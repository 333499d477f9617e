"""The retune job: an alert rule whose incidents keep being judged "not actionable" gets a quieter
version proposed, for a person to review.

Recording a ``not_actionable`` verdict queues a ``retune`` job for the incident
(:func:`augur.server.store.verdicts.record_verdict`). The job finds the alert rule that opened
the incident (its first alert's ``alertname``), the incidents that rule opened in the last
``retune_window_days`` and their latest verdicts. With at least ``retune_min_verdicts`` judged not
actionable, :func:`augur.rules.retune.retune_and_record` reads the rule from the configured
Prometheus, proposes a raised threshold and a longer ``for:`` (promtool-checked, backtested
against history: each must fire less than the current rule and still fire for the rule's
incidents judged real, confirmed or wrong) and stores them as pending proposals: the review page,
the API and Slack show them beside the others, and approving one replaces the rule.

One event on the incident's timeline records the outcome: ``retune_proposed`` (``ids``,
``titles``, ``verdict_ids`` and what was ``skipped``), ``retune_skipped`` (too few verdicts, no
Prometheus, the rule not loaded, or a retune already pending or answering these verdicts, with the
reason) or ``retune_failed``. Running the job again on the same verdicts proposes nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from augur.rules.retune import AlertRule, RetuneConfig, VerdictRef, loaded_alert_rule, retune_and_record
from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.models import AlertEpisode, Incident, IncidentEvent, utcnow
from augur.server.store.proposals import SqlProposalStore
from augur.server.store.queue import ClaimedJob, LeaseLost, hold_lease
from augur.server.store.verdicts import RETUNE_JOB, latest_verdicts

__all__ = ["FAILED", "PROPOSED", "RETUNE_JOB", "SKIPPED", "RetuneOutcome", "judged_incidents",
           "retune_for_incident", "retune_handler"]

log = logging.getLogger(__name__)

PROPOSED = "retune_proposed"
SKIPPED = "retune_skipped"
FAILED = "retune_failed"
#: An incident whose alert has not resolved counts as real for this long after it started.
OPEN_SPAN_S = 3600.0

#: Called after new retune proposals are stored: ``hook(store, incident_id)`` (Slack posts them).
ProposedHook = Callable[[Store, int], Any]


@dataclass
class RetuneOutcome:
    """The timeline event's kind and detail."""

    kind: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        """Ids of the proposals stored by this run."""
        return list(self.detail.get("ids", []))


@dataclass(frozen=True)
class _Opened:
    incident_id: int
    alertname: str
    started: datetime
    ended: datetime | None


def _first_alerts(store: Store, since: datetime | None = None,
                  incident_id: int | None = None) -> dict[int, _Opened]:
    """Each incident opened since ``since`` (or the one given): the alert that opened it (its
    earliest episode)."""
    episode = AlertEpisode
    query = (select(episode.incident_id, episode.labels, episode.starts_at, episode.ends_at)
             .join(Incident, Incident.id == AlertEpisode.incident_id)
             .order_by(AlertEpisode.incident_id, AlertEpisode.starts_at, AlertEpisode.id))
    if since is not None:
        query = query.where(Incident.opened_at >= since)
    if incident_id is not None:
        query = query.where(Incident.id == incident_id)
    out: dict[int, _Opened] = {}
    with store.read_session() as session:
        for incident_id, labels, starts, ends in session.execute(query):
            if incident_id is not None and incident_id not in out:
                name = str((labels or {}).get("alertname", ""))
                out[incident_id] = _Opened(incident_id, name, starts, ends)
    return out


def judged_incidents(store: Store, alertname: str, since: datetime) -> tuple[list[VerdictRef],
                                                                             list[tuple[float, float]]]:
    """The incidents ``alertname`` opened since ``since``: the not-actionable verdicts (latest per
    incident), and the (start, end) spans of those judged real (confirmed or wrong)."""
    opened = {i: o for i, o in _first_alerts(store, since).items() if o.alertname == alertname}
    if not opened:
        return [], []
    verdicts = latest_verdicts(store, opened)
    noise: list[VerdictRef] = []
    real: list[tuple[float, float]] = []
    for incident_id, v in sorted(verdicts.items()):
        o = opened[incident_id]
        start = o.started.timestamp()
        if v.verdict == "not_actionable":
            noise.append(VerdictRef(id=v.id, incident_id=incident_id, by=v.by, at=v.at, fired_at=start))
        elif v.verdict in ("confirmed", "wrong"):
            real.append((start, o.ended.timestamp() if o.ended else start + OPEN_SPAN_S))
    return noise, real


def _run(settings: Settings, store: Store, incident_id: int, client: httpx.Client | None,
         now: float | None) -> RetuneOutcome:
    from augur.tools.prometheus_api import connect

    first = _first_alerts(store, incident_id=incident_id).get(incident_id)
    if first is None or not first.alertname:
        return RetuneOutcome(SKIPPED, {"reason": f"incident {incident_id} has no alert with an alertname"})
    name = first.alertname
    since = utcnow() - timedelta(days=settings.retune_window_days)
    verdicts, real = judged_incidents(store, name, since)
    detail: dict[str, Any] = {"alertname": name, "verdict_ids": [v.id for v in verdicts]}
    if len(verdicts) < settings.retune_min_verdicts:
        return RetuneOutcome(SKIPPED, {**detail, "reason": (
            f"{len(verdicts)} of the incidents {name} opened in the last "
            f"{settings.retune_window_days:g} days are judged not actionable; a retune is proposed "
            f"from {settings.retune_min_verdicts} (AUGUR_RETUNE_MIN_VERDICTS)")})
    if not settings.prometheus_url:
        return RetuneOutcome(SKIPPED, {**detail, "reason": "AUGUR_PROMETHEUS_URL is not set: a retune needs "
                                                           "the loaded rule and history to backtest on"})
    own = client is None
    http = client or httpx.Client()
    try:
        prom = connect(settings.prometheus_url, http=http)
        rule: AlertRule | None = loaded_alert_rule(prom, name)
        if rule is None:
            return RetuneOutcome(SKIPPED, {**detail, "reason": f"Prometheus at {settings.prometheus_url} has "
                                                               f"no alerting rule {name} loaded"})
        result = retune_and_record(rule, verdicts, prom, SqlProposalStore(store), mattered=real,
                                   config=RetuneConfig(), now=now)
    finally:
        if own:
            http.close()
    if not result.proposals:
        return RetuneOutcome(SKIPPED, {**detail, "reason": "; ".join(result.skipped)[:2000],
                                       "skipped": result.skipped})
    return RetuneOutcome(PROPOSED, {**detail, "ids": [p.id for p in result.proposals],
                                    "titles": [p.title for p in result.proposals], "skipped": result.skipped})


def retune_for_incident(settings: Settings, store: Store, incident_id: int, *,
                        client: httpx.Client | None = None, now: float | None = None,
                        fence: Callable[[Any], None] | None = None) -> RetuneOutcome:
    """Propose retunes of the alert rule that opened the incident, and record the outcome on its
    timeline (see the module docstring). ``now`` ends the backtests' window. Never raises, except
    :class:`~augur.server.store.queue.LeaseLost` from ``fence`` (called in the recording transaction)."""
    try:
        outcome = _run(settings, store, incident_id, client, now)
    except Exception as exc:
        log.exception("incident %s: proposing a retune failed", incident_id)
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        outcome = RetuneOutcome(FAILED, {"reason": reason[:2000]})
    with store.transaction() as session:
        if fence is not None:
            fence(session)
        session.add(IncidentEvent(incident_id=incident_id, at=utcnow(), kind=outcome.kind,
                                  detail=outcome.detail))
    return outcome


def retune_handler(settings: Settings, *, client: httpx.Client | None = None, now: float | None = None,
                   on_proposed: ProposedHook | None = None) -> Callable[[ClaimedJob, Store], None]:
    """The ``retune`` job handler; ``on_proposed(store, incident_id)`` runs when proposals were stored
    (its failure is logged: the proposals are stored and on the review page)."""

    def handle(job: ClaimedJob, store: Store) -> None:
        incident_id = job.payload.get("incident_id")
        if not isinstance(incident_id, int):
            raise ValueError(f"job {job.id} has no integer incident_id in its payload")

        def fence(session: Any) -> None:
            hold_lease(session, job)

        outcome = retune_for_incident(settings, store, incident_id, client=client, now=now, fence=fence)
        if outcome.ids and on_proposed is not None:
            try:
                on_proposed(store, incident_id)
            except LeaseLost:
                raise
            except Exception:
                log.exception("incident %s: posting the retune proposals failed (they are stored)",
                              incident_id)

    return handle
