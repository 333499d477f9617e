"""The scopes an API token can carry, and which of augur's older token settings map to which.

A token is a credential with a name (who) and scopes (what it may do):

- ``alerts:write`` — post Alertmanager webhooks (``POST /v1/alertmanager``); what Alertmanager's
  ``http_config.authorization`` carries.
- ``read`` — read incidents, reports, postmortems, proposals, ``/metrics`` and the API schema.
- ``investigate`` — open an investigation (``POST /v1/investigations``) or regenerate a
  postmortem (``?refresh=true``): things that cost CPU and post to Slack.
- ``review`` — approve or reject rule proposals (the API and the ``/review`` page).
- ``verdict`` — judge an investigation's root cause: right, wrong (naming the real one) or not
  actionable (``POST /v1/incidents/{id}/verdict``, the incident page, ``augur verdict``). Its own
  scope, not ``review``: judging a report is an on-call engineer's everyday act and changes only
  what augur learns from (a bounded ranking prior), while approving a proposal changes the alert
  rules in production; a team can grant the first without the second. Reviewers get it too.

``AUGUR_WEBHOOK_TOKEN`` is the token named ``alertmanager`` with ``alerts:write``;
each ``AUGUR_REVIEWER_TOKENS`` entry is a token named after its reviewer with ``review``,
``verdict`` and ``read`` (a reviewer reads what they approve, and judges reports).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ALL_SCOPES", "REVIEWER_SCOPES", "WEBHOOK_PRINCIPAL", "WEBHOOK_SCOPES", "Scope"]


class Scope(StrEnum):
    """What a token may do."""

    ALERTS_WRITE = "alerts:write"
    READ = "read"
    INVESTIGATE = "investigate"
    REVIEW = "review"
    VERDICT = "verdict"


#: Every scope (the development mode's loopback principal has them all).
ALL_SCOPES: frozenset[Scope] = frozenset(Scope)
#: The principal ``AUGUR_WEBHOOK_TOKEN`` authenticates, and its scopes.
WEBHOOK_PRINCIPAL = "alertmanager"
WEBHOOK_SCOPES: frozenset[Scope] = frozenset({Scope.ALERTS_WRITE})
#: The scopes of a reviewer's token from ``AUGUR_REVIEWER_TOKENS``.
REVIEWER_SCOPES: frozenset[Scope] = frozenset({Scope.REVIEW, Scope.VERDICT, Scope.READ})
