"""Subtle variants: the cause's own change shrinks, the symptoms and the truth stay."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

import pytest

from augur.evals.runner import run_suite
from augur.evals.scenario import load_scenario
from augur.evals.scoring import CaseScore, summarise
from augur.evals.variants import anonymise, subtle


def test_subtle_scales_only_the_causes_own_changes() -> None:
    story = load_scenario("feature-drift-click-duration")
    quiet = subtle(story, 0.3, noise=2.0)
    (fault,) = quiet.faults
    by_metric = {e.metric: e for e in fault.effects}
    assert by_metric["click-psi"].delta == pytest.approx(0.42 * 0.3)  # feature-pipeline: the cause
    assert by_metric["accuracy"].delta == pytest.approx(-0.07)  # ranker-model: a symptom, unchanged
    assert by_metric["serving-latency"].factor == pytest.approx(3.2)
    assert quiet.metric("gpu-util").noise == pytest.approx(2 * story.metric("gpu-util").noise)
    assert quiet.truth == story.truth
    assert story.faults[0].effects[0].delta == pytest.approx(0.42)  # the original is untouched


def test_factor_effects_move_toward_one_and_benign_faults_stay() -> None:
    noisy = load_scenario("noisy-gpu-unrelated-incident")
    quiet = subtle(noisy, 0.5)
    cause = next(f for f in quiet.faults if not f.benign)
    assert next(e for e in cause.effects if e.metric == "kafka-lag").factor == pytest.approx(1 + 199 * 0.5)
    assert [f for f in quiet.faults if f.benign] == [f for f in noisy.faults if f.benign]
    with pytest.raises(ValueError, match="scale"):
        subtle(noisy, 0.0)


def test_skipped_cases_are_left_out_of_the_figures() -> None:
    def case(name: str, ac1: bool, skipped: bool = False) -> CaseScore:
        return CaseScore(name=name, truth={}, ranked=[], verdict="identified", fault_type=None, chain=[],
                         ac1=ac1, ac3=ac1, fault_type_ok=None, chain_accuracy=None, seconds=0.1,
                         error="alert no longer fires" if skipped else None, skipped=skipped)

    s = summarise([case("a", True), case("b", False, skipped=True)])
    assert s["scenarios"] == 1 and s["skipped"] == 1 and s["ac1"] == 1.0


@pytest.mark.slow
def test_a_variant_whose_alert_stops_firing_is_skipped(tmp_path: Path) -> None:
    """bad-deploy-5xx alerts on the cause itself: at 30 % of its 5xx jump the rule no longer fires."""
    chosen = [load_scenario("bad-deploy-5xx"), load_scenario("slow-feature-store")]
    result = asyncio.run(run_suite(chosen, workdir=tmp_path, variant=partial(subtle, scale=0.3)))
    deploy, store = result.cases
    assert deploy.skipped and "returned nothing" in (deploy.error or "")
    assert not store.skipped and store.error is None and store.ranked
    assert result.summary["skipped"] == 1 and result.summary["scenarios"] == 1


def test_anonymise_renames_names_and_keeps_what_signals_are() -> None:
    story = load_scenario("bad-deploy-5xx")
    opaque = anonymise(story)
    names = {c.name for c in opaque.catalog.components}
    assert names == {f"c{i:02d}" for i in range(1, len(story.catalog.components) + 1)}
    text = opaque.model_dump_json()
    for word in ("ranker-serving", "feature-pipeline", "gpu-pool-a", "business_ctr", "model_drift_score",
                 "RankerServerErrorsHigh", "error_ratio", "p99_latency", "click_duration_psi"):
        assert word not in text, word
    # Same layers, units, directions, edges and query shapes; standard exporter metrics keep their names.
    for before, after in zip(story.catalog.components, opaque.catalog.components, strict=True):
        assert after.layer == before.layer and len(after.depends_on) == len(before.depends_on)
        shape = [(s.kind, s.unit, s.bad) for s in before.signals]
        assert [(s.kind, s.unit, s.bad) for s in after.signals] == shape
    assert "http_requests_total" in text and "DCGM_FI_DEV_XID_ERRORS" in text
    assert opaque.truth.root_cause == "c05" and opaque.truth.fault_type == story.truth.fault_type
    assert opaque.truth.chain == ["c05.s2", "c06.s1"]
    assert opaque.alert.startswith("A") and opaque.rule()["alert"] == opaque.alert
