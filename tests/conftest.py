"""Shared fixtures. Fixtures that start real servers live in tests/fixtures/."""

from __future__ import annotations

import pytest

from tests.fixtures.mlflow import mlflow_registry, start_early, stop_early
from tests.fixtures.openai_endpoint import _endpoint_server, llm_endpoint
from tests.fixtures.processes import processes
from tests.fixtures.prometheus import PromHistory, prom_history
from tests.fixtures.store import postgres_url, sqlite_template, store, store_url

__all__ = [
    "PromHistory",
    "_endpoint_server",
    "llm_endpoint",
    "mlflow_registry",
    "postgres_url",
    "processes",
    "prom_history",
    "sqlite_template",
    "store",
    "store_url",
]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Boot the MLflow server while the tests before the ones that need it run."""
    start_early(session.items)


def pytest_sessionfinish(session: pytest.Session) -> None:
    stop_early()
