"""Postmortems over HTTP, written by :func:`augur.server.jobs.postmortems.generate`.

``GET /v1/incidents/{id}/postmortem.md|.html|.json`` and ``.../postmortem/{chart file}``
(generated on first request if the job has not run; ``?refresh=true`` regenerates, which needs
the ``investigate`` scope; reading needs ``read``).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse

from augur.server.errors import ApiError
from augur.server.jobs.postmortems import generate, postmortem_dir
from augur.server.scopes import Scope
from augur.server.state import AppState, app_state
from augur.server.store.verdicts import latest_verdicts
from augur.server.validation import IncidentId
from augur.server.web.auth import Principal, require

__all__ = ["router"]

log = logging.getLogger(__name__)
router = APIRouter(tags=["postmortems"])
_CHART_FILE = re.compile(r"^[a-z0-9_-]+\.(png|svg|json)$")


def _may_refresh(who: Principal, refresh: bool) -> None:
    """``?refresh=true`` regenerates (seconds of CPU, Prometheus queries): it needs ``investigate``."""
    if refresh and Scope.INVESTIGATE not in who.scopes:
        raise ApiError(403, "forbidden", f"{who.name!r} may read this postmortem but not regenerate it: "
                       "?refresh=true needs the 'investigate' scope")


def _stale(state: AppState, incident_id: int, written: Path) -> bool:
    """Whether a verdict was given (or changed) since the postmortem was written: it shows the latest."""
    judged = latest_verdicts(state.store, [incident_id]).get(incident_id)
    return judged is not None and judged.at.timestamp() > written.stat().st_mtime


def _files(state: AppState, incident_id: int, refresh: bool) -> Path:
    target = postmortem_dir(state.settings, incident_id)
    written = target / "postmortem.json"
    if refresh or not written.exists() or _stale(state, incident_id, written):
        try:
            generate(state.settings, state.store, incident_id)
        except LookupError as exc:
            raise ApiError(404, "incident_not_found", str(exc)) from None
    return target


@router.get(
    "/v1/incidents/{incident_id}/postmortem.md",
    response_class=PlainTextResponse,
    summary="Postmortem (Markdown)",
)
async def postmortem_markdown(
    incident_id: IncidentId, refresh: bool = Query(default=False), state: AppState = Depends(app_state),
    who: Principal = Depends(require(Scope.READ)),
) -> PlainTextResponse:
    """The incident's postmortem as Markdown (generated on first request)."""
    _may_refresh(who, refresh)
    target = await run_in_threadpool(_files, state, incident_id, refresh)
    return PlainTextResponse(
        (target / "postmortem.md").read_text(), media_type="text/markdown; charset=utf-8"
    )


@router.get(
    "/v1/incidents/{incident_id}/postmortem.html", response_class=HTMLResponse, summary="Postmortem (HTML)"
)
async def postmortem_html(
    incident_id: IncidentId, refresh: bool = Query(default=False), state: AppState = Depends(app_state),
    who: Principal = Depends(require(Scope.READ, html=True)),
) -> HTMLResponse:
    """The incident's postmortem as an HTML page with its charts."""
    _may_refresh(who, refresh)
    target = await run_in_threadpool(_files, state, incident_id, refresh)
    return HTMLResponse((target / "postmortem.html").read_text())


@router.get("/v1/incidents/{incident_id}/postmortem.json", summary="Postmortem (JSON)")
async def postmortem_json(
    incident_id: IncidentId, refresh: bool = Query(default=False), state: AppState = Depends(app_state),
    who: Principal = Depends(require(Scope.READ)),
) -> JSONResponse:
    """The incident's postmortem as structured JSON (with the evidence its sentences cite)."""
    _may_refresh(who, refresh)
    target = await run_in_threadpool(_files, state, incident_id, refresh)
    return JSONResponse(json.loads((target / "postmortem.json").read_text()))


@router.get("/v1/incidents/{incident_id}/postmortem/{name}", summary="Postmortem chart file",
            dependencies=[Depends(require(Scope.READ))])
async def postmortem_file(incident_id: IncidentId, name: str,
                          state: AppState = Depends(app_state)) -> FileResponse:
    """A chart of the postmortem (``chain.png``, ``chain.svg``, ``chain.json``)."""
    if not _CHART_FILE.match(name):
        raise ApiError(404, "not_found", f"{name!r} is not a postmortem chart; see the postmortem's `charts`")
    target = await run_in_threadpool(_files, state, incident_id, False)
    path = target / name
    if not path.is_file():
        raise ApiError(404, "not_found", f"postmortem of incident {incident_id} has no {name}")
    return FileResponse(path)
