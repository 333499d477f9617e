"""The HTML pages of ``augur serve``: ``/`` (incidents) and ``/incidents/{id}`` (one incident's report).

Server-rendered with jinja2 (``server/web/templates``, autoescaped), no JavaScript and nothing fetched
from another host. ``/`` lists incidents newest first with state, root cause, confidence and age;
an incident page shows the report — the chain drawn as an onset chart (inline SVG), the chain
table, what happened, candidates, what was checked and found normal, fixes, and the evidence with
a link to where each piece came from (the Prometheus graph of its query, the log or trace search)
— the similar past incidents incident memory found, and links the incident's rule proposals on
``/review`` and its postmortem. Both need the ``read`` scope (:mod:`augur.server.web.auth`).

Verdicts: the incident page shows the incident's verdict (who, when, through what) and its
history, and a form — Right, Wrong (naming the real cause), Not actionable — that posts to
``/incidents/{id}/verdict`` as the signed-in person, with the session's CSRF token, exactly like
the review page's forms (:mod:`augur.server.web.review_page`); someone without the ``verdict``
scope sees the form disabled with the reason, and is refused (403) if they post anyway. The
incidents page shows each incident's verdict and the live precision (confirmed ÷ judged).
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
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
from augur.server.store.verdicts import latest_verdicts, precision, verdict_counts, verdicts_of
from augur.server.validation import IncidentId
from augur.server.web.auth import Principal, authenticator_of, require
from augur.server.web.verdicts import give_verdict

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


#: How each verdict reads on the pages.
VERDICT_WORDS = {"confirmed": "Right", "wrong": "Wrong", "not_actionable": "Not actionable"}


@router.get("/", response_class=HTMLResponse, dependencies=[Depends(require(Scope.READ, html=True))])
async def incidents_page(state: AppState = Depends(app_state)) -> HTMLResponse:
    """Incidents, newest first: state, root cause, confidence, verdict, age; and the live precision."""
    briefs = await run_in_threadpool(load_briefs, state.store)
    judged = await run_in_threadpool(latest_verdicts, state.store, [b.id for b in briefs])
    counts = await run_in_threadpool(verdict_counts, state.store)
    now = datetime.now(UTC)
    body = _TEMPLATES.get_template("incidents.html").render(
        incidents=[{"b": b, "age": age(b.opened_at, now), "v": judged.get(b.id)} for b in briefs],
        counts=counts, precision=precision(counts), words=VERDICT_WORDS)
    return HTMLResponse(body)


def _may_judge(state: AppState, who: Principal) -> str | None:
    """Why ``who`` may not record verdicts here, or None when they may."""
    if Scope.VERDICT not in who.scopes:
        return (f"Signed in as {who.name}, who may not record verdicts: that needs a token with the "
                "verdict scope (reviewer tokens have it).")
    if state.settings.reviewers and who.name not in state.settings.reviewers:
        return f"Signed in as {who.name}, who is not on the reviewer allowlist (AUGUR_REVIEWERS)."
    return None


def _incident_html(state: AppState, request: Request, who: Principal, incident_id: int, message: str = "",
                   error: bool = False, status: int = 200) -> HTMLResponse:
    brief = _brief(state, incident_id)
    proposals = SqlProposalStore(state.store).find(None, incident_id=incident_id)
    verdicts = verdicts_of(state.store, incident_id)
    signed_in = authenticator_of(request).principal_of_session(request)
    report = brief.report
    body = _TEMPLATES.get_template("incident.html").render(
        b=brief, r=report, age=age(brief.opened_at), label=signal_label, fmt_z=fmt_z,
        chart=Markup(chain_svg(report)) if report is not None and report.chain else None,
        proposals=proposals, kibana=state.settings.kibana_url,
        verdicts=verdicts, verdict=verdicts[-1] if verdicts else None, words=VERDICT_WORDS,
        who=who, why_not=_may_judge(state, who), csrf_token=signed_in[1].csrf if signed_in else "",
        message=message or request.query_params.get("msg", ""), error=error,
    )
    return HTMLResponse(body, status_code=status)


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
async def incident_page(request: Request, incident_id: IncidentId, state: AppState = Depends(app_state),
                        who: Principal = Depends(require(Scope.READ, html=True))) -> HTMLResponse:
    """One incident: its report, verdict, similar past incidents, evidence links, proposals, postmortem."""
    return await run_in_threadpool(_incident_html, state, request, who, incident_id)


@router.post("/incidents/{incident_id}/verdict")
async def incident_verdict(
    request: Request, incident_id: IncidentId, state: AppState = Depends(app_state),
    who: Principal = Depends(require(Scope.VERDICT, html=True)),
    verdict: str = Form(""), real_cause: str = Form(""), real_fault_type: str = Form(""),
    fix: str = Form(""), note: str = Form(""),
) -> Response:
    """The page's verdict form, as the signed-in person (CSRF-checked by the dependency)."""
    try:
        out, changed = await run_in_threadpool(give_verdict, state, incident_id, who, "page", verdict,
                                               real_cause, real_fault_type, fix, note)
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await run_in_threadpool(_incident_html, state, request, who, incident_id,
                                       f"Not recorded: {exc.reason}", True, exc.status)
    said = VERDICT_WORDS[out.verdict] + (f", it was {out.real_cause}" if out.real_cause else "")
    note_text = f"Verdict recorded: {said}" if changed else f"No change: your verdict is already {said}"
    return RedirectResponse(f"/incidents/{incident_id}?msg={quote(note_text)}#judgement", status_code=303)
