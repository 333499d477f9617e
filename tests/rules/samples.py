"""Proposals to review in tests, built the way the engine builds them."""

from __future__ import annotations

from typing import Any

from augur.rules.proposal import Backtest, Proposal, ProposalKind, Validation


def drift_proposal(threshold: float = 0.2, *, expr: str | None = None, name: str = "RankerClickDurationDrift",
                   t_end: float = 1_790_000_000.0) -> Proposal:
    """A threshold proposal on the ranker's drift score, with a small backtest."""
    rule: dict[str, Any] = {
        "alert": name,
        "expr": expr or f'model_drift_score{{feature="click_duration",model="ranker"}} > {threshold}',
        "for": "5m",
        "labels": {"severity": "ticket", "proposed_by": "augur"},
        "annotations": {"summary": "ranker click_duration drift above its seasonal band"},
    }
    start = t_end - 6 * 3600
    series = [(start + i * 300, 0.05 if i < 54 else 0.45) for i in range(73)]
    backtest = Backtest(expr=rule["expr"], start=start, end=t_end, step_s=60, for_s=300, episodes=1,
                        firing_minutes=85, spans=[(t_end - 85 * 60, t_end)], first_fire_at=t_end - 85 * 60,
                        incident_start=t_end - 55 * 60, lead_minutes=30, value_series=series,
                        threshold=threshold)
    return Proposal.build(
        ProposalKind.THRESHOLD, "augur-proposed", rule,
        rationale="Drift on click_duration led the chain [ev-0123456789ab]; "
                  "no rule watched it [ev-ba9876543210].",
        evidence_ids=["ev-0123456789ab", "ev-ba9876543210"],
        validation=Validation(ok=True, tool="promtool check rules", output="SUCCESS: 1 rules found"),
        backtest=backtest,
    )
