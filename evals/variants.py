"""Harder variants of a scenario: a subtler root cause in noisier telemetry.

The shipped scenarios are clean: every link of the chain moves clearly. :func:`subtle` keeps the
story and the truth but scales each real fault's changes *on its own component* toward the
baseline (``scale`` 0.3 keeps 30 % of the change) and multiplies every series' noise, while the
downstream symptoms keep their full size. This is the case the seed warns about: a quiet cause,
loud symptoms. A variant whose alert no longer fires (its rule watches the cause itself) is
reported as such by the runner, not scored.
"""

from __future__ import annotations

from augur.evals.scenario import Effect, Fault, Scenario

__all__ = ["subtle"]


def _scaled(effect: Effect, scale: float) -> Effect:
    if effect.factor is not None:
        return effect.model_copy(update={"factor": 1.0 + (effect.factor - 1.0) * scale})
    return effect.model_copy(update={"delta": (effect.delta or 0.0) * scale})


def subtle(scenario: Scenario, scale: float, noise: float = 2.0) -> Scenario:
    """A copy of ``scenario`` with its causes' own changes scaled by ``scale`` and noise × ``noise``."""
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    if noise < 1:
        raise ValueError(f"noise is a multiplier of at least 1, got {noise}")
    owner = {m.id: m.component for m in scenario.metrics}
    faults: list[Fault] = []
    for fault in scenario.faults:
        if fault.benign:
            faults.append(fault)
            continue
        effects = [_scaled(e, scale) if owner[e.metric] == fault.component and e.target != "noise" else e
                   for e in fault.effects]
        faults.append(fault.model_copy(update={"effects": effects}))
    metrics = [m.model_copy(update={"noise": m.noise * noise}) for m in scenario.metrics]
    return scenario.model_copy(update={"faults": faults, "metrics": metrics})
