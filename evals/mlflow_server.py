"""A real ``mlflow server`` (SQLite backend) on loopback, for tests and evals, and filling it.

MLflow lives in its own environment, ``.venv-mlflow`` (``make setup`` builds it from
``requirements-mlflow.lock``): it needs ``cachetools>=5`` where augur's drain3 pins 4.2.1, so the
two cannot share one. augur itself only speaks MLflow's REST API (:mod:`augur.tools.model_registry`);
the server and the official client that fills it (:mod:`augur.evals.mlflow_populate`) run with
that environment's Python.

``mlflow server`` starts uvicorn as a child process, so the server is started in a new session
and stopped through its process group, whose id is the PID we started (never by name).
``make setup`` also writes an already-migrated empty database next to the environment; a server
starts from a copy of it instead of running MLflow's migrations each time.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from augur.evals.servers import ServerError, free_port, wait_ready

__all__ = ["MLFLOW_ENV", "MlflowServer", "mlflow_python", "populate"]

#: The MLflow environment ``make setup`` builds, beside the source tree (AUGUR_MLFLOW_ENV overrides).
MLFLOW_ENV = Path(__file__).resolve().parents[1] / ".venv-mlflow"
#: The migrated empty registry database ``make setup`` leaves in the environment.
TEMPLATE_DB = "empty-registry.db"


def _env_dir() -> Path:
    return Path(os.environ.get("AUGUR_MLFLOW_ENV") or MLFLOW_ENV)


def mlflow_python() -> Path:
    """The MLflow environment's Python, or a :class:`ServerError` saying how to build it."""
    python = _env_dir() / "bin" / "python"
    if not python.exists() or not (_env_dir() / "bin" / "mlflow").exists():
        raise ServerError(f"no MLflow environment at {_env_dir()}: run `make setup` (builds .venv-mlflow "
                          "from requirements-mlflow.lock) or set AUGUR_MLFLOW_ENV")
    return python


def populate(url: str, spec: dict[str, Any], *, timeout_s: float = 180.0) -> dict[str, Any]:
    """Fill the registry at ``url`` from ``spec`` (see :mod:`augur.evals.mlflow_populate`) with the
    official client; the run ids it created."""
    python = mlflow_python()
    script = Path(__file__).with_name("mlflow_populate.py")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        done = subprocess.run([str(python), str(script), url, f.name], capture_output=True, text=True,
                              timeout=timeout_s, check=False, env={**os.environ, "MLFLOW_TRACKING_URI": url})
    finally:
        os.unlink(f.name)
    if done.returncode != 0:
        raise ServerError(f"filling MLflow at {url} failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


class MlflowServer:
    """``mlflow server`` with a SQLite backend and file artifacts in ``workdir``, on 127.0.0.1."""

    def __init__(self, workdir: Path | None = None) -> None:
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="augur-mlflow-"))
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The tracking URI (REST API base)."""
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, workdir: Path | None = None, *, timeout_s: float = 180.0) -> MlflowServer:
        """Start a server and wait until ``/health`` answers (a loaded machine takes tens of seconds)."""
        server = cls.launch(workdir)
        server.wait_ready(timeout_s)
        return server

    @classmethod
    def launch(cls, workdir: Path | None = None) -> MlflowServer:
        """Start a server without waiting for it (it boots while the caller does other work)."""
        server = cls(workdir)
        server._spawn()
        return server

    def wait_ready(self, timeout_s: float = 180.0) -> None:
        """Wait until ``/health`` answers; a :class:`ServerError` (and the server stopped) if not."""
        if self.proc is None:
            raise ServerError("the MLflow server was not started (or was stopped)")
        try:
            wait_ready(f"{self.url}/health", self.proc, self.workdir / "mlflow.log", timeout_s,
                       name=f"mlflow server {self.url}", poll_s=0.25)
        except ServerError:
            self.stop()
            raise

    def _spawn(self) -> None:
        python = mlflow_python()
        self.workdir.mkdir(parents=True, exist_ok=True)
        db = self.workdir / "mlflow.db"
        template = _env_dir() / TEMPLATE_DB
        if template.exists() and not db.exists():
            shutil.copyfile(template, db)
        self.port = free_port()
        log = self.workdir / "mlflow.log"
        argv = [str(python.parent / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{db}",
                "--default-artifact-root", (self.workdir / "artifacts").as_uri(),
                "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)

    def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM to the server's process group (its id is our PID), SIGKILL after ``grace_s``."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        if proc is not None:  # uvicorn may outlive the wrapper: the group goes too
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        self.proc = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
