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


@dataclass(frozen=True, slots=True)
class _Needs:
    """What a pattern cannot match without: ``min_length`` characters, and one word of each group.

    Read off the pattern (literals it requires, its shortest match) and tested on the lower-cased
    text, so false only where the pattern cannot match.
    """

    groups: tuple[tuple[str, ...], ...] = ()
    min_length: int = 0

    def met_by(self, lowered: str) -> bool:
        """Whether the pattern may match the text whose lower-cased form is ``lowered``."""
        if len(lowered) < self.min_length:
            return False
        for words in self.groups:  # loops, not all(any(...)): this runs for every pattern and value
            for word in words:
                if word in lowered:
                    break
            else:
                return False
        return True


#: Each built-in pattern's :class:`_Needs`, by the pattern's ``id`` (hashing a compiled pattern
#: hashes its whole program, every time); the entry holds the pattern, so no other can take its
#: ``id``. A pattern without an entry (a deployment's own) always runs. Most label and annotation
#: values need none of the built-ins, and running twenty regular expressions over each (the
#: key=value one backtracks at every word) was most of the intake's cost for a new alert.
_NEEDS: dict[int, tuple[re.Pattern[str], _Needs]] = {}


def _builtin(kind: str, regex: str, replacement: str, needs: _Needs,
             flags: int = 0) -> tuple[str, re.Pattern[str], str]:
    pattern = re.compile(regex, flags)
    _NEEDS[id(pattern)] = (pattern, needs)
    return kind, pattern, replacement


_AWS_KEY_PREFIXES = ("akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "aipa")
# Every alternative of _SECRET_KEY contains one of these.
_SECRET_KEY_WORDS = ("pass", "pwd", "secret", "token", "key", "authorization", "credential", "cookie",
                     "session", "signature")

#: (kind, compiled pattern, replacement) in the order they are applied. Earlier patterns win:
#: private keys, JWTs and vendor keys before the generic bearer and key=value shapes, URL
#: credentials before e-mail addresses.
PATTERNS: list[tuple[str, re.Pattern[str], str]] = [
    _builtin("private_key",
             r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE "
             r"KEY(?: BLOCK)?-----|\Z)", "[REDACTED:private_key]",
             _Needs((("-----begin ",), ("private key",))), re.S),
    _builtin("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", "[REDACTED:jwt]",
             _Needs((("eyj",),))),
    _builtin("openai_key", r"\bsk-(?:proj-|ant-|live-|svcacct-)?[A-Za-z0-9_-]{16,}", "[REDACTED:api_key]",
             _Needs((("sk-",),))),
    _builtin("slack_token", r"\bx(?:ox[abpsore]|app)-[A-Za-z0-9-]{10,}", "[REDACTED:slack_token]",
             _Needs((("xox", "xapp-"),))),
    _builtin("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})",
             "[REDACTED:github_token]", _Needs((("gh", "github_pat_"),))),
    _builtin("gitlab_token", r"\bglpat-[A-Za-z0-9_-]{20,}", "[REDACTED:gitlab_token]",
             _Needs((("glpat-",),))),
    _builtin("aws_access_key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b",
             "[REDACTED:aws_access_key]", _Needs((_AWS_KEY_PREFIXES,), 20)),
    _builtin("google_api_key", r"\bAIza[0-9A-Za-z_-]{30,}", "[REDACTED:api_key]", _Needs((("aiza",),))),
    _builtin("stripe_key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}", "[REDACTED:api_key]",
             _Needs((("_live_", "_test_"),))),
    _builtin("huggingface_token", r"\bhf_[A-Za-z0-9]{30,}", "[REDACTED:api_key]", _Needs((("hf_",),))),
    # An Authorization header's value is a credential whatever its scheme or length.
    _builtin("bearer",
             r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?(?:[A-Za-z-]+\s+)?)(?!\[REDACTED)[^\s\"',;]+",
             r"\1[REDACTED:bearer]", _Needs((("authorization",),))),
    _builtin("bearer", r"(?i)\b(bearer)(\s+)(?!\[REDACTED)[^\s\"',;]{8,}", r"\1\2[REDACTED:bearer]",
             _Needs((("bearer",),))),
    # "basic", "token", "digest" are also ordinary words: only a value with a digit is a credential.
    _builtin("bearer", r"(?i)\b(basic|token|digest)(\s+)(?!\[REDACTED)(?=[^\s\"',;0-9]*[0-9])[^\s\"',;]{12,}",
             r"\1\2[REDACTED:bearer]", _Needs((("basic", "token", "digest"),))),
    # The password runs to the last "@" before the host, so a password holding "@" is hidden whole.
    _builtin("url_credentials",
             r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s/:@\[\]]*):(?!\[REDACTED)([^\s/]+)@(?=[^\s@/]*(?:[/?#\s\"']|$))",
             r"\1\2:[REDACTED:password]@", _Needs((("://",), ("@",)))),
    _builtin("url_credentials", r"(?i)\b([a-z][a-z0-9+.-]*://)(?!\[REDACTED)([^\s/:@]{16,})@",
             r"\1[REDACTED:token]@", _Needs((("://",), ("@",)))),
    # An AWS secret access key: 40 characters of base64 with both cases and a digit, standing alone.
    _builtin("aws_secret_key",
             r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]*[0-9])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*[A-Z])"
             r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])", "[REDACTED:aws_secret_key]", _Needs(min_length=40)),
    _builtin("key_value",
             r"(?i)(?P<key>\b[\w.-]*" + _SECRET_KEY + r")(?P<sep>[\"']?\s*[:=]\s*[\"']?)"
             r"(?!\[REDACTED|(?:bearer|basic|token|digest)\s)(?P<value>[^\s\"',;&}\]]+)",
             r"\g<key>\g<sep>[REDACTED:secret]",
             _Needs((_SECRET_KEY_WORDS, (":", "=")))),
    _builtin("email", r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
             "[REDACTED:email]", _Needs((("@",), (".",)))),
]

