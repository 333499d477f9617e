"""The HTML pages of ``augur serve``: ``/`` (incidents) and ``/incidents/{id}`` (one incident's report).

Server-rendered with jinja2 (``server/web/templates``, autoescaped), no JavaScript and nothing fetched
from another host. ``/`` lists incidents newest first with state, root cause, confidence and age;
an incident page shows the report — the chain drawn as an onset chart (inline SVG), the chain
table, what happened, candidates, what was checked and found normal, fixes, and the evidence with
a link to where each piece came from (the Prometheus graph of its query, the log or trace search)
— and links the incident's rule proposals on ``/review`` and its postmortem. Both need the
``read`` scope (:mod:`augur.server.web.auth`).
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from augur.agent.chat import IncidentBrief
from augur.agent.numbers import fmt_z, signal_label
from augur.agent.report import Report
from augur.server.errors import ApiError
from augur.server.jobs.questions import load_briefs
from augur.server.scopes import Scope
from augur.server.state import AppState, app_state
from augur.server.store.proposals import SqlProposalStore
from augur.server.validation import IncidentId
from augur.server.web.auth import require

__all__ = ["age", "chain_svg", "router"]

router = APIRouter(include_in_schema=False)
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
)
_LAYER_COLOURS = {"resource": "#8e6c8a", "service": "#1f6fb2", "model": "#c77d1a", "data": "#2e8b57",
                  "business": "#b8401f"}


def age(then: datetime, now: datetime | None = None) -> str:
    """How long ago, in the largest unit that fits: ``42 s``, ``17 min``, ``5 h``, ``3 d``."""
    seconds = ((now or datetime.now(UTC)) - then.astimezone(UTC)).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f} {unit}"
    return f"{max(seconds, 0):.0f} s"


def chain_svg(report: Report, width: int = 880) -> str:
    """The chain as a chart: one row per link, a bar from its onset to the window's end, the alert marked."""
    links = report.chain
    row_h, left, right, top = 30, 300, 16, 22
    height = top + row_h * max(len(links), 1) + 26
    t0 = min([report.window_start.timestamp(), *(link.onset.timestamp() for link in links)])
    t1 = max(report.window_end.timestamp(), report.alert.starts_at.timestamp(), t0 + 60)
    plot_w = width - left - right

    def x(ts: float) -> float:
        return left + (ts - t0) / (t1 - t0) * plot_w

    esc = html.escape
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chain-chart" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" data-links="{len(links)}">',
             "<title>The chain, cause first: when each signal started to change</title>",
             f'<rect x="{left}" y="{top - 8}" width="{plot_w}" height="{row_h * max(len(links), 1)}" '
             'fill="#fafafa" stroke="#ddd"/>']
    for i, link in enumerate(links):
        y = top + i * row_h + row_h / 2 - 4
        colour = _LAYER_COLOURS.get(link.layer or "", "#555")
        xo = x(link.onset.timestamp())
        parts.append(f'<text x="{left - 8}" y="{y + 4}" text-anchor="end" font-size="12" fill="#222">'
                     f'{esc(signal_label(link.signal))}</text>')
        bar = max(left + plot_w - xo, 2)
        parts.append(f'<rect class="link {esc(link.role)}" x="{xo:.1f}" y="{y - 7}" '
                     f'width="{bar:.1f}" height="14" fill="{colour}" fill-opacity="0.25"/>')
        parts.append(f'<circle cx="{xo:.1f}" cy="{y}" r="5" fill="{colour}"/>')
        parts.append(f'<text x="{xo + 8:.1f}" y="{y + 4}" font-size="12" fill="#222">'
                     f'{esc(link.change)} from {link.onset:%H:%M} ({esc(fmt_z(link.strength))})</text>')
    ax = x(report.alert.starts_at.timestamp())
    bottom = top + row_h * max(len(links), 1) - 8
    parts.append(f'<line class="alert" x1="{ax:.1f}" x2="{ax:.1f}" y1="{top - 8}" y2="{bottom}" '
                 'stroke="#222" stroke-dasharray="4,3"/>')
    parts.append(f'<text x="{ax - 4:.1f}" y="{top - 11}" text-anchor="end" font-size="11">alert '
                 f'{report.alert.starts_at:%H:%M}</text>')
    for ts, anchor in ((t0, "start"), (t1, "end")):
        parts.append(f'<text x="{x(ts):.1f}" y="{height - 6}" text-anchor="{anchor}" font-size="11" '
                     f'fill="#555">{datetime.fromtimestamp(ts, UTC):%m-%d %H:%M} UTC</text>')
    parts.append("</svg>")
    return "".join(parts)


def _brief(state: AppState, incident_id: int) -> IncidentBrief:
    for brief in load_briefs(state.store, limit=1000):
        if brief.id == incident_id:
            return brief
    raise ApiError(404, "incident_not_found", f"no incident {incident_id}: the list is at /")


@router.get("/", response_class=HTMLResponse, dependencies=[Depends(require(Scope.READ, html=True))])
async def incidents_page(state: AppState = Depends(app_state)) -> HTMLResponse:
    """Incidents, newest first: state, root cause, confidence, age."""
    briefs = await run_in_threadpool(load_briefs, state.store)
    now = datetime.now(UTC)
    body = _TEMPLATES.get_template("incidents.html").render(
        incidents=[{"b": b, "age": age(b.opened_at, now)} for b in briefs])
    return HTMLResponse(body)


@router.get("/incidents/{incident_id}", response_class=HTMLResponse,
            dependencies=[Depends(require(Scope.READ, html=True))])
async def incident_page(incident_id: IncidentId, state: AppState = Depends(app_state)) -> HTMLResponse:
    """One incident: its report, evidence links, rule proposals and postmortem."""
    brief = await run_in_threadpool(_brief, state, incident_id)
    proposals = await run_in_threadpool(SqlProposalStore(state.store).find, None, incident_id=incident_id)
    report = brief.report
    body = _TEMPLATES.get_template("incident.html").render(
        b=brief, r=report, age=age(brief.opened_at), label=signal_label, fmt_z=fmt_z,
        chart=Markup(chain_svg(report)) if report is not None and report.chain else None,
        proposals=proposals, kibana=state.settings.kibana_url,
    )
    return HTMLResponse(body)
