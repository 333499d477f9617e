"""The demo: the seed's story on real components, from an alert to a report, on one machine.

:func:`start_stack` generates the story scenario, starts a live exporter carrying its history
into the present, Prometheus (backfilled, scraping the exporter every second, the scenario's
alerting rule loaded, Alertmanager as its notifier), ``augur serve`` with its in-process worker,
and Alertmanager with augur's webhook as its receiver. The alert then fires for real:
Prometheus → Alertmanager → webhook → incident → investigation → report.
:func:`wait_for_report` follows it through augur's API. :func:`run_demo` does both with progress
on a rich console and keeps everything up until Ctrl-C; :func:`stop_demo` stops a demo from
another shell using the PID file it wrote. Nothing is ever stopped by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from augur.evals.exporter import LiveExporter
from augur.evals.generator import Generated, default_t_end, generate
from augur.evals.scenario import Scenario, list_scenarios
from augur.evals.servers import (
    AlertmanagerServer,
    PrometheusServer,
    free_port,
    stop_process,
    wait_ready,
)

__all__ = [
    "DemoStack",
    "ReportWait",
    "run_demo",
    "start_stack",
    "stop_demo",
    "story_scenario",
    "wait_for_report",
]

PIDFILE = "demo.json"
#: The settings the demo's augur runs with, as a config file the CLI reads with AUGUR_CONFIG_FILE.
CONFIG_FILE = "augur.yaml"
#: The alert the demo's incident started from, as an Alertmanager webhook body (for `augur investigate`).
ALERT_FILE = "alert.json"
#: The reviewer the demo allows to approve rule proposals (its token is in the config file).
REVIEWER = "demo"
#: Prometheus logs every query it answers here: the demo shows augur's tool calls from it, live.
QUERY_LOG = "prometheus-queries.log"


def story_scenario() -> Scenario:
    """The scenario marked ``story: true`` (the seed's story)."""
    return next(s for s in list_scenarios() if s.story)


@dataclass
class DemoStack:
    """Everything the demo started, in start order; :meth:`stop` stops it in reverse."""

    workdir: Path
    scenario: Scenario
    generated: Generated
    exporter: LiveExporter
    augur: subprocess.Popen[bytes]
    augur_url: str
    alertmanager: AlertmanagerServer
    prometheus: PrometheusServer
    timings: dict[str, float] = field(default_factory=dict)
    config_file: Path | None = None
    reviewer_token: str = ""

    def pids(self) -> dict[str, int]:
        """PIDs of the processes started (the exporter lives in the caller's own process)."""
        out = {"augur": self.augur.pid}
        for name, server in (("alertmanager", self.alertmanager), ("prometheus", self.prometheus)):
            if server.pid is not None:
                out[name] = server.pid
        return out

    def stop(self) -> None:
        """Stop Prometheus, Alertmanager, augur and the exporter (each by the PID we hold)."""
        self.prometheus.stop()
        self.alertmanager.stop()
        stop_process(self.augur, grace_s=15, kill_wait_s=5)
        self.exporter.stop()


def start_stack(
    workdir: Path,
    *,
    scenario: Scenario | None = None,
    env: Mapping[str, str] | None = None,
    augur_argv: list[str] | None = None,
    on_step: Callable[[str, str, float], None] | None = None,
) -> DemoStack:
    """Start the demo's components (see the module docstring); stops what it started on failure.

    ``env`` is the environment ``augur serve`` inherits (the demo's own settings override the
    store, the backends and the webhook token in it); ``augur_argv`` the command to run it.
    """
    story = scenario or story_scenario()
    step = on_step or (lambda name, detail, seconds: None)
    # A fresh start: old TSDB blocks would duplicate, an old store would show old incidents.
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    started = time.perf_counter()
    # A small margin: the live exporter's first scrape should follow the history closely (a gap
    # longer than a step shows up as a dip in rate() at the seam).
    t_end = default_t_end(story.history.step_seconds, margin_s=5.0)
    gen = generate(story, workdir / "data", t_end=t_end)
    from augur.tools.logs.sqlite import SqliteLogStore

    log_db = workdir / "logs.db"
    log_db.unlink(missing_ok=True)
    lines = SqliteLogStore(log_db).ingest_file(gen.logs)
    step("generated", f"{story.history.hours:g} h of history: {gen.samples:,} samples, "
         f"{getattr(lines, 'lines', '?')} log lines, drift samples", time.perf_counter() - started)

    exporter = LiveExporter(story, gen.seed, t_end).start()
    cleanup: list[Callable[[], None]] = [exporter.stop]
    try:
        augur_port = free_port()
        augur_url = f"http://127.0.0.1:{augur_port}"
        child_env = {k: v for k, v in (env or {}).items() if k != "AUGUR_WEBHOOK_TOKEN"}
        am_port, prom_port = free_port(), free_port()
        token = secrets.token_urlsafe(12)
        config = {
            "data_dir": str(workdir / "augur"),
            "database_url": "",
            "prometheus_url": f"http://127.0.0.1:{prom_port}",
            "alertmanager_url": f"http://127.0.0.1:{am_port}",
            "catalog_file": str(gen.catalog),
            "log_db": str(log_db),
            "reviewers": [REVIEWER],
            "reviewer_tokens": {REVIEWER: token},
            "public_base_url": augur_url,
            # A laptop demo on loopback: Alertmanager and the person reading the report send no token.
            "dev_mode": True,
        }
        config_file = workdir / CONFIG_FILE
        config_file.touch(mode=0o600)
        config_file.write_text("# The demo's settings: export AUGUR_CONFIG_FILE=" + str(config_file)
                               + " points the CLI at its store, Prometheus and catalog.\n"
                               + yaml.safe_dump(config, sort_keys=False))
        # The same values in the environment: they win over anything the caller's environment sets.
        child_env.update({f"AUGUR_{k.upper()}": v if isinstance(v, str) else json.dumps(v)
                          for k, v in config.items()})
        child_env["AUGUR_WORKER_IN_PROCESS"] = "true"
        child_env.pop("AUGUR_CONFIG_FILE", None)
        argv = augur_argv or [sys.executable, "-m", "augur.server.cli.main", "serve"]
        augur_log = workdir / "augur.log"
        with augur_log.open("wb") as log:
            augur = subprocess.Popen([*argv, "--port", str(augur_port), "--log-level", "warning"],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=child_env)

        def stop_augur() -> None:
            augur.terminate()
            augur.wait(timeout=15)

        cleanup.append(stop_augur)
        wait_ready(f"{augur_url}/readyz", augur, augur_log, 60.0, name="augur serve", poll_s=0.2)
        step("augur", f"{augur_url} (serve + in-process worker)", time.perf_counter() - started)

        am = AlertmanagerServer.start({
            "route": {"receiver": "augur", "group_by": ["alertname"], "group_wait": "1s",
                      "group_interval": "10s", "repeat_interval": "4h"},
            "receivers": [{"name": "augur", "webhook_configs": [
                {"url": f"{augur_url}/v1/alertmanager", "send_resolved": True}]}],
        }, workdir / "alertmanager", port=am_port)
        cleanup.append(am.stop)
        step("alertmanager", f"{am.url} → webhook {augur_url}/v1/alertmanager", time.perf_counter() - started)

        rule_file = workdir / "alert-rule.yml"
        rule_file.write_text(yaml.safe_dump({"groups": [{"name": "demo", "rules": [story.rule()]}]}))
        prom = PrometheusServer.start(
            workdir / "prometheus", openmetrics=gen.openmetrics, rule_files=[rule_file],
            alertmanager_url=am.url, scrape_targets=[exporter.target], drop_target_labels=True,
            port=prom_port, query_log_file=workdir / QUERY_LOG,
        )
        step("prometheus", f"{prom.url} (backfilled; live exporter {exporter.target} scraped every 1 s)",
             time.perf_counter() - started)
    except BaseException:
        for stop in reversed(cleanup):
            with contextlib.suppress(Exception):  # keep stopping the rest
                stop()
        raise
    return DemoStack(workdir, story, gen, exporter, augur, augur_url, am, prom,
                     {"started_s": time.perf_counter() - started}, config_file, token)


@dataclass
class ReportWait:
    """What :func:`wait_for_report` saw: the incident, its timeline and the report."""

    incident_id: int
    incident: dict[str, Any]
    report: dict[str, Any]
    markdown: str


def wait_for_report(
    augur_url: str,
    *,
    alertname: str,
    timeout_s: float = 110.0,
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
) -> ReportWait:
    """Poll augur's API until the incident for ``alertname`` has a report; report each new event."""
    emit = on_event or (lambda kind, detail: None)
    seen: set[tuple[str, str]] = set()
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=augur_url, timeout=10.0) as client:
        while time.monotonic() < deadline:
            incidents = client.get("/v1/incidents").json().get("incidents", [])
            for inc in incidents:
                detail = client.get(f"/v1/incidents/{inc['id']}").json()
                names = {str(e.get("labels", {}).get("alertname")) for e in detail.get("episodes", [])}
                if names and alertname not in names:
                    continue
                for ev in detail.get("timeline", []):
                    key = (str(ev.get("at")), str(ev.get("kind")))
                    if key not in seen:
                        seen.add(key)
                        emit(str(ev.get("kind")), {"incident": inc["id"], **(ev.get("detail") or {})})
                r = client.get(f"/v1/incidents/{inc['id']}/report.json")
                if r.status_code == 200:
                    md = client.get(f"/v1/incidents/{inc['id']}/report.md").text
                    return ReportWait(int(inc["id"]), detail, r.json(), md)
            time.sleep(0.5)
    raise TimeoutError(f"no report for {alertname} from {augur_url} within {timeout_s:g} s")


