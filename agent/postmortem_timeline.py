"""The postmortem's clock and timeline: key facts (time to detect, diagnose, acknowledge, resolve)
and every alert, onset, store event and review decision of the incident in time order.
"""

from __future__ import annotations

from datetime import datetime

from augur.agent.numbers import signal_label
from augur.agent.postmortem_model import (
    AlertRecord,
    EventRecord,
    KeyFacts,
    PostmortemInput,
    TimelineEntry,
)
from augur.agent.report import ChainLink, Sentence

__all__ = ["first_alert", "key_facts", "timeline"]


def first_alert(inp: PostmortemInput) -> AlertRecord | None:
    return min(inp.alerts, key=lambda a: a.starts_at) if inp.alerts else None


def _minutes(a: datetime | None, b: datetime | None) -> float | None:
    return round((b - a).total_seconds() / 60, 1) if a is not None and b is not None else None


def key_facts(inp: PostmortemInput) -> KeyFacts:
    """Severity and the incident's clock (detect, diagnose, acknowledge, resolve)."""
    first = first_alert(inp)
    report = inp.report
    cause = report.chain[0] if report and report.chain and report.root_cause.verdict == "identified" else None
    first_at = first.starts_at if first else inp.opened_at
    started = cause.onset if cause is not None else first_at
    generated = report.generated_at if report else None
    ready = next((e.at for e in inp.events if e.kind == "report_ready"), generated)
    human = sorted(at for p in inp.proposals for at, state, actor in p.history
                   if state in ("approved", "rejected") and actor not in ("augur", "system"))
    by_start = sorted(inp.alerts, key=lambda a: a.starts_at)
    labelled = [a.labels["severity"] for a in by_start if a.labels.get("severity")]
    severity = inp.severity or (labelled[0] if labelled else None)
    return KeyFacts(
        severity=severity, started_at=started,
        duration_minutes=_minutes(started, inp.resolved_at),
        time_to_detect_minutes=_minutes(cause.onset, first_at) if cause is not None else None,
        time_to_diagnose_minutes=_minutes(first_at, ready),
        time_to_acknowledge_minutes=_minutes(first_at, human[0]) if human else None,
        time_to_resolve_minutes=_minutes(first_at, inp.resolved_at),
    )


def _link_ids(link: ChainLink) -> list[str]:
    return list(link.evidence_ids)


def timeline(inp: PostmortemInput) -> list[TimelineEntry]:
    out: list[TimelineEntry] = []
    for alert in inp.alerts:
        out.append(
            TimelineEntry(
                at=alert.starts_at, kind="alert", sentence=Sentence(text=f"Alert {alert.name} fired.")
            )
        )
        if alert.ends_at is not None:
            out.append(
                TimelineEntry(
                    at=alert.ends_at,
                    kind="alert_resolved",
                    sentence=Sentence(text=f"Alert {alert.name} resolved."),
                )
            )
    report = inp.report
    if report is not None:
        for link in report.chain:
            role = "the cause" if link.role == "cause" else "a symptom"
            out.append(
                TimelineEntry(
                    at=link.onset,
                    kind="onset",
                    sentence=Sentence(
                        text=f"{signal_label(link.signal)} started to change ({link.change}), {role}.",
                        evidence_ids=_link_ids(link),
                    ),
                )
            )
    texts = {
        "opened": "Incident opened; investigation queued.",
        "investigation_requested": "Investigation requested.",
        "alerts_added": "More alerts joined the incident.",
        "report_ready": "Investigation finished: report ready.",
        "resolved": "Incident resolved: every alert stopped firing.",
    }
    for event in inp.events:
        if event.kind in ("alert_suppressed", "alert_unsuppressed"):
            sentence = Sentence(text=_suppression(event))
            out.append(TimelineEntry(at=event.at, kind=event.kind, sentence=sentence))
        if event.kind in texts:
            text = texts[event.kind]
            if event.kind == "report_ready" and event.detail.get("root_cause"):
                text = f"Investigation finished: root cause named as {event.detail['root_cause']}."
            out.append(TimelineEntry(at=event.at, kind=event.kind, sentence=Sentence(text=text)))
        if event.kind == "verdict":
            out.append(TimelineEntry(at=event.at, kind="verdict", sentence=Sentence(text=_verdict(event))))
    for proposal in inp.proposals:
        for at, state, actor in proposal.history:
            verb = {
                "pending": "proposed by",
                "approved": "approved by",
                "rejected": "rejected by",
                "applied": "applied by",
                "failed": "failed to apply for",
            }.get(state, f"{state} by")
            out.append(
                TimelineEntry(
                    at=at,
                    kind=f"proposal_{state}",
                    sentence=Sentence(text=f"Rule {proposal.title} {verb} {actor}."),
                )
            )
    return sorted(out, key=lambda e: e.at)


def _verdict(event: EventRecord) -> str:
    """``alice judged the root cause wrong: it was X.`` from a verdict's timeline event."""
    word = {"confirmed": "right", "wrong": "wrong", "not_actionable": "not actionable"}.get(
        str(event.detail.get("verdict")), "judged")
    real = f": it was {event.detail['real_cause']}" if event.detail.get("real_cause") else ""
    return f"{event.detail.get('by', 'someone')} judged the root cause {word}{real}."


def _suppression(event: EventRecord) -> str:
    """``Alert X was inhibited by Y`` / ``silenced by <author> (<comment>)`` from a pull's timeline event."""
    name = event.detail.get("alertname") or event.detail.get("fingerprint", "?")
    if event.kind == "alert_unsuppressed":
        return f"Alert {name} is no longer inhibited or silenced in Alertmanager."
    reasons = [f"inhibited by {i.get('alertname') or i.get('fingerprint')}"
               for i in event.detail.get("inhibited_by", [])]
    # The silence's comment stays in the event's detail: free text may hold numbers nothing cites.
    silences = event.detail.get("silenced_by", [])
    reasons += [f"silenced by {s.get('created_by') or 'a silence'}" for s in silences]
    return f"Alert {name} was {' and '.join(reasons) or 'suppressed'} in Alertmanager."
