"""Correlate and diagnose on hand-made findings: the ordering rules, in isolation from any backend."""

from __future__ import annotations

from typing import Any

from augur.agent.correlate import TOLERANCE_S, correlate, describe_change
from augur.agent.diagnose import diagnose
from augur.agent.state import Finding
from tests.agent.investigation_support import platform_catalog

T0 = 1_795_000_000.0
LAYER = {"feature-pipeline": "data", "ranker-model": "model", "ranker-serving": "service", "ctr": "business",
         "gpu-pool-a": "resource"}


def finding(signal: str, onset: float | None, z: float, *, anomalous: bool = True) -> Finding:
    component = signal.partition(".")[0]
    return Finding(
        component=component, signal=signal, layer=LAYER.get(component), query=signal, kind="metric",
        anomalous=anomalous, onset=onset, direction="up" if z > 0 else "down", magnitude=z, before=None,
        after=None, bad="any", unit=None, evidence_ids=[f"ev-{len(signal):012d}"])


def test_a_subtle_early_cause_beats_loud_later_symptoms() -> None:
    findings = [
        finding("ctr.ctr", T0 + 1800, -40.0),
        finding("ranker-serving.p99_latency", T0 + 1200, 60.0),
        finding("ranker-model.accuracy", T0 + 600, -20.0),
        finding("feature-pipeline.click_duration_psi", T0, 1.5),  # subtle, but first
        finding("gpu-pool-a.gpu_util", None, 0.3, anomalous=False),
    ]
    chain = correlate(findings, platform_catalog())
    order = ["feature-pipeline", "ranker-model", "ranker-serving", "ctr"]
    assert [f["component"] for f in chain.links] == order
    assert [f["signal"] for f in chain.normal] == ["gpu-pool-a.gpu_util"]
    result = diagnose(chain, platform_catalog())
    assert result.verdict == "identified" and result.top is not None
    assert result.top.component == "feature-pipeline"
    assert [c.component for c in result.candidates][1] == "ranker-model"


def test_an_effect_starting_well_before_its_cause_breaks_the_link() -> None:
    findings = [
        finding("ranker-model.accuracy", T0 + 3 * TOLERANCE_S, -20.0),
        finding("ranker-serving.p99_latency", T0, 30.0),  # started first: not caused by the model
    ]
    chain = correlate(findings, platform_catalog())
    assert len(chain.links) == 1
    assert chain.cause is not None and chain.cause["component"] == "ranker-serving"
    assert [f["component"] for f in chain.unexplained] == ["ranker-model"]


def test_a_cause_whose_onset_estimate_trails_a_little_still_leads() -> None:
    findings = [finding("gpu-pool-a.gpu_util", T0 + 30, 9.0), finding("ranker-serving.p99_latency", T0, 30.0)]
    chain = correlate(findings, platform_catalog())
    assert [f["component"] for f in chain.links] == ["gpu-pool-a", "ranker-serving"]


def test_nothing_changed_is_inconclusive() -> None:
    chain = correlate([finding("ctr.ctr", None, 0.2, anomalous=False)], platform_catalog())
    result = diagnose(chain, platform_catalog())
    assert result.verdict == "inconclusive" and result.candidates == []


def test_without_a_catalog_the_chain_is_onset_order_and_confidence_is_lower() -> None:
    findings = [finding("b.y", T0 + 600, 8.0), finding("a.x", T0, 8.0), finding("c.z", T0 + 900, 8.0)]
    for f in findings:
        f["layer"] = None
    no_catalog = correlate(findings, None)
    assert [f["signal"] for f in no_catalog.links] == ["a.x", "b.y", "c.z"] and not no_catalog.by_dependency
    with_names = diagnose(no_catalog, None)
    assert with_names.top is not None and with_names.top.component == "a"
    assert with_names.top.confidence < 0.8


def test_changes_are_described_in_the_units_people_read() -> None:
    def change(**values: Any) -> str:
        return describe_change(Finding(signal="s", magnitude=3.0, **values))  # type: ignore[typeddict-item]

    assert change(unit="psi", after=0.41, kind="drift") == "PSI 0.410"  # 3 significant digits
    assert change(unit="ratio", before=0.80, after=0.74) == "−6.0 pts"
    assert change(unit="s", before=0.3, after=0.9) == "×3.0"
    assert change(layer="business", unit="ratio", before=0.08, after=0.056) == "−30 %"
    assert change(unit="s", before=0.5, after=0.55) == "+10 %"