def write_alert_file(path: Path, incident: dict[str, Any]) -> Path:
    """The incident's alerts as the webhook body that brought them (for ``augur investigate``)."""
    alerts = [{
        "status": "firing", "labels": e["labels"], "annotations": e.get("annotations") or {},
        "startsAt": e["starts_at"], "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": e.get("generator_url", ""), "fingerprint": e.get("fingerprint", ""),
    } for e in incident.get("episodes", [])]
    common = dict(alerts[0]["labels"]) if alerts else {}
    body = {"receiver": "augur", "status": "firing", "alerts": alerts, "groupLabels": {},
            "commonLabels": common, "commonAnnotations": {}, "externalURL": "", "version": "4",
            "groupKey": "{}", "truncatedAlerts": 0}
    path.write_text(json.dumps(body, indent=2) + "\n")
    return path


def follow_queries(path: Path, stop: threading.Event, emit: Callable[[str, str], None]) -> None:
    """Call ``emit(endpoint, query)`` for each API query Prometheus logs (rule evaluations skipped)."""
    offset = 0
    while True:
        done = stop.is_set()  # read once more after a stop request, so nothing logged is missed
        if path.exists():
            with path.open() as fh:
                fh.seek(offset)
                while line := fh.readline():
                    if not line.endswith("\n"):
                        break
                    offset += len(line.encode())
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    request = entry.get("httpRequest")
                    if request:
                        endpoint = str(request.get("path", "")).rsplit("/", 1)[-1]
                        emit(endpoint, str(entry.get("params", {}).get("query")))
        if done:
            return
        stop.wait(0.2)


