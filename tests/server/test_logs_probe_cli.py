"""`augur logs ingest`, `augur tool run log_search|gpu_probe` and `augur probe`, run as a user runs
them: the installed `augur` script in a subprocess with a clean AUGUR_* environment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from augur.evals.servers import free_port
from tests.fixtures.logs import serving_sample, write_jsonl

AUGUR = str(Path(sys.executable).with_name("augur"))


def _env(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUGUR_")}
    return {**clean, "AUGUR_DATA_DIR": str(tmp_path), **(extra or {})}


def augur(*args: str, tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AUGUR, *args], capture_output=True, text=True, env=_env(tmp_path, env),
                          timeout=60, check=False)


def test_ingest_then_search_from_the_shell(tmp_path: Path) -> None:
    logs = write_jsonl(serving_sample(hours=3.0), tmp_path / "serving.jsonl")
    junk = tmp_path / "notes.txt"
    junk.write_text("not a log\n")
    first = augur("logs", "ingest", str(logs), str(junk), tmp_path=tmp_path)
    assert first.returncode == 1  # one file failed
    assert "2160 lines" in first.stdout and "notes.txt:1: not a log line" in first.stderr
    again = augur("logs", "ingest", str(logs), tmp_path=tmp_path)
    assert again.returncode == 0 and "already ingested" in again.stdout
    args = {"start": "2026-11-24T00:00:00Z", "end": "2026-11-24T03:00:00Z", "filters": {"service": "vllm"}}
    result = augur("tool", "run", "log_search", "--args", json.dumps(args), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    evidence: dict[str, Any] = json.loads(result.stdout)
    assert evidence["status"] == "ok" and evidence["data"]["backend"].endswith("logs.db")
    assert evidence["data"]["templates"][0]["new"]
    assert "CUDA out of memory" in evidence["data"]["templates"][0]["template"]


def test_log_search_without_a_store_says_how_to_make_one(tmp_path: Path) -> None:
    result = augur("tool", "run", "log_search", tmp_path=tmp_path)
    evidence = json.loads(result.stdout)
    assert evidence["status"] == "unavailable" and "augur logs ingest" in evidence["reason"]


def test_probe_command_serves_the_endpoint_and_the_tool_reads_it(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([AUGUR, "probe", "--port", str(port)], env=_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        response: httpx.Response | None = None
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"{url}/v1/probe/gpu", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert response is not None, "augur probe did not start"
        # This machine has no GPU: the probe answers 503 with the reason (200 with readings on a GPU node).
        if response.status_code == 503:
            assert "no NVIDIA driver/NVML on this host" in response.json()["reason"]
        else:
            assert response.status_code == 200 and response.json()["gpus"]
        env = {"AUGUR_GPU_PROBE_URLS": json.dumps([url]), "AUGUR_GPU_PROBE_LOCAL": "false"}
        result = augur("tool", "run", "gpu_probe", tmp_path=tmp_path, env=env)
        evidence = json.loads(result.stdout)
        (node,) = evidence["data"]["nodes"]
        assert node["node"] == url
        assert node["status"] == ("unavailable" if response.status_code == 503 else "ok")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_ingest_reports_stored_merged_refused_and_the_year(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("-- rotated --\n"
                   "Jun 14 15:16:01 combo sshd[19939]: error: PAM: authentication failure for root\n"
                   "  from 218.188.2.4\n"
                   "Jun 14 15:16:02 combo sshd[19937]: check pass; user unknown\n")
    done = augur("logs", "ingest", "--year", "2005", str(log), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr  # some lines refused, but lines were read
    assert "2 lines stored" in done.stdout and "(1 merged, 1 refused; layout: syslog 2)" in done.stdout
    assert "refused 1 lines: no time, and no record before it to continue (first: line 1:" in done.stdout
    assert "times without a year took 2005 from --year" in done.stdout
    bad = augur("logs", "ingest", "--format", "<Level> <Content>", str(log), tmp_path=tmp_path)
    assert bad.returncode == 2 and "needs a time and a message" in bad.stderr
    user = augur("logs", "ingest", "--db", str(tmp_path / "other.db"), "--year", "2005", "--format",
                 "<Month> <Day> <Time> <Host> <Component>\\[<Pid>\\]: <Content>", str(log), tmp_path=tmp_path)
    assert user.returncode == 0 and "layout: user 2" in user.stdout


def test_ingest_ends_with_a_search_over_the_logs_own_span(tmp_path: Path) -> None:
    """A newcomer's file is from another day: `tool run log_search` with its default window (the
    last hour) found nothing in Loghub's Linux_2k.log, and nothing said which window would."""
    log = tmp_path / "auth.log"
    log.write_text("Jun 14 15:16:01 combo sshd[19939]: authentication failure; rhost=218.188.2.4\n"
                   "Jul 27 14:42:00 combo kernel: Linux agpgart interface v0.100\n")
    done = augur("logs", "ingest", "--year", "2005", str(log), str(tmp_path / "missing.log"),
                 tmp_path=tmp_path)
    assert done.returncode == 1  # the missing file
    assert "error: cannot read " in done.stderr and "No such file or directory" in done.stderr
    assert "Errno" not in done.stderr
    said = "the store holds 2 lines, 2005-06-14T15:16:01Z – 2005-07-27T14:42:00Z; search them: "
    assert said in done.stdout, done.stdout
    pasted = done.stdout.split(said)[1].strip()
    args = pasted.split("--args ", 1)[1].strip("'")
    found = augur("tool", "run", "log_search", "--args", args, tmp_path=tmp_path)
    evidence = json.loads(found.stdout)
    assert evidence["status"] == "ok" and evidence["data"]["total"] == 2, evidence["summary"]
