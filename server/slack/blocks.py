"""Block Kit messages: the incident's first message, the report summary, rule proposals and outcomes.

Pure functions from augur's data to Slack ``blocks`` (lists of dicts), kept within Slack's limits
(3,000 characters per section, 150 per header). A proposal's buttons carry only its id in
``value``; the server looks everything else up again when a button is clicked. The report's
verdict buttons (Right, Not actionable) carry the incident id, and its "Wrong, it was…" menu
``incident_id:component`` for each other candidate; who clicked comes from Slack's signed request.
Every value that comes from telemetry, a report or a person (labels, names, questions, sentences)
is escaped with :mod:`augur.agent.escape`: ``<!channel>`` or ``<https://x|label>`` in a label shows as typed.
"""

from __future__ import annotations

from typing import Any

from augur.agent.chat import Answer
from augur.agent.escape import slack_code, slack_link, slack_text
from augur.agent.report import Report
from augur.rules.proposal import Proposal, ProposalState

__all__ = [
    "APPROVE",
    "REJECT",
    "VERDICT_ACTIONS",
    "VERDICT_NOT_ACTIONABLE",
    "VERDICT_OUTCOME",
    "VERDICT_RIGHT",
    "VERDICT_WRONG",
    "answer_blocks",
    "incident_blocks",
    "proposal_blocks",
    "report_blocks",
    "truncate",
    "verdict_blocks",
    "verdict_outcome_block",
]

#: ``action_id`` of the proposal buttons.
APPROVE = "proposal_approve"
REJECT = "proposal_reject"
#: ``action_id`` of the report's verdict buttons and menu.
VERDICT_RIGHT = "verdict_confirmed"
VERDICT_WRONG = "verdict_wrong"
VERDICT_NOT_ACTIONABLE = "verdict_not_actionable"
VERDICT_ACTIONS = (VERDICT_RIGHT, VERDICT_WRONG, VERDICT_NOT_ACTIONABLE)
#: ``block_id`` of the line saying who gave the latest verdict (replaced at each verdict).
VERDICT_OUTCOME = "verdict_outcome"

Block = dict[str, Any]


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, 2900)}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, 2900)}]}


def incident_blocks(incident_id: int, title: str, labels: dict[str, str], link: str | None) -> list[Block]:
    """The incident's first message, under which everything about it is threaded."""
    shown = ", ".join(slack_text(f"{k}={v}") for k, v in sorted(labels.items()) if k != "alertname")
    header = truncate(f"Incident #{incident_id}: {title}", 150)
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": header}}]
    blocks.append(_section(f"*Alert* {slack_code(labels.get('alertname', title))}"
                           + (f"  {shown}" if shown else "")
                           + "\naugur is investigating; the report will follow in this thread."))
    if link:
        blocks.append(_context(slack_link(link, f"Incident #{incident_id}")))
    return blocks


def report_blocks(incident_id: int, report: Report, base_url: str | None) -> list[Block]:
    """A compact report: root cause, confidence, chain, top fixes and links."""
    rc = report.root_cause
    if rc.verdict == "identified":
        fault = slack_text(rc.fault_type.replace("_", " "))
        verdict = (f"*Root cause*: {slack_code(rc.component)} — {fault} "
                   f"(signal {slack_code(rc.signal)})\n*Confidence*: {rc.confidence:.2f}")
    else:
        verdict = (f"*Root cause*: inconclusive (best confidence {rc.confidence:.2f}). "
                   f"{slack_text(rc.summary)}")
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate(report.title, 150)}},
        _section(verdict),
    ]
    if report.chain_text:
        blocks.append(_section(f"*Chain* (by onset): {slack_code(report.chain_text)}"))
    if report.fixes:
        fixes = "\n".join(f"{i}. {slack_text(fix.action)}" for i, fix in enumerate(report.fixes[:3], 1))
        blocks.append(_section(f"*Top fixes*\n{fixes}"))
    links = []
    if base_url:
        links.append(slack_link(f"{base_url}/v1/incidents/{incident_id}/report.md", "Full report"))
    cause_rows = [row for row in report.evidence if row.id in set(rc.evidence_ids) and row.link]
    if cause_rows:
        links.append(slack_link(cause_rows[0].link or "", "Cause in Prometheus"))
    stats = report.stats
    links.append(f"{stats.tool_calls} tool calls in {stats.wall_s:.1f} s ({slack_text(stats.planner)})")
    blocks.append(_context(" · ".join(links)))
    blocks.extend(verdict_blocks(incident_id, report))
    return blocks


