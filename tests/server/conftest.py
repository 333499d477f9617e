"""Server test fixtures: an app on a given store, and that app served by a real uvicorn on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from augur.server.scopes import Scope
from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.models import Base
from augur.server.web.app import create_app

TOKEN = "s3cret-token"
#: A token with every scope, for tests about something other than authorization.
ADMIN_TOKEN = "admin-test-token-0123"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def settings_for(store_url: str, **overrides: object) -> Settings:
    """Settings for a test app: the given store, the webhook token (what Alertmanager sends), an
    all-scopes token for everything else, no in-process worker unless asked."""
    values: dict[str, object] = {
        "database_url": store_url,
        "webhook_token": TOKEN,
        "api_tokens": {"tester": {"token": ADMIN_TOKEN, "scopes": [s.value for s in Scope]}},
        "worker_in_process": False,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def row_counts(store: Store) -> dict[str, int]:
    """Rows in each of augur's tables: to prove a rejected request wrote nothing."""
    with store.read_session() as session:
        return {
            t.name: int(session.scalar(select(func.count()).select_from(t)) or 0)
            for t in Base.metadata.sorted_tables
        }


@pytest.fixture
def app(store: Store, store_url: str) -> FastAPI:
    """An augur app on the parametrized store (SQLite and PostgreSQL), token auth, no worker."""
    return create_app(settings_for(store_url), store=store)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A test client with the all-scopes token set, calling from loopback."""
    with TestClient(app, client=("127.0.0.1", 50000), headers=ADMIN_HEADERS) as c:
        yield c


