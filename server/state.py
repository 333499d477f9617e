"""The composition root: what every request handler can reach, and the job handlers of a process.

:class:`AppState` holds settings, store, metrics, grouping policy and job handlers;
:func:`default_handlers` puts together the handlers ``augur serve`` and ``augur worker`` run
(investigation, postmortem and retune, with the Slack hooks; an approved action's execution and an
approved rule's apply) — the one place that knows them all, so the worker, the jobs and Slack need
not know each other.

:func:`augur.server.web.app.create_app` puts one :class:`AppState` on ``app.state.augur``; routers get it
with ``state: AppState = Depends(app_state)`` — no globals, so several apps (tests) coexist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request

from augur.server.intake.grouping import GroupingPolicy
from augur.server.settings import Settings
from augur.server.store.database import Store

if TYPE_CHECKING:
    from augur.server.intake.group_commit import GroupCommitter
    from augur.server.jobs.worker import JobHandler
    from augur.server.metrics import Metrics

__all__ = ["AppState", "app_state", "default_handlers"]


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


def default_handlers(settings: Settings) -> dict[str, JobHandler]:
    """The job handlers of a standard augur process: investigate, postmortem and retune (each posting
    to Slack), and the check after an approved action ran."""
    from augur.server.jobs.action_check import action_check_handler
    from augur.server.jobs.investigations import investigation_handler
    from augur.server.jobs.postmortems import POSTMORTEM, postmortem_handler
    from augur.server.jobs.retune import RETUNE_JOB, retune_handler
    from augur.server.review import apply_rule_handler, execute_action_handler
    from augur.server.slack.notifier import notifier_from_settings, postmortem_hook, report_hook
    from augur.server.store.proposals import APPLY_RULE, EXECUTE_ACTION
    from augur.server.store.queue import ACTION_CHECK

    def post_proposals(store: Store, incident_id: int) -> None:
        notifier_from_settings(settings, store).post_proposals(incident_id)

    return {
        "investigate": investigation_handler(settings, on_report=report_hook(settings)),
        POSTMORTEM: postmortem_handler(settings, on_postmortem=postmortem_hook(settings)),
        EXECUTE_ACTION: execute_action_handler(settings),
        APPLY_RULE: apply_rule_handler(settings),
        ACTION_CHECK: action_check_handler(),
        RETUNE_JOB: retune_handler(settings,
                                   on_proposed=post_proposals if settings.slack_bot_token else None),
    }
