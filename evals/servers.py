"""Real Prometheus and Alertmanager processes on loopback, for tests, evals and the demo.

Debian's packages provide ``/usr/bin/prometheus``, ``promtool`` and ``prometheus-alertmanager``
(``make setup`` installs them). Each server here binds to 127.0.0.1 on a free port, is waited on
until ready, and is stopped by the PID we started — never by name. History is loaded with
``promtool tsdb create-blocks-from openmetrics`` *before* Prometheus starts (blocks added to a
running server take about a minute to appear).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx
import yaml

from augur.tools.errors import BackendUnavailable

__all__ = [
    "AlertmanagerServer",
    "PrometheusServer",
    "Sample",
    "ServerError",
    "backfill",
    "free_port",
    "require_binary",
    "stop_process",
    "wait_ready",
    "write_openmetrics",
]


class ServerError(BackendUnavailable, RuntimeError):
    """A server binary is missing or did not become ready; the message says what to do."""


def require_binary(name: str) -> str:
    """Path of a binary on PATH, or a ServerError telling how to install it."""
    path = shutil.which(name)
    if path is None:
        raise ServerError(f"{name} not found on PATH: run `make setup` (installs Debian's packages)")
    return path


_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago and that this process has not handed out.

    Two calls in a row (``am_port, prom_port = free_port(), free_port()``) can otherwise get the
    same port back from the kernel before either server binds it; the second server then fails
    to start while its readiness probe is answered by the first.
    """
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


@dataclass(frozen=True)
class Sample:
    """One point of one series for backfilling; ``timestamp`` in Unix seconds."""

    metric: str
    labels: Mapping[str, str]
    value: float
    timestamp: float


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def write_openmetrics(samples: Iterable[Sample], path: Path, types: Mapping[str, str] | None = None) -> int:
    """Write samples as an OpenMetrics text file for promtool; returns the number written.

    Samples are grouped by metric family (OpenMetrics requires a family's lines to be contiguous)
    and sorted by time within each series (promtool silently drops out-of-order samples).
    ``types`` maps a family to ``gauge`` / ``counter`` (default ``gauge``); counters' sample
    names must then end in ``_total``.
    """
    families: dict[str, dict[tuple[tuple[str, str], ...], list[tuple[float, float]]]] = {}
    for s in samples:
        key = tuple(sorted(s.labels.items()))
        families.setdefault(s.metric, {}).setdefault(key, []).append((s.timestamp, s.value))
    count = 0
    types = types or {}
    with path.open("w") as out:
        for family, series in families.items():
            kind = types.get(family, "gauge")
            name = family.removesuffix("_total") if kind == "counter" else family
            out.write(f"# TYPE {name} {kind}\n")
            for key, points in series.items():
                labels = ",".join(f'{k}="{_escape(v)}"' for k, v in key)
                rendered = f"{family}{{{labels}}}" if labels else family
                for ts, value in sorted(points):
                    out.write(f"{rendered} {value!r} {ts:.3f}\n")
                    count += 1
        out.write("# EOF\n")
    return count


def backfill(openmetrics_file: Path, data_dir: Path) -> None:
    """Turn an OpenMetrics file into TSDB blocks in ``data_dir`` (run before Prometheus starts)."""
    promtool = require_binary("promtool")
    data_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(openmetrics_file), str(data_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServerError(f"promtool backfill failed ({result.returncode}): {result.stderr.strip()[-2000:]}")


def wait_ready(
    probe_url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float, *, name: str,
    poll_s: float = 0.1,
) -> None:
    """Poll ``GET probe_url`` until it answers 200; a :class:`ServerError` naming ``name``, with the
    end of ``log``, when ``proc`` exits first or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"{name} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(probe_url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(poll_s)
    raise ServerError(f"{name} not ready at {probe_url} after {timeout_s:g} s: {log.read_text()[-2000:]}")


def stop_process(proc: subprocess.Popen[bytes], grace_s: float = 10.0, kill_wait_s: float = 10.0) -> None:
    """Stop a process we started, by its PID: SIGTERM, then SIGKILL if it is still up after ``grace_s``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=kill_wait_s)


@dataclass
class _Process:
    """A server process we started; stopped by its PID."""

    workdir: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    _own_workdir: bool = False
    _log: Path | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """Base URL on loopback."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """PID of the running server, if started."""
        return self.proc.pid if self.proc else None

    def _spawn(self, argv: Sequence[str], timeout_s: float) -> None:
        self._log = self.workdir / "server.log"
        with self._log.open("wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_ready(f"{self.url}/-/ready", self.proc, self._log, timeout_s, name=self.url)
        except ServerError:
            self.stop()
            raise

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's log, for error messages."""
        return self._log.read_text()[-chars:] if self._log and self._log.exists() else ""

    def stop(self) -> None:
        """Terminate our process (SIGTERM, then SIGKILL after 10 s)."""
        if self.proc:
            stop_process(self.proc)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _workdir(workdir: Path | None, prefix: str) -> tuple[Path, bool]:
    if workdir is None:
        return Path(tempfile.mkdtemp(prefix=prefix)), True
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir, False


