"""`augur demo` keeps its stack up after the report; `augur demo --stop` (make demo-stop) ends it all."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_runs_to_report_and_stops_by_pid(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUGUR_")}
    env.update({"AUGUR_DATA_DIR": str(tmp_path), "COLUMNS": "80"})  # a plain terminal's width
    cli = [sys.executable, "-m", "augur.server.cli", "demo"]
    demo = subprocess.Popen(cli, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pidfile = tmp_path / "demo" / "demo.json"
    try:
        output: list[str] = []
        deadline = time.monotonic() + 120
        assert demo.stdout is not None
        for line in demo.stdout:
            output.append(line)
            if "augur investigate" in line or time.monotonic() > deadline:
                break
        text = "".join(output)
        assert "time to report" in text, text[-3000:]
        # The one line that points the CLI at the demo's data, and the pages to open.
        assert f"export AUGUR_CONFIG_FILE={tmp_path / 'demo' / 'augur.yaml'}" in text, text[-3000:]
        assert "/review" in text and "postmortem.html" in text
        # Every address and the reviewer token whole on one line of the 80 columns, to click or copy.
        for label, pattern in [("incident", r"http://127\.0\.0\.1:\d+/incidents/1"),
                               ("postmortem", r"http://127\.0\.0\.1:\d+/v1/incidents/1/postmortem\.html"),
                               ("reviewer", r"demo, token \S{12,}"),
                               ("prometheus", r"http://127\.0\.0\.1:\d+/alerts"),
                               ("alertmanager", r"http://127\.0\.0\.1:\d+")]:
            assert re.search(rf"│ {label} +{pattern} +│", text), (label, text[-3000:])
        assert "feature-pipeline" in text and "webhook arrived" in text
        pids = json.loads(pidfile.read_text())["pids"]
        assert set(pids) == {"demo", "augur", "prometheus", "alertmanager"}
        assert all(Path(f"/proc/{pid}").exists() for pid in pids.values())

        stop = subprocess.run([*cli, "--stop"], env=env, capture_output=True, text=True, timeout=60)
        assert stop.returncode == 0 and "stopped: demo" in stop.stdout, stop.stdout + stop.stderr
        assert demo.wait(timeout=30) == 0
        for name, pid in pids.items():
            status = Path(f"/proc/{pid}/status")
            assert not status.exists() or "zombie" in status.read_text(), f"{name} (pid {pid}) still runs"
        assert not pidfile.exists()
        again = subprocess.run([*cli, "--stop"], env=env, capture_output=True, text=True, timeout=60)
        assert "no demo is running" in again.stdout
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        if pidfile.exists():  # a failed assertion above: Prometheus, Alertmanager and augur outlive the CLI
            subprocess.run([*cli, "--stop"], env=env, capture_output=True, timeout=60, check=False)