def _write_pidfile(path: Path, stack: DemoStack) -> None:
    pids = {"demo": os.getpid(), **stack.pids()}
    path.write_text(json.dumps({"pids": pids, "augur": stack.augur_url, "prometheus": stack.prometheus.url,
                                "alertmanager": stack.alertmanager.url}, indent=2))


def _is_ours(pid: int, markers: tuple[str, ...]) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return any(m in cmdline for m in markers)


def stop_demo(workdir: Path) -> list[str]:
    """Stop a running demo from its PID file (each PID checked to still be what we started)."""
    pidfile = workdir / PIDFILE
    if not pidfile.exists():
        return []
    info = json.loads(pidfile.read_text())
    markers = {"demo": ("augur",), "augur": ("augur",), "prometheus": ("prometheus",),
               "alertmanager": ("alertmanager",)}
    stopped = []
    # The demo process first: it stops the others itself; then anything it left behind.
    for name in ("demo", "prometheus", "alertmanager", "augur"):
        pid = info["pids"].get(name)
        if pid and pid != os.getpid() and _is_ours(pid, markers[name]):
            os.kill(pid, signal.SIGTERM)
            stopped.append(f"{name} (pid {pid})")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and _is_ours(pid, markers[name]):
                time.sleep(0.2)
    pidfile.unlink(missing_ok=True)
    return stopped


