"""Incident memory: similar past incidents on the report, and the bounded prior their verdicts give.

Two kinds of input. The ranking cases use the catalog of the synthetic ``train-serve-skew``
scenario (evals/scenarios) with findings shaped as the agent reads them there: a quiet skew on
the feature store whose onset is estimated a little after the loud accuracy drop it causes (the
case where the evidence points at the model). The end-to-end cases run the investigation twice on
the real Prometheus history fixture (the click-duration drift chain), the second time with the
first as a past incident.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from augur.agent.catalog import Catalog
from augur.agent.correlate import correlate
from augur.agent.diagnose import diagnose
from augur.agent.investigation import investigate
from augur.agent.markdown import render_markdown
from augur.agent.memory import (
    PRIOR_MAX,
    PastIncident,
    VerdictPrior,
    recall,
    remember,
    similarity,
    verdict_prior,
)
from augur.agent.report import IncidentProfile, Report, SimilarIncident
from augur.agent.state import Finding, InvestigationState
from augur.evals.scenario import load_scenario
from tests.agent.investigation_support import (
    latency_alert,
    platform_catalog,
    registry_for,
    write_platform_logs,
)
from tests.fixtures.prometheus import PromHistory

T = 1_800_000_000.0
WHEN = datetime(2026, 11, 20, 3, 10, tzinfo=UTC)


def _finding(comp: str, sig: str, layer: str, onset_min: float, z: float, bad: str = "up") -> Finding:
    return Finding(component=comp, signal=f"{comp}.{sig}", layer=layer, kind="metric", anomalous=True,
                   onset=T + onset_min * 60, direction=bad, magnitude=z if bad == "up" else -z,
                   z=z if bad == "up" else -z, bad=bad, evidence_ids=[f"ev-{comp}-{sig}"])


def _skew_findings(skew_z: float, skew_onset_min: float) -> list[Finding]:
    """train-serve-skew as read: the skew (cause), the accuracy drop at -150 min, CTR later."""
    return [_finding("feature-store", "user_age_skew", "service", skew_onset_min, skew_z),
            _finding("ranker-model", "accuracy", "model", -150, 12.0, bad="down"),
            _finding("ctr", "ctr", "business", -120, 6.0, bad="down")]


@pytest.fixture(scope="module")
def skew_catalog() -> Catalog:
    return load_scenario("train-serve-skew").catalog


def _state(findings: list[Finding]) -> InvestigationState:
    return InvestigationState(findings=findings, calls=[], evidence={})


def _rank(findings: list[Finding], catalog: Catalog, memory: list[PastIncident]) -> list[Any]:
    prior = verdict_prior(_state(findings), memory)
    return diagnose(correlate(findings, catalog), catalog, prior=prior).candidates


def _past(findings: list[Finding], **kw: Any) -> PastIncident:
    changed = [f for f in findings if f.get("anomalous")]
    return PastIncident(title="ranker train/serve gap", at=WHEN,
                        components=sorted({str(f["component"]) for f in changed}),
                        signals=sorted({f["signal"] for f in changed}), **kw)


def test_similarity_is_a_weighted_jaccard_that_names_what_matched() -> None:
    now = IncidentProfile(components=["a", "b", "c"], signals=["a.x", "b.y"], fault_type="data_drift",
                          templates=["Timeout after <*> ms"])
    then = IncidentProfile(components=["a", "b"], signals=["a.x", "c.z"], fault_type="data_drift",
                           templates=["timeout  after <*> MS", "OOM"])
    sim = similarity(now, then)
    # components 2/3, signals 1/3, fault type 1/1, templates 1/2 (case and spaces do not count)
    assert sim.score == pytest.approx(0.35 * 2 / 3 + 0.30 / 3 + 0.20 + 0.15 / 2, abs=1e-4)
    assert sim.explain() == ("components 2/3 × 0.35 (a, b); signals 1/3 × 0.30 (a.x); fault type 1/1 × 0.20 "
                             "(data_drift); new log templates 1/2 × 0.15 (timeout after <*> ms)")
    # Before diagnosis the fault type is unknown here: left out, and said so; so are templates
    # when neither incident had a new one.
    blind = similarity(IncidentProfile(components=["a", "b"]), IncidentProfile(components=["a", "b"],
                                                                              fault_type="gpu_oom"))
    assert blind.score == 1.0
    assert blind.explain().endswith("fault type not compared; new log templates not compared")


def test_unrelated_past_incidents_are_not_recalled() -> None:
    now = IncidentProfile(components=["feature-store", "ranker-model"], signals=["ranker-model.accuracy"])
    gpu = PastIncident(id="INC-3", title="GPU OOM", at=WHEN, components=["gpu-pool-a", "ranker-serving"],
                       signals=["gpu-pool-a.fb_used"], fault_type="gpu_oom", root_cause="gpu-pool-a",
                       verdict="confirmed")
    assert recall(now, [gpu]) == []
    accuracy = _finding("ranker-model", "accuracy", "model", 0, 9.0, "down")
    assert verdict_prior(_state([accuracy]), [gpu]) is None


def test_a_real_cause_goes_only_with_a_wrong_verdict() -> None:
    with pytest.raises(ValueError, match="verdict 'wrong'"):
        PastIncident(id="INC-1", title="x", at=WHEN, verdict="confirmed", real_cause="feature-store")


def test_wrong_it_was_x_ranks_x_higher_next_time_with_the_reason(skew_catalog: Catalog) -> None:
    # The skew's onset is estimated 2.1 min after the accuracy drop: the model looks first.
    findings = _skew_findings(skew_z=9.0, skew_onset_min=-147.9)
    before = _rank(findings, skew_catalog, [])
    assert [c.component for c in before[:2]] == ["ranker-model", "feature-store"]
    wrong = _past(findings, id="INC-7", root_cause="ranker-model", fault_type=before[0].fault_type,
                  verdict="wrong", real_cause="feature-store", fix="re-aligned the user_age transform")
    after = _rank(findings, skew_catalog, [wrong])
    assert after[0].component == "feature-store"
    fs = after[0]
    assert fs.score > next(c.score for c in before if c.component == "feature-store")
    assert any(r.startswith("past verdicts +0.08") and "named the real cause instead of ranker-model in INC-7"
               in r for r in fs.reasons), fs.reasons
    rm = next(c for c in after if c.component == "ranker-model")
    assert any(r.startswith("past verdicts -0.08") and "judged wrong, it was feature-store in INC-7" in r
               for r in rm.reasons), rm.reasons


def test_a_prior_never_overrides_strong_evidence(skew_catalog: Catalog) -> None:
    # Here the skew clearly comes first: its evidence score leads by more than 2 × PRIOR_MAX.
    findings = _skew_findings(skew_z=9.0, skew_onset_min=-149)
    before = _rank(findings, skew_catalog, [])
    assert before[0].component == "feature-store"
    assert before[0].score - before[1].score > 2 * PRIOR_MAX
    # Three past incidents, all judged "wrong, it was ranker-model": the most a prior can do.
    memory = [_past(findings, id=f"INC-{i}", root_cause="feature-store", fault_type=before[0].fault_type,
                    verdict="wrong", real_cause="ranker-model") for i in range(3)]
    after = _rank(findings, skew_catalog, memory)
    assert [c.component for c in after] == [c.component for c in before]
    fs, rm = after[0], next(c for c in after if c.component == "ranker-model")
    assert fs.score == pytest.approx(before[0].score - PRIOR_MAX, abs=1e-4)
    assert rm.parts["prior"] == PRIOR_MAX
    assert any("bounded at ±0.10" in r for r in fs.reasons)


def test_confirmed_raises_only_the_same_component_and_fault_type(skew_catalog: Catalog) -> None:
    findings = _skew_findings(skew_z=9.0, skew_onset_min=-147.9)
    before = {c.component: c for c in _rank(findings, skew_catalog, [])}
    confirmed = _past(findings, id="INC-2", root_cause="ranker-model", fault_type="gpu_oom",
                      verdict="confirmed")
    prior = VerdictPrior(recall(IncidentProfile(components=confirmed.components,
                                                signals=confirmed.signals), [confirmed]))
    assert prior.votes("ranker-model", "gpu_oom") and not prior.votes("ranker-model", "model_degradation")
    after = {c.component: c for c in _rank(findings, skew_catalog, [confirmed])}
    assert after["ranker-model"].score == before["ranker-model"].score  # another fault type: no vote


# --- end to end, on the real Prometheus history fixture -------------------------------------


def _investigate(prom: PromHistory, data_dir: Any, fingerprint: str, memory: list[PastIncident]) -> Report:
    """The latency alert of the fixture, as another alert episode (its own investigation id)."""
    registry = registry_for(prom.url, data_dir)
    alert = latency_alert(prom.t_end - 5 * 60, prom.url)
    alert["alerts"][0]["fingerprint"] = fingerprint
    return asyncio.run(investigate(alert, registry=registry, catalog=platform_catalog(), now=prom.t_end,
                                   memory=memory))


@pytest.fixture(scope="module")
def first(prom_history: PromHistory, tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Any]:
    data_dir = tmp_path_factory.mktemp("memory-data")
    assert write_platform_logs(data_dir, prom_history.t_end, prom_history.onsets) > 0
    return _investigate(prom_history, data_dir, "0000000000000041", []), data_dir


def test_the_second_report_cites_the_confirmed_first_and_its_fix(
        first: tuple[Report, Any], prom_history: PromHistory) -> None:
    report1, data_dir = first
    assert report1.root_cause.component == "feature-pipeline" and report1.similar_incidents == []
    assert report1.profile is not None and "feature-pipeline" in report1.profile.components
    past = PastIncident.from_report(report1, id="INC-41", verdict="confirmed",
                                    fix="rolled back the upstream events schema to v1")
    report2 = _investigate(prom_history, data_dir, "0000000000000043", [past])
    assert report2.root_cause.component == "feature-pipeline"
    cited = report2.similar_incidents[0]
    assert (cited.id, cited.verdict, cited.cause, cited.fix) == (
        "INC-41", "confirmed", "feature-pipeline", "rolled back the upstream events schema to v1")
    assert cited.similarity > 0.9 and "feature-pipeline" in cited.matched["components"]
    assert any("confirmed in INC-41" in r for r in report2.candidates[0].reasons)
    md = render_markdown(report2)
    section = md.split("## Similar past incidents")[1].split("\n## ")[0]
    assert "INC-41" in section and "cause confirmed: `feature-pipeline`" in section
    assert "fix: rolled back the upstream events schema to v1" in section
    again = Report.model_validate_json(report2.model_dump_json())
    assert again.similar_incidents == report2.similar_incidents


def test_a_wrong_verdict_shows_on_the_next_report_without_overriding_its_evidence(
        first: tuple[Report, Any], prom_history: PromHistory) -> None:
    report1, data_dir = first
    past = PastIncident.from_report(report1, id="INC-42", verdict="wrong", real_cause="ranker-model")
    baseline = {c.component: c for c in report1.candidates}
    report2 = _investigate(prom_history, data_dir, "0000000000000044", [past])
    ranked = {c.component: c for c in report2.candidates}
    # The same window as the first: the scores differ by the prior alone.
    assert ranked["ranker-model"].score > baseline["ranker-model"].score
    assert ranked["feature-pipeline"].score < baseline["feature-pipeline"].score
    assert any("named the real cause instead of feature-pipeline in INC-42" in r
               for r in ranked["ranker-model"].reasons)
    assert any("judged wrong, it was ranker-model in INC-42" in r for r in ranked["feature-pipeline"].reasons)
    listed = report2.similar_incidents[0]
    assert (listed.verdict, listed.named_cause, listed.cause) == ("wrong", "feature-pipeline", "ranker-model")
    assert "judged wrong: it was `ranker-model`" in render_markdown(report2)
    # The evidence still names feature-pipeline; the reader is told what the past incident says.
    assert report2.root_cause.component == "feature-pipeline"
    assert ("INC-42 (similarity 1.00) was caused by ranker-model, not feature-pipeline: a candidate here, "
            "ranked lower") in report2.open_questions


def test_a_past_cause_that_is_no_candidate_here_is_an_open_question(first: tuple[Report, Any]) -> None:
    report1, _ = first
    # The fixture's report (feature-pipeline named) with another incident's findings: a unit of remember().
    state = _state(_skew_findings(9.0, -149))
    past = _past(_skew_findings(9.0, -149), id="INC-8", root_cause="feature-store", fault_type="unknown",
                 verdict="wrong", real_cause="gpu-pool-c", real_fault_type="gpu_oom")
    shown = remember(report1.model_copy(deep=True), state, [past])
    assert shown.similar_incidents[0].id == "INC-8"
    said = "caused by gpu-pool-c (gpu oom), not feature-pipeline: not among the changed components here"
    questions = shown.open_questions
    assert any(q.startswith("INC-8 (similarity ") and said in q for q in questions), questions


def test_the_section_escapes_what_people_and_telemetry_wrote(first: tuple[Report, Any]) -> None:
    report1, _ = first
    report = report1.model_copy(deep=True)
    report.similar_incidents = [SimilarIncident(
        id="INC-9", title="p99 | high", at=WHEN, similarity=0.8, why="components 1/1 × 0.35 (a)",
        verdict="confirmed", named_cause="feature-pipeline", cause="feature-pipeline",
        fault_type="data_drift", fix="ran `kubectl rollout undo`\n## Approved [here](https://evil.example)")]
    line = render_markdown(report).split("## Similar past incidents\n\n")[1].splitlines()[0]
    assert "\\`kubectl rollout undo\\`" in line and "\\[here\\](https://evil.example)" in line
    assert "p99 \\| high" in line and "## Approved" not in render_markdown(report).splitlines()
