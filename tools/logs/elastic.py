"""Elasticsearch as a log backend, through the official ``elasticsearch`` 8 client (passed in).

One ``_search`` request answers a :class:`~augur.tools.logs.backend.LogQuery`: a ``bool`` query
with a ``range`` on the timestamp, ``term`` filters (case-insensitive) and, when there is query
text, a ``query_string`` over the message with ``AND`` as the default operator (the same meaning
as the SQLite store's FTS5 query); a ``date_histogram`` (``fixed_interval``, empty buckets kept by
``extended_bounds``) for counts over time; one ``terms`` aggregation per field for the top values;
and up to ``max_docs`` hits ranked by ``_score`` (BM25), newest first without query text.

Field names follow the Elastic Common Schema by default (``@timestamp``, ``message``,
``log.level``, ``service.name``, ``host.name``); pass :class:`EsFields` for other mappings.
Levels of returned lines are normalised as the SQLite store stores them (``WARN`` -> ``warning``);
top values show what the index holds, and ``term`` filters match it case-insensitively.
Failures become reasons: connection refused -> ``Unavailable``; timeout, 4xx/5xx (with
Elasticsearch's own ``reason``), a server that is not Elasticsearch, or a body that is not a
search response -> ``ToolError``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from augur.tools.base import ToolError, Unavailable
from augur.tools.logs.backend import LogPage, LogQuery, LogRecord
from augur.tools.logs.lines import normalise_level, parse_time_text

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

__all__ = ["MAX_RESULT_WINDOW", "ElasticsearchLogBackend", "EsFields"]

#: Elasticsearch's default ``index.max_result_window``: a search returns at most this many hits.
MAX_RESULT_WINDOW = 10_000


@dataclass(frozen=True, slots=True)
class EsFields:
    """Where the logical fields live in the documents (ECS names by default)."""

    timestamp: str = "@timestamp"
    message: str = "message"
    level: str = "log.level"
    service: str = "service.name"
    host: str = "host.name"
    #: Other names a query may use, mapped to document fields (e.g. a text field's ``.keyword``).
    aliases: dict[str, str] = field(default_factory=dict)

    def of(self, name: str) -> str:
        """The document field for a logical or alias name; other names are used as they are."""
        logical = {"level": self.level, "service": self.service, "host": self.host, "message": self.message}
        return logical.get(name) or self.aliases.get(name, name)


def _get(source: dict[str, Any], dotted: str) -> Any:
    """A field from ``_source``, written flat (``"log.level"``) or nested (``{"log": {"level"}}``)."""
    if dotted in source:
        return source[dotted]
    node: Any = source
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, str | int | float | bool):
            out[f"{prefix}{key}"] = value
    return out


class ElasticsearchLogBackend:
    """A :class:`~augur.tools.logs.backend.LogBackend` over an Elasticsearch index pattern."""

    def __init__(
        self, client: Elasticsearch, *, index: str = "logs-*", fields: EsFields | None = None,
        timeout_s: float = 20.0, url: str | None = None, kibana_url: str | None = None,
    ) -> None:
        self.client = client
        self.kibana_url = kibana_url.rstrip("/") if kibana_url else None
        self.index = index
        self.fields = fields or EsFields()
        self.timeout_s = timeout_s
        self.url = url
        self.description = f"elasticsearch:{url or 'cluster'}/{index}"

    def source_url(self, query: LogQuery) -> str | None:
        """Kibana Discover on the same window and query (filters folded into Lucene), if Kibana is known."""
        if not self.kibana_url:
            return None
        clauses = [f'{self.fields.of(k)}:"{_lucene_escape(v)}"' for k, v in sorted(query.filters.items())]
        if query.text:
            clauses.append(f"({query.text})")
        lucene = " AND ".join(clauses)
        state_g = f"(time:(from:{_rison(_iso_ms(query.start))},to:{_rison(_iso_ms(query.end))}))"
        state_a = f"(query:(language:lucene,query:{_rison(lucene)}))"
        return f"{self.kibana_url}/app/discover#/?_g={quote(state_g, safe='')}&_a={quote(state_a, safe='')}"

    def request_body(self, q: LogQuery) -> dict[str, Any]:
        """The ``_search`` body for ``q`` (public so tests and people can read what is asked)."""
        f = self.fields
        start_ms, end_ms = int(q.start * 1000), int(q.end * 1000)
        filters: list[dict[str, Any]] = [
            {"range": {f.timestamp: {"gte": start_ms, "lte": end_ms, "format": "epoch_millis"}}}
        ]
        for name, value in sorted(q.filters.items()):
            filters.append({"term": {f.of(name): {"value": value, "case_insensitive": True}}})
        must: list[dict[str, Any]] = []
        if q.text:
            must.append({"query_string": {"query": q.text, "default_field": f.message,
                                          "default_operator": "AND"}})
        sort: list[Any] = [{f.timestamp: {"order": "desc"}}]
        if q.oldest_first:
            sort = [{f.timestamp: {"order": "asc"}}]
        elif q.text:
            sort.insert(0, "_score")
        body: dict[str, Any] = {
            "query": {"bool": {"filter": filters, "must": must}},
            "size": min(q.max_docs, MAX_RESULT_WINDOW),
            "sort": sort,
            "track_total_hits": True,
        }
        if q.aggregate:
            aggs: dict[str, Any] = {
                "over_time": {"date_histogram": {
                    "field": f.timestamp, "fixed_interval": f"{round(q.bucket_s * 1000)}ms",
                    "min_doc_count": 0,
                    "extended_bounds": {"min": start_ms, "max": end_ms},
                }},
            }
            for i, name in enumerate(q.top_fields):
                aggs[f"top_{i}"] = {"terms": {"field": f.of(name), "size": q.top_n}}
            body["aggs"] = aggs
        return body

    async def search(self, query: LogQuery) -> LogPage:
        """Run the search in a worker thread (the client is synchronous)."""
        body = self.request_body(query)
        raw = await asyncio.to_thread(self._call, body)
        return self._parse(raw, query)

    def _call(self, body: dict[str, Any]) -> Any:
        from elasticsearch import (
            ApiError,
            AuthenticationException,
            AuthorizationException,
            ConnectionError,
            ConnectionTimeout,
            NotFoundError,
            SerializationError,
            TransportError,
            UnsupportedProductError,
        )

        where = self.url or "the configured Elasticsearch"
        try:
            client = self.client.options(request_timeout=self.timeout_s)
            return client.search(index=self.index, **body).body
        except ConnectionTimeout:
            raise ToolError(
                f"Elasticsearch at {where} did not answer within {self.timeout_s:g} s: narrow the window, "
                "add filters, or retry when the cluster is less loaded"
            ) from None
        except ConnectionError as exc:
            raise Unavailable(
                f"cannot reach Elasticsearch at {where} ({exc.message}): check that it is running and "
                "that AUGUR_ELASTICSEARCH_URL is right"
            ) from None
        except UnsupportedProductError:
            raise ToolError(
                f"the server at {where} is not Elasticsearch (no X-Elastic-Product header): point "
                "AUGUR_ELASTICSEARCH_URL at an Elasticsearch 8 node"
            ) from None
        except NotFoundError as exc:
            raise Unavailable(
                f"Elasticsearch has no index matching {self.index!r} ({_es_reason(exc)}): check the "
                "index pattern and that logs are shipped"
            ) from None
        except (AuthenticationException, AuthorizationException) as exc:
            raise ToolError(
                f"Elasticsearch refused access (HTTP {exc.meta.status}: {_es_reason(exc)}): check the "
                "credentials configured for it and the read privilege on the index"
            ) from None
        except ApiError as exc:
            hint = ("fix the query string (Lucene syntax: words, \"phrases\", AND/OR/NOT)"
                    if exc.meta.status == 400 else "retry later or check the cluster's health")
            raise ToolError(
                f"Elasticsearch answered HTTP {exc.meta.status}: {_es_reason(exc)}: {hint}"
            ) from None
        except SerializationError as exc:
            raise ToolError(
                f"Elasticsearch at {where} answered something that is not JSON ({exc}): check that the "
                "URL points at Elasticsearch and not at a proxy's error page"
            ) from None
        except TransportError as exc:
            raise ToolError(f"the request to Elasticsearch at {where} failed: {exc}") from None

    def _parse(self, raw: Any, q: LogQuery) -> LogPage:
        f = self.fields
        try:
            hits = raw["hits"]
            total_obj = hits["total"]
            if isinstance(total_obj, dict):
                total, lower = int(total_obj["value"]), total_obj.get("relation") == "gte"
            else:
                total, lower = int(total_obj), False
            records: list[LogRecord] = []
            for hit in hits["hits"]:
                source = hit["_source"]
                if not isinstance(source, dict):
                    raise TypeError("_source is not an object")
                ts = parse_time_text(_get(source, f.timestamp))
                if ts is None:
                    continue  # a document without a readable time cannot be placed in the window
                logical = {f.timestamp, f.message, f.level, f.service, f.host}
                level, service, host = (_get(source, f.level), _get(source, f.service), _get(source, f.host))
                records.append(LogRecord(
                    ts=ts, message=str(_get(source, f.message) or ""), level=normalise_level(level),
                    service=None if service is None else str(service),
                    host=None if host is None else str(host),
                    id=str(hit.get("_id", "")),
                    fields={k: v for k, v in _flatten(source).items() if k not in logical},
                ))
            buckets: list[tuple[float, int]] = []
            top: dict[str, list[tuple[str, int]]] = {}
            if q.aggregate:
                aggs = raw["aggregations"]
                buckets = [(float(b["key"]) / 1000.0, int(b["doc_count"]))
                           for b in aggs["over_time"]["buckets"]]
                for i, name in enumerate(q.top_fields):
                    top[name] = [(str(b["key"]), int(b["doc_count"])) for b in aggs[f"top_{i}"]["buckets"]]
        except (KeyError, TypeError, ValueError) as exc:
            snippet = str(raw)[:200]
            raise ToolError(
                f"Elasticsearch answered something that is not a search response ({type(exc).__name__}: "
                f"{exc}; got {snippet!r}): check that the URL points at Elasticsearch 8"
            ) from None
        return LogPage(
            total=total, records=records, buckets=buckets, top_values=top, total_is_lower_bound=lower
        )


def _iso_ms(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rison(text: str) -> str:
    """A string in Rison, the URL state encoding Kibana reads: quoted, with ``!`` and ``'`` escaped."""
    return "'" + text.replace("!", "!!").replace("'", "!'") + "'"


def _lucene_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _es_reason(exc: Any) -> str:
    """Elasticsearch's own explanation from an error body (root_cause reason), else the message."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        causes = error.get("root_cause") or []
        if causes and isinstance(causes[0], dict) and causes[0].get("reason"):
            return f"{causes[0].get('type', 'error')}: {causes[0]['reason']}"
        if error.get("reason"):
            return f"{error.get('type', 'error')}: {error['reason']}"
    return str(getattr(exc, "message", exc))
