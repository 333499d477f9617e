"""The review page: ``/review``, server-rendered HTML with plain form POSTs (no JavaScript).

It lists pending proposals with the rule, the rationale (evidence ids), ``promtool``'s verdict
and the backtest drawn as an inline SVG chart, and approve / reject buttons. Actions (a model
rollback, a retrain, a scale-out: :mod:`augur.rules.actions`) are listed the same way with their
dry run shown open; approving one runs it, and the decided table says who approved it and what
the check afterwards found. A reviewer signs in
once with a token that has the ``review`` scope; the browser then holds a server-side session id
(HttpOnly, SameSite=Lax, Secure over TLS; never the token), and every form carries the session's
CSRF token (:mod:`augur.server.web.auth` checks it and the ``Origin``).
"""

from __future__ import annotations

import hmac
import html
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from augur.rules.proposal import Backtest, Proposal, ProposalEvent, ProposalState
from augur.rules.review import ReviewError
from augur.server.review import ProposalService
from augur.server.scopes import Scope
from augur.server.web.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Principal,
    authenticated,
    authenticator_of,
    public,
    require,
)
from augur.server.web.proposals import proposal_service

__all__ = ["backtest_svg", "page", "signin_page"]

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
)
_EVIDENCE = re.compile(r"\[?(ev-[0-9a-f]{6,})\]?")


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%m-%d %H:%M")


def backtest_svg(backtest: Backtest, width: int = 720, height: int = 220) -> str:
    """The backtest as an SVG chart: the signal, the threshold, would-fire spans, the incident start."""
    left, right, top, bottom = 56, 12, 14, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    t0, t1 = backtest.start, max(backtest.end, backtest.start + 1)
    values = [v for _, v in backtest.value_series]
    if backtest.threshold is not None:
        values.append(backtest.threshold)
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.08
    lo, hi = lo - pad, hi + pad

    def x(t: float) -> float:
        return left + (t - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        return top + (hi - v) / (hi - lo) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="backtest" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" data-points="{len(backtest.value_series)}" '
        f'data-episodes="{backtest.episodes}">',
        f"<title>{html.escape(backtest.expr)}: fired {backtest.episodes} time(s) in "
        f"{backtest.days:.1f} days</title>",
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ccc"/>',
    ]
    for start, end in backtest.spans:
        x0, x1 = x(max(start, t0)), x(min(end, t1))
        parts.append(f'<rect class="fire-span" x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 1.5):.1f}" '
                     f'height="{plot_h}" fill="#e4572e" fill-opacity="0.22"/>')
    if backtest.value_series:
        points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in backtest.value_series)
        parts.append(f'<polyline class="series" points="{points}" fill="none" stroke="#1f6fb2" '
                     'stroke-width="1.4"/>')
    if backtest.threshold is not None:
        ty = y(backtest.threshold)
        parts.append(f'<line class="threshold" x1="{left}" x2="{left + plot_w}" y1="{ty:.1f}" y2="{ty:.1f}" '
                     'stroke="#e4572e" stroke-dasharray="5,4" stroke-width="1.2"/>')
        parts.append(f'<text x="{left + plot_w - 4}" y="{ty - 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#b8401f">threshold {backtest.threshold:.4g}</text>')
    if backtest.incident_start is not None and t0 <= backtest.incident_start <= t1:
        ix = x(backtest.incident_start)
        parts.append(f'<line class="incident" x1="{ix:.1f}" x2="{ix:.1f}" y1="{top}" y2="{top + plot_h}" '
                     'stroke="#222" stroke-width="1.5"/>')
        parts.append(f'<text x="{ix - 4:.1f}" y="{top + 12}" text-anchor="end" font-size="11" '
                     'fill="#222">first alert</text>')
    for value in (lo + pad, hi - pad):
        parts.append(f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#555">{value:.3g}</text>')
    for t, anchor in ((t0, "start"), (t1, "end")):
        parts.append(f'<text x="{x(t):.1f}" y="{height - 10}" text-anchor="{anchor}" font-size="11" '
                     f'fill="#555">{_when(t)} UTC</text>')
    parts.append("</svg>")
    return "".join(parts)


def _rationale_html(text: str) -> Markup:
    escaped = html.escape(text)
    return Markup(_EVIDENCE.sub(r'<code class="evidence">\1</code>', escaped))


def _summary(proposal: Proposal) -> str:
    if proposal.is_action:
        return (f"an action: approving it runs it ({proposal.rule.get('summary', '')}) and checks that "
                "it took effect; the dry run below shows what it will do")
    bt = proposal.backtest
    if bt is None:
        return "no backtest (an Alertmanager rule: nothing to replay)"
    span = f"{bt.days:.1f} days" if bt.days >= 2 else f"{bt.days * 24:.1f} hours"
    times = "once" if bt.episodes == 1 else f"{bt.episodes} times"
    text = f"would have fired {times} in the last {span}"
    if bt.before is not None:  # a retune: against the rule it replaces
        text += f" (the current rule: {'once' if bt.before.episodes == 1 else f'{bt.before.episodes} times'})"
    if bt.lead_minutes is not None:
        text += (f"; {bt.lead_minutes:.0f} min before the incident's first alert" if bt.lead_minutes >= 0
                 else f"; {-bt.lead_minutes:.0f} min after the incident's first alert")
    elif bt.incident_start is not None:
        text += "; it did not fire around the incident"
    return text


page = APIRouter(prefix="/review", include_in_schema=False)


def _secure(request: Request) -> bool:
    """Cookies get ``Secure`` when the page is served over TLS (directly or behind a proxy
    uvicorn trusts for ``X-Forwarded-Proto``), or the public URL is https."""
    auth = authenticator_of(request)
    return request.url.scheme == "https" or bool(auth.public_base_url and
                                                 auth.public_base_url.startswith("https://"))


def _safe_next(path: str) -> str:
    """Where to go after signing in: a local path only (never another site)."""
    return path if path.startswith("/") and not path.startswith(("//", "/\\")) else "/review"


def signin_page(request: Request, message: str = "", status: int = 401, next_path: str = "/review",
                ) -> HTMLResponse:
    """The sign-in form (what an HTML page answers to a request without a usable session).

    The form carries a CSRF token that must equal the ``augur_csrf`` cookie set here (double
    submit), so another site cannot sign a browser in as someone else.
    """
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    body = _TEMPLATES.get_template("signin.html").render(
        message=message, csrf_token=csrf, next_path=_safe_next(next_path))
    response = HTMLResponse(body, status_code=status)
    response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", path="/review",
                        secure=_secure(request))
    return response


