"""When a free-text question is about: the anchor of ``augur investigate --question``'s window.

An investigation is anchored at a time the input gives, never at the wall clock, so that asking
the same question a minute later gives the same answer. For a question that time is, in order:

1. the caller's explicit time (``--at``);
2. a time written in the question itself (``... at 2026-11-24T02:40:00Z?``);
3. the alert time of the incident the question is about, matched in the store the way
   ``augur ask`` matches (words of its alert names, component and labels; ``#12``);

and when none of them exists, the caller says so and asks for ``--at`` instead of guessing "now".
"""

from __future__ import annotations

import re
from datetime import UTC

from sqlalchemy import func, select

from augur.server.store.database import Store
from augur.tools.errors import BadInput
from augur.tools.timeparse import TimeFormatError, parse_time

__all__ = ["QuestionTimeError", "incident_time", "parse_at", "time_in_text"]

_RFC3339 = re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?")


class QuestionTimeError(BadInput, ValueError):
    """No time to anchor the question at; the message says how to give one."""


def parse_at(value: str) -> float:
    """Unix seconds of an ``--at`` value: RFC 3339 (UTC when no offset is given) or Unix seconds."""
    try:  # not relative to the wall clock ("now-1h"): exactly what an anchor must not be
        return parse_time(value, relative=False)
    except TimeFormatError:
        raise QuestionTimeError(
            f"--at {value!r} is not a time: give RFC 3339 (2026-11-24T02:40:00Z) or Unix seconds") from None


def time_in_text(question: str) -> float | None:
    """The first RFC 3339 time written in the question (UTC when it has no offset), if any."""
    match = _RFC3339.search(question)
    if match is None:
        return None
    try:
        return parse_at(match.group(0).replace(" ", "T"))
    except QuestionTimeError:
        return None


def incident_time(store: Store, question: str) -> tuple[int, float] | None:
    """``(incident id, its first alert's startsAt)`` of the stored incident the question is about.

    Incidents are matched as ``augur ask`` matches them, best first; one with neither an alert nor
    a report (a question asked moments ago) is passed over: its only time would be when it was asked.
    """
    from augur.agent.chat import match_incidents
    from augur.server.jobs.questions import load_briefs
    from augur.server.store.models import AlertEpisode

    for _score, incident in match_incidents(question, load_briefs(store)):
        with store.read_session() as session:
            first = session.scalar(select(func.min(AlertEpisode.starts_at))
                                   .where(AlertEpisode.incident_id == incident.id))
        if first is None and incident.report is not None:
            first = incident.report.alert.starts_at  # an earlier question's own anchor
        if first is None:
            continue  # no alert and no report yet (a question just asked): it has no time of its own
        return incident.id, (first if first.tzinfo else first.replace(tzinfo=UTC)).timestamp()
    return None
