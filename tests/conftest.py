"""Shared fixtures. Fixtures that start real servers live in tests/fixtures/."""

from __future__ import annotations

from tests.fixtures.openai_endpoint import _endpoint_server, llm_endpoint
from tests.fixtures.processes import processes
from tests.fixtures.prometheus import PromHistory, prom_history
from tests.fixtures.store import postgres_url, sqlite_template, store, store_url

__all__ = [
    "PromHistory",
    "_endpoint_server",
    "llm_endpoint",
    "postgres_url",
    "processes",
    "prom_history",
    "sqlite_template",
    "store",
    "store_url",
]
