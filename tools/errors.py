"""augur's one error root, with the three kinds of failure a caller acts on differently.

- :class:`BadInput` — what was asked is wrong (an argument, a file, a setting, a request): retrying
  will not help; fix the input. HTTP 4xx, CLI exit 2, a job is parked at once.
- :class:`BackendUnavailable` — something augur depends on did not answer (Prometheus, the store,
  an LLM endpoint, MLflow, the NVML driver): the same call may work later. HTTP 503, CLI exit 69,
  a job is retried with back-off.
- :class:`Bug` — augur itself went wrong: report it. HTTP 500, CLI exit 70, a job is retried and
  then parked with the traceback.

Every exception class augur defines derives from one of the three (``tests/test_errors.py`` checks
it), often together with the built-in it always was (``class TriageError(BadInput, ValueError)``),
so existing ``except ValueError`` callers keep working. :func:`kind_of` classifies anything.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["AugurError", "BackendUnavailable", "BadInput", "Bug", "ErrorKind", "kind_of"]


class ErrorKind(StrEnum):
    """What a caller does about a failure."""

    BAD_INPUT = "bad_input"  # fix the input; do not retry
    UNAVAILABLE = "unavailable"  # a backend did not answer; retry later
    BUG = "bug"  # augur's own fault; report it


class AugurError(Exception):
    """The root of augur's exceptions. ``kind`` says what the caller should do."""

    kind: ErrorKind = ErrorKind.BUG


class BadInput(AugurError):
    """The input is wrong; the message says what to change."""

    kind = ErrorKind.BAD_INPUT


class BackendUnavailable(AugurError):
    """A backend did not answer; the message names it and what to check."""

    kind = ErrorKind.UNAVAILABLE


class Bug(AugurError):
    """augur went wrong where it should not have; the message says where."""

    kind = ErrorKind.BUG


def kind_of(exc: BaseException) -> ErrorKind:
    """The kind of any exception: an :class:`AugurError`'s own, else a bug (nothing anticipated it)."""
    return exc.kind if isinstance(exc, AugurError) else ErrorKind.BUG
