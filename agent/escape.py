"""Escaping untrusted text (label values, alert names, questions, log lines) for what augur writes.

Telemetry is untrusted: a label value ``<!channel>`` must not ping a Slack channel, a link
``<https://evil.example|approve here>`` must not render as the bot's own link, a backtick in an
alert name must not break out of inline code, a pipe must not add a table column, and a regex
metacharacter in a name put into an Alertmanager ``=~`` matcher must match only itself. Each
writer escapes every interpolated value with the function for its format, never the template:

- Markdown: :func:`md_code` (inline code that holds any text), :func:`md_text` (text that
  cannot open code, links, HTML or table cells, or start a new block).
- Slack ``mrkdwn``: :func:`slack_text` (``&``, ``<``, ``>`` as Slack asks), :func:`slack_code`,
  :func:`slack_link` (a link whose URL and label cannot be split or forged).
- Alertmanager matchers: :mod:`augur.rules.matchers` (``regexp.QuoteMeta`` for ``=~``).

HTML is escaped by Jinja's autoescape and :func:`html.escape` where pages are written.
"""

from __future__ import annotations

import re
from urllib.parse import quote

__all__ = ["md_code", "md_text", "slack_code", "slack_link", "slack_text"]

_MD_SPECIAL = re.compile(r"([\\`\[\]<>|])")


def md_text(text: object) -> str:
    """``text`` for Markdown prose or a table cell: backslash, backticks, brackets, angle brackets
    and pipes escaped (no code span, link, HTML or table column can open; ``*`` and ``_`` stay, they
    only emphasise); line breaks become spaces (no new heading or list can start)."""
    flat = " ".join(str(text if text is not None else "").splitlines())
    return _MD_SPECIAL.sub(r"\\\1", flat)


def md_code(text: object, *, cell: bool = False) -> str:
    """``text`` as Markdown inline code, whatever it holds: fenced by a backtick run longer than any
    inside it (CommonMark), padded when it starts or ends with a backtick; in a table ``cell`` its
    pipes are escaped (GFM reads ``\\|`` in a cell's code as a pipe)."""
    value = " ".join(str(text if text is not None else "").splitlines())
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    body = value.replace("|", "\\|") if cell else value
    return f"{fence}{pad}{body}{pad}{fence}"


def slack_text(text: object) -> str:
    """``text`` for Slack ``mrkdwn``: ``&``, ``<`` and ``>`` as entities, so ``<!channel>``,
    ``<@U123>`` and ``<url|label>`` show as typed and do nothing."""
    value = str(text if text is not None else "")
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_code(text: object) -> str:
    """``text`` as Slack inline code: escaped, and its backticks replaced (mrkdwn has no escape for
    them) so it cannot close the code span."""
    return "`" + slack_text(text).replace("`", "ʼ").replace("\n", " ") + "`"


def slack_link(url: str, label: object) -> str:
    """A Slack link ``<url|label>``: the URL's ``|``, ``<``, ``>`` and spaces percent-encoded and ``&``
    escaped, the label escaped (a ``|`` in it cannot start a second label)."""
    safe_url = quote(url, safe=":/?#[]@!$&'()*+,;=%~-._").replace("&", "&amp;")
    return f"<{safe_url}|{slack_text(label).replace('|', '¦')}>"
