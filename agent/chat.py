"""Chat: answer on-call questions ("why did ranker p99 jump at 3 a.m.?") from incidents and reports.

The intents — ``why <incident or alert>``, ``status``, ``ask <question>`` and free text from a
Slack mention — work without an LLM: the words of the question are matched against each
incident's component, title, alert names and the components and signals of its report's chain
(an ``#id`` or ``incident 12`` picks one directly; a clock time such as "3 a.m." favours
incidents whose alerts or onsets fall in that hour). The answer is the matched report's verdict
(computed by code), its chain, and its narrative sentences re-checked by
:func:`augur.agent.grounding.ground` against the report's evidence — so every sentence cites
evidence ids and carries no number the evidence lacks.

This module takes plain data (:class:`IncidentBrief`); the server loads it from the store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from augur.agent.citations import regrounded_narrative
from augur.agent.report import Report, Sentence

__all__ = ["Answer", "IncidentBrief", "Intent", "answer", "match_incidents", "parse_intent"]

IntentKind = Literal["why", "status", "ask", "help"]
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
_INCIDENT_ID = re.compile(r"(?:#|\bincident\s*#?\s*)(\d+)\b", re.IGNORECASE)
_CLOCK = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s*(a\.?\s?m\.?|p\.?\s?m\.?)?(?=\W|$)", re.IGNORECASE)
_CAMEL = re.compile(r"[A-Z]+(?![a-z])\d*|[A-Z]?[a-z]+\d*|\d+")
_STOP_WORDS = (
    "a an the did does do why what when is was were it its at on in of to for and or my our this that "
    "alert alerts alerted alerting fire fired firing jump jumped go went happen happened incident "
    "today yesterday night morning am pm how much"
)
_STOP = frozenset(_STOP_WORDS.split())


class Intent(BaseModel):
    """What was asked: the kind, and the rest of the text (incident id, alert or question)."""

    kind: IntentKind
    subject: str = ""


@dataclass(frozen=True)
class IncidentBrief:
    """An incident as the chat sees it: store facts, and its latest report if there is one."""

    id: int
    title: str
    status: str
    opened_at: datetime
    component: str | None = None
    severity: str | None = None
    resolved_at: datetime | None = None
    alertnames: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    report: Report | None = None
    investigation: str = "not queued"


class Answer(BaseModel):
    """An answer: store facts in ``headline``/``verdict``, telemetry claims as grounded sentences."""

    intent: Intent
    incident_id: int | None = None
    headline: str
    verdict: str = Field(default="", description="The report's verdict, computed by code.")
    chain: str = ""
    sentences: list[Sentence] = Field(default_factory=list, description="Grounded; each cites evidence.")
    dropped: list[Sentence] = Field(default_factory=list, description="Sentences the grounding removed.")
    fixes: list[str] = Field(default_factory=list)
    others: list[str] = Field(default_factory=list, description="Other incidents that matched less well.")
    answered_by: str = Field(default="code", description="Who wrote the sentences: code, or llm:<model>.")
    tool_evidence: list[str] = Field(
        default_factory=list, description="Read-only tool calls made for this answer."
    )
    notes: list[str] = Field(default_factory=list, description="How the answer was made (LLM fallback...).")

    def as_text(self) -> str:
        """The answer as plain text (also valid Slack mrkdwn)."""
        lines = [self.headline]
        if self.verdict:
            lines.append(self.verdict)
        if self.chain:
            lines.append(f"Chain: {self.chain}")
        lines += [f"• {s.text} " + " ".join(f"[{i}]" for i in s.evidence_ids) for s in self.sentences]
        if self.fixes:
            lines.append("Fixes:")
            lines += [f"{n}. {fix}" for n, fix in enumerate(self.fixes, 1)]
        if self.others:
            lines.append("Also matching: " + "; ".join(self.others))
        if self.tool_evidence:
            lines.append("Checked now:")
            lines += [f"- {row}" for row in self.tool_evidence]
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(line.rstrip() for line in lines)


def parse_intent(text: str) -> Intent:
    """The intent of a command or mention: ``why X``, ``status``, ``ask Q``, ``help``; else ``ask``."""
    cleaned = _MENTION.sub(" ", text).strip()
    first, _, rest = cleaned.partition(" ")
    word = first.lower().strip("?!.,:")
    if word in ("status", "help"):
        return Intent(kind=word, subject=rest.strip())  # type: ignore[arg-type]
    if word == "ask":
        return Intent(kind="ask", subject=rest.strip().strip("\"'"))
    if word == "why":
        return Intent(kind="why", subject=rest.strip())
    if not cleaned:
        return Intent(kind="help")
    return Intent(kind="ask", subject=cleaned)


def _words(text: str) -> set[str]:
    out: set[str] = set()
    for token in re.split(r"[^A-Za-z0-9]+", text):
        if not token:
            continue
        out.add(token.lower())
        out.update(part.lower() for part in _CAMEL.findall(token))
    return {w for w in out if w not in _STOP and not w.isdigit()}


def _vocabulary(incident: IncidentBrief) -> set[str]:
    texts = [incident.title, incident.component or "", *incident.alertnames, *incident.labels.values()]
    if incident.report is not None:
        report = incident.report
        texts += [report.alert.name, report.root_cause.component or "", report.root_cause.signal or ""]
        texts += [f"{link.component or ''} {link.signal}" for link in report.chain]
    return _words(" ".join(texts))


def _hours(incident: IncidentBrief) -> set[int]:
    hours = {incident.opened_at.hour}
    if incident.report is not None:
        hours.add(incident.report.alert.starts_at.hour)
        hours.update(link.onset.hour for link in incident.report.chain)
    return hours


def _asked_hour(text: str) -> int | None:
    for hour, _minute, meridiem in _CLOCK.findall(text):
        if not meridiem:
            continue
        value = int(hour) % 12
        return value + 12 if meridiem.lower().startswith("p") else value
    return None


def match_incidents(subject: str, incidents: list[IncidentBrief]) -> list[tuple[float, IncidentBrief]]:
    """Incidents matching ``subject``, best first, with their scores (only scores above zero)."""
    wanted_id = _INCIDENT_ID.search(subject)
    if wanted_id is None and subject.strip().isdigit():
        wanted_id = re.match(r"(\d+)", subject.strip())
    if wanted_id is not None:
        number = int(wanted_id.group(1))
        return [(100.0, i) for i in incidents if i.id == number]
    words = _words(_CLOCK.sub(" ", subject))
    hour = _asked_hour(subject)
    scored = []
    for incident in incidents:
        score = float(len(words & _vocabulary(incident)))
        if score and hour is not None and hour in _hours(incident):
            score += 0.5
        if score:
            scored.append((score, incident))
    # Best score first; among equals the most recently opened.
    scored.sort(key=lambda pair: (pair[0], pair[1].opened_at), reverse=True)
    return scored


def _headline(incident: IncidentBrief) -> str:
    state = incident.status
    if incident.resolved_at is not None:
        state += f" at {incident.resolved_at:%Y-%m-%d %H:%M} UTC"
    return (f"Incident #{incident.id} — {incident.title} ({state}; opened "
            f"{incident.opened_at:%Y-%m-%d %H:%M} UTC).")


def _explain(intent: Intent, incident: IncidentBrief, others: list[IncidentBrief]) -> Answer:
    out = Answer(intent=intent, incident_id=incident.id, headline=_headline(incident),
                 others=[f"#{o.id} {o.title}" for o in others[:3]])
    report = incident.report
    if report is None:
        out.verdict = (f"No report yet: the investigation is {incident.investigation}. "
                       f"Ask again in a minute, or read /v1/incidents/{incident.id}.")
        return out
    rc = report.root_cause
    if rc.verdict == "identified":
        out.verdict = (f"Root cause: `{rc.component}` — {rc.fault_type.replace('_', ' ')} "
                       f"(signal `{rc.signal}`), confidence {rc.confidence:.2f}.")
    else:
        out.verdict = f"Root cause: inconclusive — {rc.summary}"
    out.chain = report.chain_text
    out.sentences, out.dropped = regrounded_narrative(report)
    out.fixes = [fix.action for fix in report.fixes[:2]]
    return out


def _status(intent: Intent, incidents: list[IncidentBrief]) -> Answer:
    open_ones = [i for i in incidents if i.status == "open"]
    if not open_ones:
        return Answer(intent=intent, headline="No open incidents.",
                      others=[f"#{i.id} {i.title} ({i.status})" for i in incidents[:3]])
    lines = []
    for incident in sorted(open_ones, key=lambda i: i.opened_at, reverse=True):
        cause = "investigating"
        if incident.report is not None:
            rc = incident.report.root_cause
            cause = "cause inconclusive"
            if rc.verdict == "identified":
                cause = (f"root cause `{rc.component}` ({rc.fault_type.replace('_', ' ')}, "
                         f"confidence {rc.confidence:.2f})")
        lines.append(f"#{incident.id} {incident.title} — opened {incident.opened_at:%H:%M} UTC — {cause}")
    plural = "s" if len(open_ones) != 1 else ""
    return Answer(intent=intent, headline=f"{len(open_ones)} open incident{plural}:\n" + "\n".join(lines))


_HELP = ("Ask me: `/augur why <incident id or alert>`, `/augur status`, `/augur ask <question>`, "
         "or mention me with a question such as \"why did ranker p99 jump at 3 a.m.?\".")


def answer(text: str, incidents: list[IncidentBrief]) -> Answer:
    """Answer a command or question over ``incidents`` (newest first), without an LLM."""
    intent = parse_intent(text)
    if intent.kind == "help":
        return Answer(intent=intent, headline=_HELP)
    if intent.kind == "status":
        return _status(intent, incidents)
    if not intent.subject:
        return Answer(intent=intent, headline=f"Which incident or alert? {_HELP}")
    matches = match_incidents(intent.subject, incidents)
    if not matches:
        known = ", ".join(f"#{i.id} {i.title}" for i in incidents[:5]) or "none yet"
        asked = " ".join(text.split())  # as typed: "why did X alert?", not the parsed "did X alert?"
        return Answer(intent=intent, headline=f"I found no incident matching “{asked}”. "
                                              f"Recent incidents: {known}.")
    best = matches[0][1]
    return _explain(intent, best, [incident for _, incident in matches[1:]])
