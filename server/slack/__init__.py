"""The Slack app: signed HTTP endpoints (or Socket Mode), threaded reports, proposal buttons, questions.

- :mod:`~augur.server.web.slack_routes` — ``POST /slack/events|commands|interactive``.
- :mod:`~augur.server.slack.handlers` — what each request does (shared with Socket Mode).
- :mod:`~augur.server.slack.socket_mode` — the same handlers over a Socket Mode connection.
- :mod:`~augur.server.slack.notifier` — one thread per incident: report, proposals, postmortem.
- :mod:`~augur.server.slack.approvals` — Approve / Reject through the rules' review flow.
- :mod:`~augur.server.slack.blocks` — Block Kit messages.
- :mod:`~augur.server.slack.signature` — request signature verification.
"""