#: One search that no built-in pattern can match without: a word of each one's first group, or
#: the length of those that need no word.
_ANY_BUILTIN_WORD = re.compile("|".join(sorted(
    {re.escape(word) for _, needs in _NEEDS.values() if needs.groups for word in needs.groups[0]})))
_ANY_BUILTIN_LENGTH = min(needs.min_length for _, needs in _NEEDS.values() if not needs.groups)

_SECRET_KEY_NAME = re.compile(r"(?i)" + _SECRET_KEY + r"$")


def add_patterns(patterns: Iterable[str]) -> None:
    """Also redact matches of these regular expressions (a deployment's own secret shapes), as
    ``[REDACTED:custom]``. Idempotent; an invalid pattern raises :class:`re.error`."""
    known = {p.pattern for kind, p, _ in PATTERNS if kind == "custom"}
    for pattern in patterns:
        if pattern and pattern not in known:
            PATTERNS.insert(0, ("custom", re.compile(pattern), "[REDACTED:custom]"))
            known.add(pattern)


def _redact(text: str, counts: Counter[str] | None) -> str:
    """``text`` with every secret replaced by ``[REDACTED:<kind>]``, counted by kind in ``counts``.

    A built-in pattern is skipped when the text lacks what it needs (:data:`_NEEDS`), tested on the
    text as the earlier patterns left it. Only ASCII text is tested so: for it, a case-insensitive
    literal is in the text exactly when it is in the lower-cased text (under ``re.IGNORECASE``,
    ``ſ`` matches ``s`` and ``K`` matches ``k``; ``str.lower`` keeps them apart).
    """
    lowered = text.lower() if text.isascii() else None
    none_builtin = lowered is not None and len(lowered) < _ANY_BUILTIN_LENGTH \
        and _ANY_BUILTIN_WORD.search(lowered) is None
    for kind, pattern, replacement in PATTERNS:
        if lowered is not None and (entry := _NEEDS.get(id(pattern))) is not None and entry[0] is pattern \
                and (none_builtin or not entry[1].met_by(lowered)):
            continue
        text, n = pattern.subn(replacement, text)
        if n:
            if counts is not None:
                counts[kind] += n
            lowered = text.lower() if text.isascii() else None
            none_builtin = False
    return text


@dataclass
class Redactor:
    """Applies :data:`PATTERNS` and counts what it removed, by kind (for the run's notes)."""

    counts: Counter[str] = field(default_factory=Counter)

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``[REDACTED:<kind>]``."""
        return _redact(text, self.counts)

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
    return _redact(text, None)


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