@dataclass
class PrometheusServer(_Process):
    """A Prometheus on 127.0.0.1. Use :meth:`start`; the data dir is ``workdir/data``."""

    @property
    def data_dir(self) -> Path:
        """TSDB directory (backfill into it before starting)."""
        return self.workdir / "data"

    @property
    def rules_dir(self) -> Path:
        """Directory whose ``*.yml`` / ``*.yaml`` files Prometheus loads as rules."""
        return self.workdir / "rules"

    @classmethod
    def start(
        cls,
        workdir: Path | None = None,
        *,
        openmetrics: Path | None = None,
        rule_files: Sequence[Path] = (),
        alertmanager_url: str | None = None,
        scrape_targets: Sequence[str] = (),
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
        port: int | None = None,
        timeout_s: float = 30.0,
        drop_target_labels: bool = False,
        query_log_file: Path | None = None,
    ) -> PrometheusServer:
        """Start Prometheus, backfilling ``openmetrics`` first and loading ``rule_files``.

        Rule files are copied into :attr:`rules_dir`, which the config globs, so rules written
        there later load on ``POST /-/reload`` (lifecycle API enabled). With
        ``drop_target_labels`` scraped series lose ``job`` and ``instance``, so a live exporter's
        samples continue the backfilled series of the same name and labels (which have neither).
        ``query_log_file`` makes Prometheus log every query it answers there (JSON lines).
        """
        binary = require_binary("prometheus")
        root, own = _workdir(workdir, "augur-prom-")
        server = cls(workdir=root, port=port or free_port(), _own_workdir=own)
        if openmetrics is not None:
            backfill(openmetrics, server.data_dir)
        server.rules_dir.mkdir(parents=True, exist_ok=True)
        for rule_file in rule_files:
            shutil.copy(rule_file, server.rules_dir / rule_file.name)
        config: dict[str, object] = {
            "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval,
                       **({"query_log_file": str(query_log_file)} if query_log_file else {})},
            "rule_files": [str(server.rules_dir / "*.yml"), str(server.rules_dir / "*.yaml")],
        }
        if alertmanager_url:
            target = alertmanager_url.removeprefix("http://").rstrip("/")
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [target]}]}]}
        if scrape_targets:
            scrape: dict[str, object] = {
                "job_name": "augur-test", "static_configs": [{"targets": list(scrape_targets)}]
            }
            if drop_target_labels:
                scrape["metric_relabel_configs"] = [{"action": "labeldrop", "regex": "job|instance"}]
            config["scrape_configs"] = [scrape]
        config_path = root / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        server._spawn(
            [
                binary,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={server.data_dir}",
                f"--web.listen-address=127.0.0.1:{server.port}",
                f"--web.external-url={server.url}",
                "--storage.tsdb.retention.time=3650d",
                "--rules.alert.resend-delay=1s",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ],
            timeout_s,
        )
        return server

    def reload(self) -> None:
        """Ask Prometheus to re-read its config and rule files."""
        httpx.post(f"{self.url}/-/reload", timeout=10.0).raise_for_status()


@dataclass
class AlertmanagerServer(_Process):
    """An Alertmanager on 127.0.0.1 with gossip disabled. Use :meth:`start`."""

    @classmethod
    def start(
        cls,
        config: Mapping[str, object],
        workdir: Path | None = None,
        *,
        port: int | None = None,
        timeout_s: float = 30.0,
    ) -> AlertmanagerServer:
        """Start Alertmanager with ``config`` (the alertmanager.yml content as a mapping)."""
        binary = require_binary("prometheus-alertmanager")
        root, own = _workdir(workdir, "augur-am-")
        server = cls(workdir=root, port=port or free_port(), _own_workdir=own)
        config_path = root / "alertmanager.yml"
        config_path.write_text(yaml.safe_dump(dict(config)))
        (root / "data").mkdir(exist_ok=True)
        server._spawn(
            [
                binary,
                f"--config.file={config_path}",
                f"--storage.path={root / 'data'}",
                f"--web.listen-address=127.0.0.1:{server.port}",
                f"--web.external-url={server.url}",
                "--cluster.listen-address=",  # the default opens gossip on 0.0.0.0:9094
                "--log.level=warn",
            ],
            timeout_s,
        )
        return server

    def amtool(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``amtool`` against this server (e.g. ``alert add``)."""
        return subprocess.run(
            [require_binary("amtool"), f"--alertmanager.url={self.url}", *args],
            capture_output=True, text=True, check=True,
        )
