"""The HTTP application: :func:`create_app` builds a FastAPI app from settings, a store and job handlers.

Routers are listed in :data:`ROUTERS` — add yours there (one line). Each router reaches the app's
settings, store and metrics through ``Depends(augur.server.state.app_state)``. Every route
declares who may call it (``Depends(require(Scope.READ))`` and friends, :mod:`augur.server.web.auth`);
``create_app`` refuses to build an app with a route that declares nothing. With
``settings.worker_in_process`` the app also runs one worker in a thread for its lifetime (what
``augur serve`` does by default); tests usually turn that off and drive a
:class:`~augur.server.jobs.worker.Worker` themselves.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response

from augur.agent.redact import add_patterns
from augur.server.errors import install_error_handlers
from augur.server.intake.group_commit import GroupCommitter
from augur.server.intake.grouping import GroupingPolicy
from augur.server.intake.intake_process import IntakeConfig, IntakeProcess
from augur.server.jobs.worker import JobHandler, Worker
from augur.server.metrics import Metrics, RequestMetricsMiddleware
from augur.server.scopes import Scope
from augur.server.settings import Settings
from augur.server.state import AppState, default_handlers
from augur.server.store.database import Store
from augur.server.store.queue import JobQueue
from augur.server.web import (
    incidents,
    investigations,
    ops,
    pages,
    postmortems,
    probe,
    proposals,
    review_page,
    slack_routes,
    verdicts,
    webhook,
)
from augur.server.web.auth import Authenticator, AuthError, check_routes, require
from augur.server.web.limits import RequestLimits

if TYPE_CHECKING:
    from augur.server.intake.alert_pull import PullLoop

__all__ = ["ROUTERS", "create_app", "open_store"]

log = logging.getLogger(__name__)

def _probe_router() -> APIRouter:
    """The GPU probe route, which needs ``read`` here (``augur probe`` serves it alone on GPU nodes)."""
    wrapped = APIRouter(dependencies=[Depends(require(Scope.READ))])
    wrapped.include_router(probe.router)
    return wrapped


#: Every router the app serves.
ROUTERS: list[APIRouter] = [
    ops.router,
    webhook.router,
    incidents.router,
    verdicts.router,
    investigations.router,
    proposals.router,
    review_page.page,
    _probe_router(),
    slack_routes.router,
    postmortems.router,
    pages.router,
]


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """The store the settings name, migrated to the latest schema."""
    return Store.open(
        settings.effective_database_url, migrate=migrate, sqlite_synchronous=settings.sqlite_synchronous
    )


def _intake_helper(settings: Settings, store: Store, policy: GroupingPolicy) -> IntakeProcess | None:
    """The helper process for huge notifications; none for an in-memory SQLite store (not shareable)."""
    url = store.engine.url
    if url.get_backend_name() == "sqlite" and (url.database or ":memory:") in (":memory:", ""):
        return None
    return IntakeProcess(IntakeConfig(
        url.render_as_string(hide_password=False), policy, settings.worker_max_attempts,
        tuple(settings.redact_patterns), {"sqlite_synchronous": settings.sqlite_synchronous}))


def _pull_loop(settings: Settings, store: Store, policy: GroupingPolicy, metrics: Metrics) -> PullLoop | None:
    """A started pull loop when ``alertmanager_url`` and ``alertmanager_pull_seconds`` are set, else None."""
    if not settings.alertmanager_url or settings.alertmanager_pull_seconds <= 0:
        return None
    import httpx

    from augur.server.intake.alert_pull import AlertPuller, PullLoop

    puller = AlertPuller(
        store, httpx.Client(), settings.alertmanager_url, policy, settings.worker_max_attempts,
        settings.alertmanager_pull_receiver,
    )
    loop = PullLoop(puller, settings.alertmanager_pull_seconds, metrics)
    loop.start()
    log.info(
        "pulling %s/api/v2/alerts every %g s", settings.alertmanager_url, settings.alertmanager_pull_seconds
    )
    return loop


def create_app(
    settings: Settings,
    store: Store | None = None,
    handlers: Mapping[str, JobHandler] | None = None,
) -> FastAPI:
    """An augur app. ``store`` defaults to :func:`open_store`; ``handlers`` to :func:`default_handlers`."""
    own_store = store is None
    the_store = store if store is not None else open_store(settings)
    job_handlers = dict(handlers) if handlers is not None else default_handlers(settings)
    metrics = Metrics(JobQueue(the_store))
    state = AppState(
        settings=settings,
        store=the_store,
        metrics=metrics,
        grouping=GroupingPolicy(
            component_labels=tuple(settings.group_labels),
            window=timedelta(seconds=settings.group_window_seconds),
        ),
        handlers=job_handlers,
    )
    state.committer = GroupCommitter(
        the_store, state.grouping, max_attempts=settings.worker_max_attempts, metrics=metrics,
        helper=_intake_helper(settings, the_store, state.grouping),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.dev_mode:
            log.warning("DEVELOPMENT MODE (AUGUR_DEV_MODE=true): loopback clients without a token may do "
                        "anything; never run it like this where others can reach the host")
        if not auth.has_tokens:
            log.warning("no API token is configured (AUGUR_API_TOKENS, AUGUR_WEBHOOK_TOKEN, "
                        "AUGUR_REVIEWER_TOKENS): %s", "only loopback clients in development mode get in"
                        if settings.dev_mode else "every request but /healthz and /readyz is refused")
        worker: Worker | None = None
        if settings.worker_in_process:
            worker = Worker(
                the_store,
                job_handlers,
                lease_seconds=settings.worker_lease_seconds,
                poll_seconds=settings.worker_poll_seconds,
                backoff_base_seconds=settings.worker_backoff_seconds,
                metrics=metrics,
            )
            worker.start()
        pull_loop = _pull_loop(settings, the_store, state.grouping, metrics)
        try:
            yield
        finally:
            if pull_loop is not None:
                pull_loop.stop()
                pull_loop.puller.client.close()
            if worker is not None:
                worker.stop()
            if state.committer is not None:
                state.committer.close()
            if own_store:
                the_store.dispose()

    add_patterns(settings.redact_patterns)
    auth = Authenticator.from_settings(settings)
    # No open /docs or /redoc; the schema is /openapi.json with the read scope (server/ops.py).
    app = FastAPI(
        title="augur",
        summary="Incident agent for AI/ML platforms: Alertmanager webhooks in, investigations out.",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.augur = state
    app.state.augur_auth = auth
    install_error_handlers(app)
    app.add_exception_handler(AuthError, _auth_error)
    for router in ROUTERS:
        app.include_router(router)
    check_routes(app)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestLimits, max_body_bytes=settings.http_max_body_bytes,
                       timeout_s=settings.http_body_timeout_seconds,
                       route_limits={"/v1/alertmanager": settings.webhook_max_bytes})
    return app


async def _auth_error(request: Request, exc: Exception) -> Response:
    """A refusal: JSON for the API, the sign-in page for HTML pages."""
    assert isinstance(exc, AuthError)
    if exc.html:
        message = exc.reason if exc.status == 403 else ""
        return review_page.signin_page(request, message, exc.status, exc.next_path)
    return exc.response()
