"""One error root, three kinds: what a caller (HTTP client, shell, the job queue) sees of each.

Every exception class augur defines derives from :class:`augur.tools.errors.AugurError` through
bad input, backend unavailable or bug; the API answers 422 / 503 / 500 for them, the ``augur``
command exits 2 / 69 / 70 with one line (no traceback), and the worker parks a job whose input is
bad at once while it retries one whose backend was unavailable.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import augur.agent
import augur.evals
import augur.rules
import augur.server
import augur.tools
from augur.server.cli import main as cli_main
from augur.server.errors import ApiError, install_error_handlers
from augur.server.jobs.worker import Worker
from augur.server.store.database import Store
from augur.server.store.queue import ClaimedJob, JobQueue, enqueue
from augur.tools.errors import AugurError, BackendUnavailable, BadInput, Bug, ErrorKind, kind_of

_OPTIONAL: tuple[str, ...] = ()  # modules that need an optional extra to import


def _augur_exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package in (augur.tools, augur.agent, augur.rules, augur.evals, augur.server):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if (".migrations." in info.name or info.name.endswith(".__main__")
                    or info.name.startswith(_OPTIONAL)):
                continue
            module = importlib.import_module(info.name)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                    found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return list(found.values())


def test_every_augur_exception_has_one_of_the_three_kinds() -> None:
    classes = _augur_exception_classes()
    assert len(classes) >= 30, [c.__name__ for c in classes]  # the walk really found them
    rootless = [f"{c.__module__}.{c.__qualname__}" for c in classes
                if not issubclass(c, AugurError) and c is not AugurError]
    assert not rootless, f"derive these from BadInput, BackendUnavailable or Bug: {rootless}"
    kinds = {c.__name__: c.kind for c in classes if issubclass(c, AugurError)}
    assert set(kinds.values()) <= set(ErrorKind)
    # A few whose kind a caller relies on.
    from augur.agent.llm import LLMTimeout
    from augur.server.settings import ConfigError
    from augur.server.store.database import StoreUnavailable
    from augur.tools.base import Unavailable

    assert kind_of(ConfigError("x")) is ErrorKind.BAD_INPUT
    assert kind_of(StoreUnavailable("x")) is kind_of(Unavailable("x")) is ErrorKind.UNAVAILABLE
    assert kind_of(LLMTimeout("x")) is ErrorKind.UNAVAILABLE
    assert kind_of(KeyError("x")) is ErrorKind.BUG  # nothing anticipated it


def test_an_api_error_takes_its_kind_from_its_status() -> None:
    assert ApiError(404, "not_found", "x").kind is ErrorKind.BAD_INPUT
    assert ApiError(503, "store_unavailable", "x").kind is ErrorKind.UNAVAILABLE
    assert ApiError(500, "internal_error", "x").kind is ErrorKind.BUG


@pytest.mark.parametrize(("error", "status", "code"), [
    (BadInput("the window ends before it starts"), 422, "bad_input"),
    (BackendUnavailable("Prometheus at 127.0.0.1:1 refused the connection"), 503, "backend_unavailable"),
    (Bug("an onset after the window"), 500, "internal_error"),
])
def test_the_api_answers_by_kind(error: AugurError, status: int, code: str) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise error

    response = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert response.status_code == status
    assert response.json()["error"] == code
    if status == 503:
        assert response.headers["retry-after"] == "5"
    if status != 500:
        assert str(error) in response.json()["reason"]  # the reason reaches the caller


@pytest.mark.parametrize(("error", "exit_code", "hint"), [
    (BadInput("--since must be before --until"), 2, "fix the input"),
    (BackendUnavailable("MLflow at http://127.0.0.1:1 did not answer"), 69, "check it is up"),
    (Bug("report without a cause"), 70, "report it"),
])
def test_the_command_exits_by_kind_with_one_line(
    error: AugurError, exit_code: int, hint: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    def failing_app(**_kwargs: object) -> None:
        raise error

    monkeypatch.setattr(cli_main, "app", failing_app)
    with pytest.raises(SystemExit) as exited:
        cli_main.run()
    assert exited.value.code == exit_code
    err = capsys.readouterr().err
    assert err.startswith(f"error: {error}") and hint in err and "Traceback" not in err


def test_the_worker_parks_bad_input_at_once_and_retries_an_unavailable_backend(store: Store) -> None:
    def bad(_job: ClaimedJob, _store: Store) -> None:
        raise BadInput("the alert has no startsAt")

    def down(_job: ClaimedJob, _store: Store) -> None:
        raise BackendUnavailable("Prometheus did not answer")

    with store.transaction() as session:
        bad_id = enqueue(session, "bad", {}, max_attempts=5)
        down_id = enqueue(session, "down", {}, max_attempts=5)
    worker = Worker(store, {"bad": bad, "down": down}, backoff_base_seconds=60, poll_seconds=0.01)
    while worker.run_once():
        pass
    queue = JobQueue(store)
    bad_job, down_job = queue.get(bad_id), queue.get(down_id)
    assert bad_job is not None and bad_job.status == "parked" and bad_job.attempts == 1
    assert "the alert has no startsAt" in (bad_job.last_error or "")
    assert down_job is not None and down_job.status == "queued" and down_job.attempts == 1
