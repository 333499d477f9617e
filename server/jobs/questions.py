"""Questions over the store: load incidents with their latest reports and let :mod:`augur.agent.chat` answer.

Shared by the Slack app (slash command, mentions) and ``augur ask``. Reads only. With an LLM
configured (``AUGUR_LLM_BASE_URL`` and ``AUGUR_LLM_MODEL``), :func:`chat_llm_for` gives the
:class:`~augur.agent.chat_llm.ChatLLM` that rewrites the answer's sentences from the reports and
read-only tool calls; without one, or when it fails, the answer is the deterministic one.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from sqlalchemy import select

from augur.agent.chat import Answer, IncidentBrief, answer
from augur.agent.report import Report
from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.models import AlertEpisode, Incident, Job
from augur.server.store.models import Report as ReportRow

if TYPE_CHECKING:
    from augur.agent.chat_llm import ChatLLM

__all__ = ["ask", "chat_llm_for", "load_briefs"]


def load_briefs(store: Store, *, limit: int = 50) -> list[IncidentBrief]:
    """The ``limit`` most recently active incidents, newest first, with alert names and latest report."""
    with store.read_session() as session:
        incidents = list(session.scalars(
            select(Incident).order_by(Incident.updated_at.desc(), Incident.id.desc()).limit(limit)))
        ids = [i.id for i in incidents]
        if not ids:
            return []
        names: dict[int, list[str]] = {i: [] for i in ids}
        labels: dict[int, dict[str, str]] = {i: {} for i in ids}
        for ep in session.scalars(select(AlertEpisode).where(AlertEpisode.incident_id.in_(ids))
                                  .order_by(AlertEpisode.starts_at)):
            key = ep.incident_id or 0
            name = str(ep.labels.get("alertname", ""))
            if name and name not in names[key]:
                names[key].append(name)
            for k, v in ep.labels.items():
                labels[key].setdefault(str(k), str(v))
        reports: dict[int, Report] = {}
        for row in session.scalars(select(ReportRow).where(ReportRow.incident_id.in_(ids))
                                   .order_by(ReportRow.id)):
            reports[row.incident_id] = Report.model_validate(row.report)  # the latest wins
        jobs = {job.dedupe_key: job.status for job in session.scalars(
            select(Job).where(Job.dedupe_key.in_([f"investigate:{i}" for i in ids])))}
        return [
            IncidentBrief(
                id=i.id, title=i.title, status=i.status, opened_at=i.opened_at, component=i.component,
                severity=i.severity, resolved_at=i.resolved_at, alertnames=tuple(names[i.id]),
                labels=labels[i.id], report=reports.get(i.id),
                investigation=jobs.get(f"investigate:{i.id}", "not queued"),
            )
            for i in incidents
        ]


def chat_llm_for(settings: Settings) -> ChatLLM | None:
    """The LLM chat over the toolbox's read-only tools, or ``None`` when no LLM is configured."""
    if not (settings.llm_base_url and settings.llm_model):
        return None
    from augur.agent.chat_llm import ChatLLM
    from augur.agent.llm import LLMClient
    from augur.server.toolbox import build_registry

    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    llm = LLMClient(base_url=settings.llm_base_url, model=settings.llm_model, api_key=key)
    return ChatLLM(llm, build_registry(settings))


def ask(store: Store, text: str, *, chat: ChatLLM | None = None) -> Answer:
    """Answer ``text`` (a ``why``/``status``/``ask`` command or a free question) from the store.

    With ``chat``, the LLM answers (falling back to the deterministic answer on failure); this
    runs its own event loop, so call it from a thread, not from inside one.
    """
    briefs = load_briefs(store)
    if chat is None:
        return answer(text, briefs)

    async def run() -> Answer:
        try:
            return await chat.answer(text, briefs)
        finally:
            await chat.llm.aclose()

    return asyncio.run(run())
