"""Redaction: secrets are removed from anything augur sends to an LLM.

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
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PATTERNS", "Redactor", "redact", "redact_value"]

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
    ("url_credentials", re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s/:@]*):([^\s/@]+)@"),
     r"\1\2:[REDACTED:password]@"),
    ("key_value", re.compile(
        r"(?i)(?P<key>\b[\w.-]*" + _SECRET_KEY + r")(?P<sep>[\"']?\s*[:=]\s*[\"']?)"
        r"(?!\[REDACTED|(?:bearer|basic|token|digest)\s)(?P<value>[^\s\"',;&}\]]+)"),
     r"\g<key>\g<sep>[REDACTED:secret]"),
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
     "[REDACTED:email]"),
]

_SECRET_KEY_NAME = re.compile(r"(?i)" + _SECRET_KEY + r"$")


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
