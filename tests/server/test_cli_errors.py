"""The CLI's conventions, as a user meets them: a table of invalid settings and command misuses.

Each row runs the installed CLI in a subprocess with a clean ``AUGUR_*`` environment and checks
the exit status (2: a setting or the command line is wrong; 1: a backend or the store failed),
that the message names what is wrong (the variable, its value with secrets masked, an example or
the URL that failed) and that no Python traceback reaches the user. A closed loopback port stands
in for a Prometheus that is down.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from augur.evals.servers import free_port
from augur.server.store.database import Store
from augur.server.store.proposals import SqlProposalStore
from tests.fixtures.prometheus import PromHistory
from tests.rules.samples import drift_proposal

REPO = Path(__file__).resolve().parents[2]
DEAD = f"http://127.0.0.1:{free_port()}"  # nothing listens there
SECRET = "s3cret-token-value"

# (id, environment, argv, exit status, texts the output must contain, texts it must not contain)
CASES: list[tuple[str, dict[str, str], list[str], int, list[str], list[str]]] = [
    ("probe-urls-not-json", {"AUGUR_GPU_PROBE_URLS": "http://x"}, ["config"], 2,
     ["AUGUR_GPU_PROBE_URLS='http://x'", "not valid JSON",
      'e.g. AUGUR_GPU_PROBE_URLS=\'["http://gpu-1:9402"'], []),
    ("probe-url-no-scheme", {"AUGUR_GPU_PROBE_URLS": '["gpu-1:9402"]'}, ["config"], 2,
     ["AUGUR_GPU_PROBE_URLS", "http:// or https://", "'gpu-1:9402'"], []),
    ("reviewer-tokens-broken-json", {"AUGUR_REVIEWER_TOKENS": '{"alice": "' + SECRET}, ["config"], 2,
     ["AUGUR_REVIEWER_TOKENS=<", "masked>", "not valid JSON", 'e.g. AUGUR_REVIEWER_TOKENS=\'{"alice"'],
     [SECRET]),
    ("reviewers-comma-list", {"AUGUR_REVIEWERS": "alice,bob"}, ["rules", "review"], 2,
     ["AUGUR_REVIEWERS='alice,bob'", """e.g. AUGUR_REVIEWERS='["alice", "bob"]'"""], []),
    ("data-dir-is-a-file", {"AUGUR_DATA_DIR": "{file}"}, ["ask", "status"], 2,
     ["AUGUR_DATA_DIR='{file}'", "is a file", "e.g. AUGUR_DATA_DIR="], []),
    ("data-dir-uncreatable", {"AUGUR_DATA_DIR": "{file}/augur"}, ["serve"], 2,
     ["AUGUR_DATA_DIR='{file}/augur'", "cannot be created"], ["serving on"]),
    ("integer-setting", {"AUGUR_WORKER_LEASE_SECONDS": "soon"}, ["worker"], 2,
     ["AUGUR_WORKER_LEASE_SECONDS='soon'", "valid integer", "e.g. AUGUR_WORKER_LEASE_SECONDS=60"], []),
    ("range-setting", {"AUGUR_WEBHOOK_MAX_BYTES": "0"}, ["config"], 2,
     ["AUGUR_WEBHOOK_MAX_BYTES='0'", "greater than 0", "e.g. AUGUR_WEBHOOK_MAX_BYTES=10485760"], []),
    ("url-without-scheme", {"AUGUR_PROMETHEUS_URL": "localhost:9090"}, ["tool", "list"], 2,
     ["AUGUR_PROMETHEUS_URL='localhost:9090'", "http:// or https://", "e.g. AUGUR_PROMETHEUS_URL=http://"],
     []),
    ("choice-setting", {"AUGUR_RULES_APPLY_MODE": "yolo"}, ["config"], 2,
     ["AUGUR_RULES_APPLY_MODE='yolo'", "'file' or 'patch'"], []),
    ("slack-routes-shape", {"AUGUR_SLACK_ROUTES": "[1]"}, ["config"], 2,
     ["AUGUR_SLACK_ROUTES[0]", "valid dictionary", '"channel"'], []),
    ("database-url-password-masked", {"AUGUR_DATABASE_URL": f"mysql://augur:{SECRET}@db/augur"},
     ["config"], 2,
     ["AUGUR_DATABASE_URL='mysql://augur:", "@db/augur'", "postgresql"], [SECRET]),
    ("negative-pull-interval", {"AUGUR_ALERTMANAGER_PULL_SECONDS": "-5"}, ["pull"], 2,
     ["AUGUR_ALERTMANAGER_PULL_SECONDS='-5'", "greater than or equal to 0"], []),
    ("config-file-missing", {"AUGUR_CONFIG_FILE": "/nonexistent/augur.yaml"}, ["config"], 2,
     ["AUGUR_CONFIG_FILE=/nonexistent/augur.yaml does not exist"], []),
    ("config-file-broken-yaml", {"AUGUR_CONFIG_FILE": "{bad_yaml}"}, ["config"], 2,
     ["is not valid YAML"], []),
    ("config-file-value-named-by-its-key", {"AUGUR_CONFIG_FILE": "{values_yaml}"}, ["config"], 2,
     ["session_ttl_seconds: 'soon' in {values_yaml}: Input should be a valid integer",
      "e.g. session_ttl_seconds: 28800", """reviewers: 'alice,bob' in {values_yaml}""",
      """e.g. reviewers: ["alice", "bob"]"""], ["AUGUR_SESSION_TTL_SECONDS", "AUGUR_REVIEWERS"]),
    ("config-file-misspelt-key", {"AUGUR_CONFIG_FILE": "{typo_yaml}"}, ["config"], 2,
     ["'promethus_url' in {typo_yaml} is not an augur setting: did you mean `prometheus_url`?"],
     ["AUGUR_PROMETHUS_URL"]),
    ("misspelt-variable", {"AUGUR_PROMETHEUS": "http://127.0.0.1:9090"}, ["config"], 0,
     ["AUGUR_PROMETHEUS is not an augur setting and is ignored: did you mean AUGUR_PROMETHEUS_URL?"], []),
    ("port-out-of-range", {}, ["serve", "--port", "99999"], 2, ["--port", "65535"], ["serving on"]),
    ("port-busy", {}, ["serve", "--port", "{busy_port}"], 1,
     ["cannot listen on 127.0.0.1:{busy_port}", "pick another --port"], ["serving on"]),
    ("tool-args-not-json", {}, ["tool", "run", "promql", "--args", "{query: up}"], 2,
     ["--args is not valid JSON", "e.g. --args"], []),
    ("tool-unknown", {}, ["tool", "run", "promql_instant"], 2,
     ["no tool 'promql_instant'", "augur tool list"], []),
    ("tool-backend-down", {}, ["tool", "run", "promql", "--args", '{"query": "up"}',
                               "--prometheus-url", DEAD],
     1,
     [f"cannot reach Prometheus at {DEAD}", "connection refused"], []),
    ("tool-backend-not-configured", {}, ["tool", "run", "prom_alerts"], 1, ["AUGUR_PROMETHEUS_URL"], []),
    ("investigate-nothing", {}, ["investigate"], 2, ["give ALERT.json"], []),
    ("investigate-missing-file", {}, ["investigate", "/nonexistent/alert.json"], 2, ["cannot read"], []),
    ("investigate-not-json", {}, ["investigate", "{bad_yaml}"], 2, ["is not JSON", "webhook body"], []),
    ("investigate-every-call-failed", {},
     ["investigate", str(REPO / "examples" / "alert.json"),
      "--catalog", str(REPO / "examples" / "platform.yaml"),
      "--prometheus-url", DEAD, "-q"], 1, ["tool calls failed", DEAD], []),
    ("investigate-nothing-examined", {},
     ["investigate", "--question", "why did sshd fail?", "--at", "2026-06-14T15:30:00Z"], 1,
     ["nothing was examined", "--catalog or AUGUR_CATALOG_FILE", "AUGUR_PROMETHEUS_URL"], []),
    ("investigate-bad-lookback", {}, ["investigate", "--question", "why?", "--lookback", "later"], 2,
     ["--lookback 'later'"], []),
    ("postmortem-bad-format", {}, ["postmortem", "1", "--format", "pdf"], 2, ["--format 'pdf'"], []),
    ("postmortem-out-is-a-file", {}, ["postmortem", "1", "--out", "{file}"], 2, ["is a file"], []),
    ("postmortem-unknown-incident", {}, ["postmortem", "999"], 1, ["no incident 999"], []),
    ("review-bad-state", {}, ["rules", "review", "--state", "done"], 2, ["--state 'done'"], []),
    ("review-approve-and-reject", {}, ["rules", "review", "pr-1", "--approve", "--reject"], 2,
     ["--approve and --reject"], []),
    ("verdict-no-token-no-terminal", {}, ["verdict", "1", "right"], 2,
     ["no terminal to ask for one on", "--token", "AUGUR_TOKEN", "`verdict` scope"], ["Aborted"]),
    ("review-no-token-no-terminal", {}, ["rules", "review", "pr-1", "--approve"], 2,
     ["no terminal to ask for one on", "--token", "AUGUR_REVIEWER_TOKENS"], ["Aborted"]),
    ("unknown-command", {}, ["investigat"], 2, ["No such command"], []),
]


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    """A port something already listens on."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock.getsockname()[1]


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUGUR_")}
    clean.update(env)
    return subprocess.run([sys.executable, "-m", "augur.server.cli", *argv], capture_output=True, text=True,
                          env=clean, timeout=60, check=False, stdin=subprocess.DEVNULL)


