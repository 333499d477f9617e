"""Ranking rules for real one-minute telemetry: noise-aware strength, tied onsets, stale changes.

Hand-made findings and evidence, in isolation from any backend (the Nezha benchmark in
``tests/evals/test_nezha.py`` runs them on real faults).
"""

from __future__ import annotations

from typing import Any

from augur.agent.correlate import correlate
from augur.agent.diagnose import diagnose
from augur.agent.findings import collect_findings, noise_aware_strength
from augur.agent.state import CallRecord, Finding, InvestigationState
from augur.tools.onset_tool import OnsetData, OnsetReference, SeriesOnset
from tests.agent.investigation_support import platform_catalog

T0 = 1_795_000_000.0


def metric(signal: str, onset: float | None, z: float, before: float | None = None,
           after: float | None = None, unit: str | None = None) -> Finding:
    component = signal.partition(".")[0]
    return Finding(
        component=component, signal=signal, layer=None, query=signal, kind="metric", anomalous=True,
        onset=onset, direction="up" if z > 0 else "down", magnitude=z, before=before, after=after,
        bad="any", unit=unit, evidence_ids=[f"ev-{signal}"])


def test_a_wiggle_on_a_flat_baseline_is_not_a_strong_change() -> None:
    # 4.6 ms -> 4.7 ms over a quantised baseline reads as robust z 100: it is 2 % of the level.
    assert noise_aware_strength(metric("a.latency", T0, 100.0, 0.0046, 0.0047)) < 1.0
    # Ten times the level stays as strong as its z says.
    assert noise_aware_strength(metric("a.latency", T0, 40.0, 0.0046, 0.046)) == 40.0
    # A success ratio near 1 is measured against its distance from the bound: 99.9 % -> 98 % is big.
    assert noise_aware_strength(metric("a.success", T0, 30.0, 0.999, 0.98, unit="ratio")) == 30.0
    # Without both levels there is nothing to floor with.
    assert noise_aware_strength(metric("a.latency", T0, 12.0)) == 12.0


def test_with_tied_onsets_the_component_that_moved_most_beats_a_weak_change_it_depends_on() -> None:
    catalog = platform_catalog()
    # Same minute (one-minute data): the GPU pool barely moved, the serving latency jumped.
    findings = [metric("gpu-pool-a.gpu_util", T0 + 30, 1.5), metric("ranker-serving.p99_latency", T0, 40.0)]
    result = diagnose(correlate(findings, catalog), catalog)
    assert [c.component for c in result.candidates] == ["ranker-serving", "gpu-pool-a"]
    # The same weak change ten minutes earlier is the cause: onset order still decides when it can.
    findings = [metric("gpu-pool-a.gpu_util", T0 - 600, 1.5), metric("ranker-serving.p99_latency", T0, 40.0)]
    result = diagnose(correlate(findings, catalog), catalog)
    assert [c.component for c in result.candidates] == ["gpu-pool-a", "ranker-serving"]


def _onset_state(onsets: dict[str, float], reference_end: float | None) -> InvestigationState:
    calls: list[CallRecord] = []
    evidence: dict[str, Any] = {}
    for i, (signal, onset) in enumerate(onsets.items()):
        eid = f"ev-{i:04d}"
        calls.append(CallRecord(key=eid, tool="onset", args={"query": signal}, why="",
                                component=signal.partition(".")[0], signal=signal, planner="sop",
                                evidence_id=eid, status="ok", started=T0,
                                duration_s=0.1))
        reference = OnsetReference(start=T0 - 3600, end=T0 - 1800, points=30, median=1.0, sigma=0.4,
                                   deseasonalised=False)
        data = OnsetData(series=[SeriesOnset(series=signal, found=True, onset=onset, direction="up",
                                             magnitude_z=9.0, delta=4.0, reference=reference)])
        evidence[eid] = {"tool": "onset", "status": "ok", "data": data.model_dump(mode="json")}
    window: dict[str, Any] = {"start": T0 - 3600, "end": T0 + 60, "alert_at": T0, "step": 60.0}
    if reference_end is not None:
        window["reference_end"] = reference_end
    return InvestigationState(calls=calls, evidence=evidence, window=window)  # type: ignore[typeddict-item]


def test_a_change_begun_well_inside_the_quiet_baseline_is_not_this_alerts() -> None:
    onsets = {"gpu-pool-a.gpu_util": T0 - 1800, "ranker-serving.p99_latency": T0 - 60}
    found = {f["signal"]: f for f in collect_findings(_onset_state(onsets, T0 - 300), platform_catalog())}
    assert not found["gpu-pool-a.gpu_util"]["anomalous"]
    assert found["gpu-pool-a.gpu_util"].get("before_baseline") is True
    assert found["ranker-serving.p99_latency"]["anomalous"]
    # Without an explicit quiet baseline nothing is set aside.
    found = {f["signal"]: f for f in collect_findings(_onset_state(onsets, None), platform_catalog())}
    assert found["gpu-pool-a.gpu_util"]["anomalous"]


def test_a_dependency_the_traces_cleared_explains_nothing_of_its_caller() -> None:
    catalog = platform_catalog()
    # The serving layer's own span time grew; its spans into the GPU pool did not slow down (the
    # traces clear it), though the pool's utilisation had moved ten minutes before.
    own = metric("ranker-serving.trace:predict", T0, 8.0, 0.7, 800.0, unit="ms")
    own["kind"], own["clears"] = "trace", ["gpu-pool-a"]
    findings = [metric("gpu-pool-a.gpu_util", T0 - 600, 8.0), own]
    result = diagnose(correlate(findings, catalog), catalog)
    assert [c.component for c in result.candidates] == ["ranker-serving", "gpu-pool-a"]
    assert "a dependency changed before it" not in " ".join(result.candidates[0].reasons)
    # Without the traces' word the earlier change upstream is still the cause.
    del own["clears"]
    result = diagnose(correlate(findings, catalog), catalog)
    assert [c.component for c in result.candidates] == ["gpu-pool-a", "ranker-serving"]
