"""The scopes an API token can carry, and which of augur's older token settings map to which.

A token is a credential with a name (who) and scopes (what it may do):

- ``alerts:write`` — post Alertmanager webhooks (``POST /v1/alertmanager``); what Alertmanager's
  ``http_config.authorization`` carries.
- ``read`` — read incidents, reports, postmortems, proposals, ``/metrics`` and the API schema.
- ``investigate`` — open an investigation (``POST /v1/investigations``) or regenerate a
  postmortem (``?refresh=true``): things that cost CPU and post to Slack.
- ``review`` — approve or reject rule proposals (the API and the ``/review`` page).

``AUGUR_WEBHOOK_TOKEN`` is the token named ``alertmanager`` with ``alerts:write``;
each ``AUGUR_REVIEWER_TOKENS`` entry is a token named after its reviewer with ``review`` and
``read`` (a reviewer reads what they approve).
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


#: Every scope (the development mode's loopback principal has them all).
ALL_SCOPES: frozenset[Scope] = frozenset(Scope)
#: The principal ``AUGUR_WEBHOOK_TOKEN`` authenticates, and its scopes.
WEBHOOK_PRINCIPAL = "alertmanager"
WEBHOOK_SCOPES: frozenset[Scope] = frozenset({Scope.ALERTS_WRITE})
#: The scopes of a reviewer's token from ``AUGUR_REVIEWER_TOKENS``.
REVIEWER_SCOPES: frozenset[Scope] = frozenset({Scope.REVIEW, Scope.READ})
