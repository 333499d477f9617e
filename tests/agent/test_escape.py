"""Hostile labels (``<!channel>``, disguised links, backticks, pipes, HTML) come out escaped in
Slack blocks, Markdown reports and the review page's HTML: shown as typed, never acting."""

from __future__ import annotations

import json
import re

from augur.agent.escape import md_code, md_text, slack_text
from augur.agent.markdown import render_markdown
from augur.agent.report import Report
from augur.rules.proposal import Proposal, ProposalKind, Validation
from augur.server.slack.blocks import incident_blocks, proposal_blocks, report_blocks
from augur.server.web import proposals as _proposals  # noqa: F401  (review_page imports it first)
from augur.server.web.review_page import _TEMPLATES
from tests.fixtures.incidents import ranker_report

__all__ = ["ranker_report"]

CHANNEL = "<!channel>"
LINK = "<https://evil.example/sso|approve the rollback here>"
NAME = "Ranker`Latency` | <b>bold</b>"
LABELS = {"alertname": NAME, "service": CHANNEL, "team": LINK, "note": "<script>alert(1)</script>"}


def _mrkdwn(blocks: list[dict[str, object]]) -> str:
    return json.dumps(blocks)


def _hostile(report: Report) -> Report:
    alert = report.alert.model_copy(update={"name": NAME, "labels": LABELS, "question": f"why {LINK}?"})
    rc = report.root_cause.model_copy(update={"component": f"ranker`{CHANNEL}"})
    return report.model_copy(update={"alert": alert, "title": f"{NAME} {CHANNEL}", "root_cause": rc})


def test_slack_blocks_show_mentions_and_links_as_text(ranker_report: Report) -> None:
    blocks = incident_blocks(7, NAME, LABELS, "https://augur.example/v1/incidents/7")
    blocks += report_blocks(7, _hostile(ranker_report), "https://augur.example")
    text = json.loads(_mrkdwn(blocks))
    mrkdwn = " ".join(b["text"]["text"] for b in text if b.get("text", {}).get("type") == "mrkdwn")
    mrkdwn += " ".join(e["text"] for b in text for e in b.get("elements", []) if e.get("type") == "mrkdwn")
    assert "<!channel>" not in mrkdwn and "&lt;!channel&gt;" in mrkdwn
    assert "<https://evil.example" not in mrkdwn and "&lt;https://evil.example/sso|approve" in mrkdwn
    assert "<script>" not in mrkdwn
    # augur's own links are still links; the only `<` left open are them.
    assert re.findall(r"<([^>|]+)\|", mrkdwn) == ["https://augur.example/v1/incidents/7",
                                                 "https://augur.example/v1/incidents/7/report.md",
                                                 *re.findall(r"<(http://[^>|]+)\|", mrkdwn)]
    # A backtick in the name cannot close the inline code it is shown in.
    code = re.search(r"\*Alert\* (`[^`]*`)", mrkdwn)
    assert code is not None and "Latency" in code.group(1)


def test_proposal_blocks_escape_title_rationale_and_rule() -> None:
    proposal = Proposal.build(ProposalKind.INHIBITION, "alertmanager",
                              {"source_matchers": [f'alertname=~"{CHANNEL}"'], "target_matchers": []},
                              validation=Validation(ok=True, tool="amtool check-config", output=""),
                              evidence_ids=[], rationale=f"{LINK} ``` {CHANNEL}")
    text = _mrkdwn(proposal_blocks(proposal))
    assert "<!channel>" not in text and "<https://evil" not in text and "&lt;!channel&gt;" in text


def test_markdown_report_keeps_code_and_tables_closed(ranker_report: Report) -> None:
    markdown = render_markdown(_hostile(ranker_report))
    alert_line = next(line for line in markdown.splitlines() if line.startswith("**Alert**"))
    assert md_code(NAME) in alert_line  # a longer fence: the backticks inside stay inside
    outside_code = markdown.replace(md_code(NAME), "")  # HTML inside a code span is shown, not run
    assert re.search(r"(?<!\\)<(?:b>|script|https://evil)", outside_code) is None
    assert "\\<https://evil.example/sso\\|approve the rollback here\\>" in markdown
    assert md_code(f"ranker`{CHANNEL}") in markdown
    for line in markdown.splitlines():
        if line.startswith("| ") and "---" not in line:  # table rows keep their column count
            assert len(re.split(r"(?<!\\)\|", line)) in {8, 9, 7}, line


def test_review_page_html_escapes_proposal_text() -> None:
    proposal = Proposal.build(ProposalKind.THRESHOLD, "augur", {"alert": NAME, "expr": "up == 0"},
                              validation=Validation(ok=True, tool="promtool", output="<img src=x onerror=1>"),
                              evidence_ids=[], rationale=f"{LINK} <script>alert(1)</script>")
    html = _TEMPLATES.get_template("review.html").render(
        pending=[{"p": proposal, "summary": "s", "rationale": proposal.rationale, "chart": None}],
        decided=[], last_event={}, reviewer="alice", csrf_token="t", message="", error=False)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html and "<b>bold</b>" not in html


def test_escapers_round_trip_plain_text() -> None:
    assert md_text("ranker-serving p99 0.82 s") == "ranker-serving p99 0.82 s"
    assert slack_text("plain") == "plain"
    assert md_code("a`b") == "``a`b``"
