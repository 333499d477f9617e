"""The drift methods by Evidently's names, their thresholds and verdicts, Evidently's ``auto``
choice, and :func:`compare`, which runs one method on two samples."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from augur.tools.stattests.binned import jensenshannon, psi
from augur.tools.stattests.categorical import chisquare, z_test
from augur.tools.stattests.numerical import ks, wasserstein
from augur.tools.stattests.sample import ColumnKind, Sample

__all__ = ["METHODS", "Method", "StatResult", "auto_method", "compare"]


@dataclass(frozen=True)
class Method:
    """A drift method: Evidently's name, display name, default threshold and what its value is."""

    name: str
    display_name: str
    kinds: tuple[ColumnKind, ...]
    default_threshold: float
    value_is_p: bool  # True: the value is a p-value (drift when small); False: a distance
    inclusive: bool  # whether the threshold itself counts as drift

    def drifted(self, value: float, threshold: float) -> bool:
        """Evidently's verdict for ``value`` against ``threshold``."""
        if self.value_is_p:
            return bool(value <= threshold) if self.inclusive else bool(value < threshold)
        return bool(value >= threshold)


_BOTH = (ColumnKind.NUMERICAL, ColumnKind.CATEGORICAL)
#: The methods augur implements, by Evidently's registered name.
METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("psi", "PSI", _BOTH, 0.1, False, True),
        Method("ks", "K-S p_value", (ColumnKind.NUMERICAL,), 0.05, True, True),
        Method("wasserstein", "Wasserstein distance (normed)", (ColumnKind.NUMERICAL,), 0.1, False, True),
        Method("jensenshannon", "Jensen-Shannon distance", _BOTH, 0.1, False, True),
        Method("chisquare", "chi-square p_value", (ColumnKind.CATEGORICAL,), 0.05, True, False),
        Method("z", "Z-test p_value", (ColumnKind.CATEGORICAL,), 0.05, True, False),
    )
}


@dataclass(frozen=True)
class StatResult:
    """One method's answer. ``value`` is what Evidently reports as the drift score."""

    method: str
    value: float
    threshold: float
    drifted: bool
    p_value: float | None
    statistic: float | None = None  # K-S D, chi-square statistic, z; the distance itself otherwise
    details: dict[str, Any] = field(default_factory=dict)


def _combined_nunique(ref: Sample, cur: Sample) -> int:
    if ref.numeric and cur.numeric:
        if not ref.nunique_above(5) and not cur.nunique_above(5):
            return int(np.unique(np.concatenate((ref.counts().index, cur.counts().index))).shape[0])
        return 6  # only "more than 5" matters to the registry
    keys = pd.concat([ref.counts(), cur.counts()], axis=1, sort=False).index
    return int(keys.shape[0])


def auto_method(ref: Sample, cur: Sample) -> str:
    """Evidently's default method for this pair (its ``_get_default_stattest``)."""
    n_values = _combined_nunique(ref, cur)
    numerical = ref.kind is ColumnKind.NUMERICAL
    if len(ref) <= 1000:
        if numerical and n_values > 5:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    if numerical and n_values > 5:
        return "wasserstein"
    return "jensenshannon"


def compare(
    reference: Sample, current: Sample, method: str = "auto", *, threshold: float | None = None
) -> StatResult:
    """Compare two samples with ``method`` (or Evidently's ``auto`` choice).

    Raises ValueError with what to change when the method does not apply to the column kind
    or a side is empty.
    """
    if len(reference) == 0 or len(current) == 0:
        side = "reference" if len(reference) == 0 else "current"
        raise ValueError(f"the {side} sample has no usable values (all missing or infinite): "
                         "choose another window or column")
    name = auto_method(reference, current) if method == "auto" else method
    if name not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of auto, {', '.join(METHODS)}")
    spec = METHODS[name]
    if method != "auto" and reference.kind not in spec.kinds:
        raise ValueError(f"{name} applies to {' or '.join(k.value for k in spec.kinds)} columns and this "
                         f"column is {reference.kind.value}: choose "
                         + ", ".join(m.name for m in METHODS.values() if reference.kind in m.kinds))
    if spec.kinds == (ColumnKind.NUMERICAL,) and not (reference.numeric and current.numeric):
        raise ValueError(f"{name} needs numbers on both sides: one side holds labels")
    limit = spec.default_threshold if threshold is None else threshold
    details: dict[str, Any] = {}
    p_value: float | None = None
    statistic: float | None = None
    if name == "psi":
        value, details = psi(reference, current)
    elif name == "jensenshannon":
        value, details = jensenshannon(reference, current)
    elif name == "wasserstein":
        value, details = wasserstein(reference, current)
    elif name == "ks":
        value, statistic = ks(reference, current)
        p_value = value
    elif name == "chisquare":
        value, statistic = chisquare(reference, current)
        p_value = value
    else:
        value, statistic = z_test(reference, current)
        p_value = value
    if statistic is None and not spec.value_is_p:
        statistic = value
    drifted = spec.drifted(value, limit) if not math.isnan(value) else False
    return StatResult(name, value, limit, drifted, p_value, statistic, details)
