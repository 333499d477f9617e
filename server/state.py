"""What every request handler can reach: settings, store, metrics, grouping policy and job handlers.

:func:`augur.server.app.create_app` puts one :class:`AppState` on ``app.state.augur``; routers get it
with ``state: AppState = Depends(app_state)`` — no globals, so several apps (tests) coexist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request

from augur.server.grouping import GroupingPolicy
from augur.server.settings import Settings
from augur.server.store import Store

if TYPE_CHECKING:
    from augur.server.group_commit import GroupCommitter
    from augur.server.metrics import Metrics
    from augur.server.worker import JobHandler

__all__ = ["AppState", "app_state"]


@dataclass
class AppState:
    """The dependencies of one app instance."""

    settings: Settings
    store: Store
    metrics: Metrics
    grouping: GroupingPolicy
    handlers: dict[str, JobHandler] = field(default_factory=dict)
    #: Writes webhooks (batching concurrent ones); ``None`` writes each in its own transaction.
    committer: GroupCommitter | None = None


def app_state(request: Request) -> AppState:
    """FastAPI dependency: the :class:`AppState` of the app serving ``request``."""
    state: AppState = request.app.state.augur
    return state
