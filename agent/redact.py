"""Redaction: secrets are removed from everything augur shows or sends — one pass for every surface.

Telemetry is untrusted and leaky: log lines carry bearer tokens, connection strings carry
passwords, alert annotations carry e-mail addresses. Before a prompt leaves for an LLM endpoint
(which may be a hosted service), :func:`redact` replaces every secret-shaped substring with a
marker naming its kind, e.g. ``[REDACTED:bearer]``, so the model still sees *that* a token was
there (useful: "the request carried credentials") but never its value.

The patterns favour recall over precision: a false positive costs one hidden word in a prompt,
a false negative leaks a credential. Evidence ids (``ev-`` + 12 hex digits), PromQL and numbers
are left alone so that the LLM can still cite and reason.

:func:`redact_value` walks JSON-shaped data (dicts, lists, strings) and redacts every string,
including dictionary keys' values whose key names a secret (``{"password": "hunter2"}``).
:func:`redact_model` does it to a pydantic model (string fields only, types kept).

The same pass serves every output: LLM prompts, reports in all formats (the report is redacted
when it is assembled, so its JSON, Markdown, postmortem and Slack message inherit it), stored
alerts (labels and annotations at intake), API error reasons, the server's log lines
(:class:`RedactingFilter`), ``augur config`` and configuration errors. Deployments add their own
patterns with :func:`add_patterns` (``AUGUR_REDACT_PATTERNS``).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ["PATTERNS", "RedactingFilter", "Redactor", "add_patterns", "redact", "redact_model",
           "redact_value"]

M = TypeVar("M", bound=BaseModel)

# Key names whose values are secrets, in key=value, key: value and JSON forms. A key matches
# when it *ends* with one of these words (``db_password``, ``X-Api-Key``, ``aws_secret_access_key``),
# so ``prompt_tokens`` or ``author`` do not.
_SECRET_KEY = (
    r"(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|"
    r"secret[_-]?key|private[_-]?key|client[_-]?secret|authorization|credentials?|cookie|"
    r"session[_-]?id|signature)"
)

#: (kind, compiled pattern, replacement) in the order they are applied. Earlier patterns win:
#: private keys, JWTs and vendor keys before the generic bearer and key=value shapes, URL
#: credentials before e-mail addresses.
PATTERNS: list[tuple[str, re.Pattern[str], str]] = [
    ("private_key", re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE "
        r"KEY(?: BLOCK)?-----|\Z)", re.S), "[REDACTED:private_key]"),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), "[REDACTED:jwt]"),
    ("openai_key", re.compile(r"\bsk-(?:proj-|ant-|live-|svcacct-)?[A-Za-z0-9_-]{16,}"),
     "[REDACTED:api_key]"),
    ("slack_token", re.compile(r"\bx(?:ox[abpsore]|app)-[A-Za-z0-9-]{10,}"), "[REDACTED:slack_token]"),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
     "[REDACTED:github_token]"),
    ("gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), "[REDACTED:gitlab_token]"),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),
     "[REDACTED:aws_access_key]"),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"), "[REDACTED:api_key]"),
    ("stripe_key", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"), "[REDACTED:api_key]"),
    ("huggingface_token", re.compile(r"\bhf_[A-Za-z0-9]{30,}"), "[REDACTED:api_key]"),
    # An Authorization header's value is a credential whatever its scheme or length.
    ("bearer", re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?(?:[A-Za-z-]+\s+)?)"
                          r"(?!\[REDACTED)[^\s\"',;]+"), r"\1[REDACTED:bearer]"),
    ("bearer", re.compile(r"(?i)\b(bearer)(\s+)(?!\[REDACTED)[^\s\"',;]{8,}"), r"\1\2[REDACTED:bearer]"),
    # "basic", "token", "digest" are also ordinary words: only a value with a digit is a credential.
    ("bearer", re.compile(r"(?i)\b(basic|token|digest)(\s+)(?!\[REDACTED)"
                          r"(?=[^\s\"',;0-9]*[0-9])[^\s\"',;]{12,}"), r"\1\2[REDACTED:bearer]"),
    # The password runs to the last "@" before the host, so a password holding "@" is hidden whole.
    ("url_credentials", re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s/:@\[\]]*):(?!\[REDACTED)([^\s/]+)@(?=[^\s@/]*(?:[/?#\s\"']|$))"),
     r"\1\2:[REDACTED:password]@"),
    ("url_credentials", re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)(?!\[REDACTED)([^\s/:@]{16,})@"),
     r"\1[REDACTED:token]@"),
    # An AWS secret access key: 40 characters of base64 with both cases and a digit, standing alone.
    ("aws_secret_key", re.compile(r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]*[0-9])(?=[A-Za-z0-9/+]*[a-z])"
                                  r"(?=[A-Za-z0-9/+]*[A-Z])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"),
     "[REDACTED:aws_secret_key]"),
    ("key_value", re.compile(
        r"(?i)(?P<key>\b[\w.-]*" + _SECRET_KEY + r")(?P<sep>[\"']?\s*[:=]\s*[\"']?)"
        r"(?!\[REDACTED|(?:bearer|basic|token|digest)\s)(?P<value>[^\s\"',;&}\]]+)"),
     r"\g<key>\g<sep>[REDACTED:secret]"),
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
     "[REDACTED:email]"),
]

_SECRET_KEY_NAME = re.compile(r"(?i)" + _SECRET_KEY + r"$")


def add_patterns(patterns: Iterable[str]) -> None:
    """Also redact matches of these regular expressions (a deployment's own secret shapes), as
    ``[REDACTED:custom]``. Idempotent; an invalid pattern raises :class:`re.error`."""
    known = {p.pattern for kind, p, _ in PATTERNS if kind == "custom"}
    for pattern in patterns:
        if pattern and pattern not in known:
            PATTERNS.insert(0, ("custom", re.compile(pattern), "[REDACTED:custom]"))
            known.add(pattern)


@dataclass
class Redactor:
    """Applies :data:`PATTERNS` and counts what it removed, by kind (for the run's notes)."""

    counts: Counter[str] = field(default_factory=Counter)

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``[REDACTED:<kind>]``."""
        for kind, pattern, replacement in PATTERNS:
            text, n = pattern.subn(replacement, text)
            if n:
                self.counts[kind] += n
        return text

    def redact_value(self, value: Any) -> Any:
        """A copy of JSON-shaped ``value`` with every string redacted.

        A string under a key that names a secret (``password``, ``api_key``, ...) is replaced
        whole, whatever it looks like.
        """
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                if isinstance(key, str) and isinstance(item, str | int) and _SECRET_KEY_NAME.search(key) \
                        and not isinstance(item, bool) and str(item):
                    self.counts["key_value"] += 1
                    out[key] = "[REDACTED:secret]"
                else:
                    out[key] = self.redact_value(item)
            return out
        if isinstance(value, list | tuple):
            return [self.redact_value(item) for item in value]
        return value

    @property
    def total(self) -> int:
        """How many secrets were redacted so far."""
        return sum(self.counts.values())


def redact(text: str) -> str:
    """``text`` with every secret replaced by ``[REDACTED:<kind>]``."""
    return Redactor().redact(text)


def redact_value(value: Any) -> Any:
    """A copy of JSON-shaped ``value`` with every string (and every secret-named field) redacted."""
    return Redactor().redact_value(value)


def _strings(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return redactor.redact(value)
    if isinstance(value, dict):
        return {k: _strings(v, redactor) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings(v, redactor) for v in value]
    return value


def redact_model(model: M) -> M:
    """A copy of ``model`` with every string in it redacted (numbers, times and structure kept)."""
    data = model.model_dump(mode="json")
    cleaned = _strings(data, Redactor())
    return model if cleaned == data else type(model).model_validate(cleaned)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message (with its arguments) before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
