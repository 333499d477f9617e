"""Grounding: narrative sentences survive only with cited evidence that holds their numbers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from augur.agent.grounding import ground, sentence_numbers
from augur.agent.report import Sentence
from augur.tools.evidence import Evidence, EvidenceStatus

T_ONSET = 1_795_000_200.0  # 2026-11-19 ... a fixed Unix time


def _evidence() -> dict[str, dict[str, Any]]:
    drift = Evidence.make(
        "onset", {"query": 'model_drift_score{feature="click_duration"}'}, EvidenceStatus.OK,
        "model_drift_score left its baseline: up, level shift",
        data={"found": True, "onset": T_ONSET, "direction": "up", "magnitude_z": 41.6,
              "reference": {"median": 0.05}, "delta": 0.4},
    )
    accuracy = Evidence.make(
        "promql_range", {"query": 'model_accuracy{model="ranker"}'}, EvidenceStatus.OK,
        "model_accuracy went down from 0.8 to 0.74",
        data={"series": [{"baseline_median": 0.8, "recent_median": 0.74, "deviation": -6.9}]},
    )
    return {e.id: e.model_dump(mode="json") for e in (drift, accuracy)}


def test_uncited_claim_and_invented_number_are_dropped_grounded_ones_kept() -> None:
    evidence = _evidence()
    drift_id, acc_id = list(evidence)
    hhmm = datetime.fromtimestamp(T_ONSET, UTC).strftime("%H:%M")
    sentences = [
        Sentence(text=f"click_duration drift rose to PSI 0.45 from {hhmm} UTC.", evidence_ids=[drift_id]),
        Sentence(text="Accuracy fell by 6 pts (0.80 to 0.74), a −7.5 % change.", evidence_ids=[acc_id]),
        Sentence(text="The GPU pool overheated and throttled the ranker.", evidence_ids=[]),  # uncited
        Sentence(text="Accuracy fell by 17 pts after the deploy.", evidence_ids=[acc_id]),  # invented 17
        Sentence(text="Drift began at 04:59 UTC.", evidence_ids=[drift_id]),  # a time in no evidence
        Sentence(text="p99 tripled on ranker-serving.", evidence_ids=["ev-000000000000"]),  # unknown id
    ]
    kept, dropped = ground(sentences, evidence)
    assert [s.text for s in kept] == [sentences[0].text, sentences[1].text]
    reasons = {d.text: d.reason for d in dropped}
    assert reasons[sentences[2].text] == "cites no evidence"
    assert "17" in reasons[sentences[3].text]
    assert "04:59" in reasons[sentences[4].text] or hhmm == "04:59"
    assert "unknown evidence" in reasons[sentences[5].text]


def test_identifiers_with_digits_are_not_numbers() -> None:
    text = "p99 of ranker-v7 on gpu-0 over [5m] rose 3.5 % (ev-abc123def456)"
    found = [w for _, w in sentence_numbers(text)]
    assert found == ["3.5 %"]


def test_raw_points_and_guard_limits_do_not_ground_a_number() -> None:
    """A sparkline spans many values and guard limits are configuration: neither is a citable figure."""
    ev = Evidence.make(
        "promql_range", {"query": "business_ctr"}, EvidenceStatus.OK, "ctr fell from 0.08 to 0.056",
        data={
            "series": [
                {"min": 0.056, "max": 0.08, "sparkline": [[1e9 + i, 0.05 + i / 1000] for i in range(60)]}
            ],
            "guards": {"max_points": 11000, "max_series": 500},
        },
    ).model_dump(mode="json")
    evidence = {ev["id"]: ev}
    kept, dropped = ground(
        [
            Sentence(text="CTR fell from 0.08 to 0.056.", evidence_ids=[ev["id"]]),
            Sentence(text="CTR touched 0.091 at one point.", evidence_ids=[ev["id"]]),  # a sparkline value
            Sentence(text="It lost 11000 clicks.", evidence_ids=[ev["id"]]),  # a guard limit
        ],
        evidence,
    )
    assert [s.text for s in kept] == ["CTR fell from 0.08 to 0.056."]
    assert [d.reason for d in dropped] == [
        "numbers not found in the cited evidence: 0.091",
        "numbers not found in the cited evidence: 11000",
    ]
