"""Reading a JSON answer from an HTTP backend, with the failures every adapter reports alike.

:meth:`JsonBackend.get` sends one ``GET`` (through the adapter's client, or one opened for the
call) and turns what went wrong on the way into the error the tool contract expects, naming the
backend and what to check:

- no answer within the timeout: :class:`~augur.tools.base.ToolError`, retryable;
- no connection (refused, unreachable, reset): :class:`~augur.tools.base.Unavailable`,
  retryable — the backend is configured but down, an outage;
- an answer that is not JSON (a proxy's error page, the wrong port): ``ToolError`` with the
  HTTP status and the first characters of the body.

What a JSON answer means — which statuses are fine, what a 404 says, where the error message
is — is each backend's own language: ``get`` returns a :class:`JsonAnswer`, and the adapter reads
it and raises :meth:`JsonAnswer.refused` for a status it does not accept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from augur.tools.base import ToolError, Unavailable

__all__ = ["JsonAnswer", "JsonBackend"]

#: How much of a body that is not JSON an error quotes, and of a JSON error's detail.
_SNIPPET = 120
_DETAIL = 300


@dataclass(frozen=True, slots=True)
class JsonAnswer:
    """A backend's answer that parsed as JSON, whatever its status."""

    url: str
    status: int
    body: Any

    def refused(self, detail: str, hint: str = "") -> ToolError:
        """The error for a status the adapter does not accept:
        ``<url> answered HTTP <status>: <detail>[: <hint>]``."""
        text = f"{self.url} answered HTTP {self.status}: {detail.strip()[:_DETAIL]}"
        return ToolError(f"{text}: {hint}" if hint else text)


@dataclass(frozen=True, slots=True)
class JsonBackend:
    """An HTTP backend that answers JSON, and what to tell the reader when it does not.

    ``down`` is what to check when it cannot be reached (e.g. "is `mlflow server` running, and is
    AUGUR_MLFLOW_URL its tracking URI?"), ``not_json`` what to check when it answers something
    else, ``slow`` what to do when it does not answer in time (nothing said when empty).
    """

    name: str
    base_url: str
    timeout_s: float
    down: str
    not_json: str
    slow: str = ""

    async def get(self, http: httpx.AsyncClient | None, url: str, params: Mapping[str, Any]) -> JsonAnswer:
        """``GET url`` through ``http`` (``None``: a client opened and closed for this call)."""
        client = http or httpx.AsyncClient()
        try:
            response = await client.get(url, params=dict(params), timeout=self.timeout_s)
        except httpx.TimeoutException:
            late = f"{self.name} at {self.base_url} did not answer within {self.timeout_s:g} s"
            raise ToolError(f"{late}: {self.slow}" if self.slow else late, retryable=True) from None
        except httpx.TransportError as exc:
            raise Unavailable(
                f"cannot reach {self.name} at {self.base_url} ({type(exc).__name__}: {exc}): {self.down}",
                retryable=True,
            ) from None
        finally:
            if http is None:
                await client.aclose()
        try:
            body = response.json()
        except ValueError:
            snippet = " ".join(response.text.split())[:_SNIPPET]
            raise ToolError(
                f"{url} answered HTTP {response.status_code} with something that is not JSON "
                f"(starts {snippet!r}): {self.not_json}"
            ) from None
        return JsonAnswer(url, response.status_code, body)