@pytest.mark.slow
@pytest.mark.parametrize(("env", "argv", "rc", "says", "never"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_misuse_exits_with_a_reason_and_no_traceback(
    env: dict[str, str], argv: list[str], rc: int, says: list[str], never: list[str], tmp_path: Path,
    busy_port: int,
) -> None:
    plain = tmp_path / "plain-file"
    plain.write_text("not a directory\n")
    bad_yaml = tmp_path / "broken.yaml"
    bad_yaml.write_text("data_dir: [unclosed\n")
    values_yaml = tmp_path / "values.yaml"
    values_yaml.write_text("session_ttl_seconds: soon\nreviewers: alice,bob\n")
    typo_yaml = tmp_path / "typo.yaml"
    typo_yaml.write_text("promethus_url: http://127.0.0.1:9090\n")
    values = {"{file}": str(plain), "{bad_yaml}": str(bad_yaml), "{busy_port}": str(busy_port),
              "{values_yaml}": str(values_yaml), "{typo_yaml}": str(typo_yaml)}

    def fill(text: str) -> str:
        for key, value in values.items():
            text = text.replace(key, value)
        return text

    environment = {"AUGUR_DATA_DIR": str(tmp_path / "data"), **{k: fill(v) for k, v in env.items()}}
    result = _run([fill(a) for a in argv], environment)
    output = result.stdout + result.stderr
    assert result.returncode == rc, output
    for text in says:
        assert fill(text) in output, output
    for text in [*never, "Traceback"]:
        assert fill(text) not in output, output
    assert len(CASES) >= 20


def test_version() -> None:
    result = _run(["--version"], {})
    assert result.returncode == 0 and result.stdout.startswith("augur ")
    assert result.stdout.split()[1][0].isdigit()


def test_rule_yaml_is_never_cut_when_piped(tmp_path: Path) -> None:
    """`augur rules review ID | pbcopy` gives the rule exactly as stored, long expression lines included."""
    url = f"sqlite:///{tmp_path / 'augur.db'}"
    store = Store.open(url)
    long_expr = ('avg_over_time(model_drift_score{feature="click_duration",model="ranker",method="psi"}[30m])'
                 ' > 0.2 and on() avg_over_time(model_accuracy{model="ranker",slice=""}[30m]) < 0.75')
    proposal, _ = SqlProposalStore(store).add(drift_proposal(expr=long_expr))
    store.dispose()
    env = {"AUGUR_DATABASE_URL": url, "AUGUR_DATA_DIR": str(tmp_path), "COLUMNS": "80"}
    result = _run(["rules", "review", proposal.id], env)
    assert result.returncode == 0, result.stderr
    assert proposal.rule_yaml.strip() in result.stdout
    shown = result.stdout[result.stdout.index("groups:"):result.stdout.index("promtool")]
    assert yaml.safe_load(shown)["groups"][0]["rules"][0]["expr"] == long_expr  # copied, it still parses


def test_a_question_about_ingested_logs_is_pointed_at_their_span(tmp_path: Path) -> None:
    """A newcomer's own logs (Loghub's Linux_2k.log is from June-July) are not from the last hour.

    ``augur investigate --question`` without a catalog or Prometheus made no tool call, said "no
    examined signal changed" and exited 0; without ``--at`` its example time was unrelated to the
    logs. Both now name the logs' span, and the window to search them in.
    """
    from augur.tools.logs import LogRecord, SqliteLogStore

    data = tmp_path / "data"
    data.mkdir()
    SqliteLogStore(data / "logs.db").ingest([  # 2005-06-14 15:16:01 and 16:16:01 UTC
        LogRecord(ts=1118762161 + 3600 * i, level="error", service="sshd", host="combo",
                  message="authentication failure") for i in range(2)])
    env = {"AUGUR_DATA_DIR": str(data)}
    no_time = _run(["investigate", "--question", "why did sshd fail?"], env)
    assert no_time.returncode == 2, no_time.stderr
    assert "give --at 2005-06-14T16:16:01Z" in no_time.stderr
    assert "span 2005-06-14T15:16:01Z – 2005-06-14T16:16:01Z (2 lines)" in no_time.stderr
    nothing = _run(["investigate", "--question", "why did sshd fail?", "--at", "2005-06-14T16:00:00Z"], env)
    assert nothing.returncode == 1, nothing.stderr
    assert "nothing was examined" in nothing.stderr
    assert ('augur tool run log_search --args \'{"start": "2005-06-14T15:16:01Z", '
            '"end": "2005-06-14T16:16:02Z"}\'') in nothing.stderr
    assert "Traceback" not in no_time.stderr + nothing.stderr


def test_a_prometheus_that_is_down_is_said_once_not_once_per_call(tmp_path: Path) -> None:
    """The README's first `augur investigate` against a Prometheus that does not answer.

    Its stderr was 30 identical ``✗ ...: backend unavailable (cannot reach Prometheus ...)``
    lines across five rounds: the one fact to act on, repeated until it scrolled off.
    """
    result = _run(["investigate", str(REPO / "examples" / "alert.json"),
                   "--catalog", str(REPO / "examples" / "platform.yaml"), "--prometheus-url", DEAD],
                  {"AUGUR_DATA_DIR": str(tmp_path)})
    assert result.returncode == 1, result.stderr
    failures = [line for line in result.stderr.splitlines() if f"cannot reach Prometheus at {DEAD}" in line]
    assert len(failures) == 3, result.stderr  # the first failure, the count of the rest, the exit's error
    assert "more call(s) failed the same way" in failures[1]


def test_an_inconclusive_verdict_line_does_not_read_as_naming_a_cause(prom_history: PromHistory) -> None:
    """stderr said ``verdict: inconclusive (feature-pipeline)`` for an alert about another service."""
    expr = ('histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket'
            '{service="checkout"}[5m]))) > 0.5')
    alert = {"status": "firing", "labels": {"alertname": "CheckoutP99High", "service": "checkout"},
             "startsAt": prom_history.t_end - 5 * 60,
             "generatorURL": f"{prom_history.url}/graph?g0.expr={quote(expr)}"}
    result = subprocess.run(
        [sys.executable, "-m", "augur.server.cli", "investigate", "-", "--catalog",
         str(REPO / "tests" / "agent" / "platform.yaml"), "--prometheus-url", prom_history.url],
        input=json.dumps(alert), capture_output=True, text=True, timeout=120, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("AUGUR_")})
    assert result.returncode == 0, result.stderr
    assert "verdict: inconclusive (best candidate feature-pipeline, not named as the cause)" in result.stderr