def verdict_blocks(incident_id: int, report: Report) -> list[Block]:
    """Was the root cause right? Right (when a cause was named), Wrong — it was… (the other
    candidates), Not actionable; any other cause goes through the incident page or ``augur verdict``."""
    rc = report.root_cause
    named = rc.component if rc.verdict == "identified" else None
    elements: list[Block] = []
    if named is not None:
        elements.append({"type": "button", "action_id": VERDICT_RIGHT, "style": "primary",
                         "value": str(incident_id), "text": {"type": "plain_text", "text": "Right"}})
    others = list(dict.fromkeys(c.component for c in report.candidates if c.component != named))
    options = [{"text": {"type": "plain_text", "text": truncate(c, 75)}, "value": f"{incident_id}:{c}"}
               for c in others if len(f"{incident_id}:{c}") <= 150][:100]
    if options:
        elements.append({"type": "static_select", "action_id": VERDICT_WRONG, "options": options,
                         "placeholder": {"type": "plain_text", "text": "Wrong, it was…"}})
    elements.append({"type": "button", "action_id": VERDICT_NOT_ACTIONABLE, "value": str(incident_id),
                     "text": {"type": "plain_text", "text": "Not actionable"}})
    return [{"type": "actions", "block_id": f"verdict:{incident_id}", "elements": elements},
            _context("Was the root cause right? Another cause: the incident page or "
                     f"{slack_code(f'augur verdict {incident_id} wrong --cause ...')}")]


def verdict_outcome_block(line: str) -> Block:
    """The line under the report saying the latest verdict and who gave it."""
    block = _context(line)
    block["block_id"] = VERDICT_OUTCOME
    return block


def _outcome_line(proposal: Proposal, actor: str | None, detail: str) -> str:
    who = f" by {slack_text(actor)}" if actor else ""
    marks = {ProposalState.APPLIED: ":white_check_mark: Approved and applied",
             ProposalState.APPROVED: ":white_check_mark: Approved",
             ProposalState.REJECTED: ":x: Rejected",
             ProposalState.FAILED: ":warning: Approved, but applying failed"}
    if proposal.is_action:
        marks |= {ProposalState.APPLIED: ":white_check_mark: Approved and run",
                  ProposalState.FAILED: ":warning: Approved, but running it failed"}
    line = marks.get(proposal.state, f"State: {proposal.state.value}") + who
    return line + (f" — {slack_text(truncate(detail, 500))}" if detail else "")


def proposal_blocks(proposal: Proposal, *, actor: str | None = None, detail: str = "") -> list[Block]:
    """A rule proposal: what and why, the rule, and Approve/Reject while it is pending."""
    header = (f"*{'Action' if proposal.is_action else 'Rule'} proposal* — {slack_text(proposal.title)}\n"
              f"{slack_text(truncate(proposal.rationale, 1200))}")
    if proposal.is_action:  # what approving runs, as its dry run saw it
        preview = slack_text(truncate(proposal.validation.output, 900))
        header += f"\n_{slack_text(proposal.validation.tool)}_: {preview}"
    if proposal.backtest is not None and proposal.backtest.lead_minutes is not None:
        header += (f"\n_Backtest_: {proposal.backtest.episodes} firing episode(s) over "
                   f"{proposal.backtest.days:.1f} days; {proposal.backtest.lead_minutes:.0f} min before "
                   "the incident's first alert.")
    rule = slack_text(truncate(proposal.rule_yaml, 2500)).replace("```", "ʼʼʼ")
    blocks: list[Block] = [_section(header), _section(f"```{rule}```")]
    if proposal.state in (ProposalState.PENDING, ProposalState.FAILED):
        blocks.append({
            "type": "actions", "block_id": f"proposal:{proposal.id}",
            "elements": [
                {"type": "button", "action_id": APPROVE, "style": "primary", "value": proposal.id,
                 "text": {"type": "plain_text",
                          "text": "Approve and run" if proposal.is_action else "Approve"}},
                {"type": "button", "action_id": REJECT, "style": "danger", "value": proposal.id,
                 "text": {"type": "plain_text", "text": "Reject"}},
            ],
        })
    if proposal.state is not ProposalState.PENDING:
        blocks.append(_context(_outcome_line(proposal, actor, detail)))
    else:
        blocks.append(_context(f"{slack_code(proposal.id)} · pending review by an allowed reviewer"))
    return blocks


def answer_blocks(answer: Answer) -> list[Block]:
    """A chat answer as blocks (the same text as :meth:`Answer.as_text`, in sections)."""
    blocks = [_section(slack_text(answer.headline))]
    body = "\n".join(filter(None, [slack_text(answer.verdict),
                                   f"*Chain*: {slack_code(answer.chain)}" if answer.chain else ""]))
    if body:
        blocks.append(_section(body))
    if answer.sentences:
        blocks.append(_section("\n".join(
            f"• {slack_text(s.text)} " + " ".join(slack_code(i) for i in s.evidence_ids)
            for s in answer.sentences)))
    if answer.fixes:
        blocks.append(_section("*Fixes*\n" + "\n".join(
            f"{i}. {slack_text(f)}" for i, f in enumerate(answer.fixes, 1))))
    if answer.others:
        blocks.append(_context("Also matching: " + "; ".join(slack_text(o) for o in answer.others)))
    if answer.tool_evidence:
        blocks.append(_context("Checked now: " + "; ".join(slack_text(t) for t in answer.tool_evidence)))
    if answer.notes:
        blocks.append(_context(" ".join(slack_text(n) for n in answer.notes)))
    return blocks