def _render(svc: ProposalService, request: Request, who: Principal, message: str = "", status: int = 200,
            error: bool = False) -> HTMLResponse:
    """The page for a signed-in reviewer, with an optional message."""
    auth = authenticator_of(request)
    signed_in = auth.principal_of_session(request)
    csrf = signed_in[1].csrf if signed_in is not None else ""
    pending = svc.repo.find(ProposalState.PENDING)
    decided = [p for p in svc.repo.find() if p.state is not ProposalState.PENDING][:50]
    last_event: dict[str, ProposalEvent | None] = {}
    approver: dict[str, ProposalEvent | None] = {}  # for actions: who approved the run, and when
    for proposal in decided:
        events = svc.repo.events(proposal.id)
        last_event[proposal.id] = events[-1] if events else None
        approver[proposal.id] = next((e for e in reversed(events) if e.to_state is ProposalState.APPROVED
                                      and proposal.is_action), None)
    body = _TEMPLATES.get_template("review.html").render(
        pending=[{
            "p": p, "summary": _summary(p), "rationale": _rationale_html(p.rationale),
            "chart": Markup(backtest_svg(p.backtest)) if p.backtest else None,
        } for p in pending],
        decided=decided, last_event=last_event, approver=approver, reviewer=who.name, csrf_token=csrf,
        message=message or request.query_params.get("msg", ""), error=error,
    )
    return HTMLResponse(body, status_code=status)


@page.get("", response_class=HTMLResponse)
def review(request: Request, svc: ProposalService = Depends(proposal_service),
           who: Principal = Depends(require(Scope.REVIEW, html=True))) -> HTMLResponse:
    """The page: pending proposals with their charts, and recent decisions (signed-in reviewers)."""
    return _render(svc, request, who)


@page.post("/login", dependencies=[Depends(public("the sign-in form: it checks the token it is given"))])
def login(
    request: Request, token: str = Form(""), csrf_token: str = Form(""), next_path: str = Form("/review"),
) -> Response:
    """Check a token and start a server-side session (the cookie holds a random id, not the token)."""
    auth = authenticator_of(request)
    expected = request.cookies.get(CSRF_COOKIE, "")
    if auth.same_origin(request) is False or not expected or not hmac.compare_digest(
            csrf_token.encode(), expected.encode()):
        return signin_page(request, "This sign-in form did not come from this page: sign in here.",
                           status=403, next_path=next_path)
    principal = auth.principal_for(token.strip()) if token.strip() else None
    if principal is None:
        return signin_page(request, "Unknown token: use your token from AUGUR_REVIEWER_TOKENS "
                           "or AUGUR_API_TOKENS.", status=401, next_path=next_path)
    sid, _session = auth.sessions.create(principal)
    target = _safe_next(next_path)
    sep = "&" if "?" in target else "?"
    note = quote(f"Signed in as {principal.name}")
    response = RedirectResponse(f"{target}{sep}msg={note}", status_code=303)
    response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="lax", path="/",
                        secure=_secure(request), max_age=int(auth.sessions.ttl_seconds))
    response.delete_cookie(CSRF_COOKIE, path="/review")
    return response


@page.post("/logout", dependencies=[Depends(authenticated())])
def logout(request: Request) -> Response:
    """End the session."""
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        authenticator_of(request).sessions.end(sid)
    response = RedirectResponse("/review?msg=Signed+out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@page.post("/{proposal_id}/{action}")
def decide(
    request: Request, proposal_id: str, action: str, comment: str = Form(""),
    svc: ProposalService = Depends(proposal_service),
    who: Principal = Depends(require(Scope.REVIEW, html=True)),
) -> Response:
    """Approve or reject from the page, as the signed-in reviewer (CSRF-checked by the dependency)."""
    if action not in ("approve", "reject"):
        message = f"unknown action {action!r}: use approve or reject"
        return _render(svc, request, who, message, status=404, error=True)
    try:
        reviewer = svc.reviewers.allow(who.name)
        outcome = svc.decide_as(proposal_id, action, reviewer, comment.strip())
    except ReviewError as exc:
        return _render(svc, request, who, str(exc), status=exc.status_code, error=True)
    state = outcome.proposal.state.value
    note = f"{proposal_id} is {state}" + ("" if outcome.changed else " (no change: already decided)")
    return RedirectResponse(f"/review?msg={quote(note)}", status_code=303)