def run_demo(workdir: Path, *, env: Mapping[str, str], console: Any, wait: bool = True) -> ReportWait:
    """Start the stack, follow the story to its report on ``console``, then wait for Ctrl-C."""
    from rich.markdown import Markdown
    from rich.panel import Panel
    from rich.table import Table

    story = story_scenario()
    console.print(Panel.fit(f"[bold]{story.title}[/]\n{story.description}", title="augur demo"))
    t0 = time.perf_counter()

    def step(name: str, detail: str, seconds: float) -> None:
        console.print(f"[green]✓[/] [bold]{name}[/] {detail} [dim]+{seconds:.1f} s[/]")

    stack = start_stack(workdir, scenario=story, env=env, on_step=step)
    stop_requested = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop_requested.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        _write_pidfile(workdir / PIDFILE, stack)
        console.print(f"[dim]… waiting for Prometheus to fire {story.alert} and Alertmanager to send it[/]")

        def event(kind: str, detail: dict[str, Any]) -> None:
            label = {"opened": "webhook arrived: incident opened", "alerts_added": "alerts added",
                     "investigation_requested": "investigation queued", "job_ran": "investigation ran",
                     "report_ready": "report ready"}.get(kind, kind)
            extra = ", ".join(f"{k}={v}" for k, v in detail.items() if k not in ("incident",) and
                              not isinstance(v, dict | list))
            console.print(f"[green]✓[/] [bold]{label}[/] #{detail.get('incident')} {extra} "
                          f"[dim]+{time.perf_counter() - t0:.1f} s[/]")

        def query(endpoint: str, promql: str) -> None:
            console.print(f"  [cyan]→ {endpoint}[/] {promql}", no_wrap=True, overflow="ellipsis",
                          highlight=False, markup=True)

        stop_following = threading.Event()
        follower = threading.Thread(target=follow_queries, daemon=True,
                                    args=(workdir / QUERY_LOG, stop_following, query))
        follower.start()
        try:
            done = wait_for_report(stack.augur_url, alertname=story.alert, on_event=event)
        finally:
            stop_following.set()
            follower.join(timeout=5)
        elapsed = time.perf_counter() - t0
        report = done.report
        evidence = report.get("evidence", [])
        stats = report.get("stats", {})
        tools = Table(title=f"{stats.get('tool_calls', len(evidence))} tool calls "
                            f"({stats.get('planner', 'sop')} planner, {stats.get('wall_s', '?')} s)",
                      show_header=True, box=None, pad_edge=False)
        tools.add_column("tool", no_wrap=True, min_width=12)
        tools.add_column("status", no_wrap=True, min_width=6)
        tools.add_column("what it found", no_wrap=True, overflow="ellipsis", ratio=1)
        for row in evidence:
            colour = "green" if row["status"] == "ok" else "yellow" if row["status"] == "empty" else "red"
            tools.add_row(row["tool"], f"[{colour}]{row['status']}[/]", str(row.get("summary", "")))
        console.print(tools)
        rc = report["root_cause"]
        console.print(Panel(
            f"[bold]{rc.get('component')}[/] — {rc.get('fault_type')} (confidence {rc.get('confidence')})"
            f"\n\n[bold]chain[/]: {report.get('chain_text')}", title="root cause"))
        fixes = "\n".join(f"- {f['action']}" for f in report.get("fixes", []))
        console.print(Markdown(fixes or "(no fixes)"))
        iid = done.incident_id
        alert_file = write_alert_file(workdir / ALERT_FILE, done.incident)
        base = stack.augur_url
        # One address a line, each short enough for an 80-column terminal: a wrapped URL cannot be
        # clicked or copied (the Alertmanager's and the reviewer token were cut across two lines).
        console.print(Panel(
            f"incidents     {base}/\n"
            f"incident      {base}/incidents/{iid}\n"
            f"as Markdown   {base}/v1/incidents/{iid}/report.md\n"
            f"postmortem    {base}/v1/incidents/{iid}/postmortem.html\n"
            f"rule review   {base}/review\n"
            f"reviewer      {REVIEWER}, token {stack.reviewer_token}\n"
            f"prometheus    {stack.prometheus.url}/alerts\n"
            f"alertmanager  {stack.alertmanager.url}\n"
            f"time to report: {elapsed:.1f} s; stop with Ctrl-C or `make demo-stop`",
            title="open", highlight=False))
        # Plain lines, not a panel: they are meant to be copied into another shell as they are.
        console.print("[bold]In another shell, the CLI on the demo's data:[/]")
        for line in (f"export AUGUR_CONFIG_FILE={stack.config_file}",
                     '.venv/bin/augur ask "why did ranker-serving alert?"', ".venv/bin/augur rules review",
                     f".venv/bin/augur postmortem {iid}", f".venv/bin/augur investigate {alert_file}"):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        if wait:
            while not stop_requested.is_set():
                time.sleep(0.5)
        return done
    except KeyboardInterrupt:
        console.print("[dim]stopping…[/]")
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        stack.stop()
        (workdir / PIDFILE).unlink(missing_ok=True)
