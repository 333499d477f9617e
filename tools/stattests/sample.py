"""One side of a drift comparison: its values cleaned as Evidently cleans them, and what the
tests read from them (sorted values, counts, distinct values, bounds, spread), each computed once."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["ColumnKind", "FloatArray", "Sample"]

FloatArray = npt.NDArray[np.float64]


class ColumnKind(StrEnum):
    """How a column's values are compared."""

    NUMERICAL = "numerical"
    CATEGORICAL = "categorical"


class Sample:
    """One side's values, cleaned as Evidently cleans them, with sorted order computed once."""

    def __init__(self, values: Any, kind: ColumnKind | None = None) -> None:
        """``values``: a pandas Series, numpy array or list; ``kind`` None infers it from the dtype."""
        series = values if isinstance(values, pd.Series) else pd.Series(
            values if isinstance(values, list) else np.asarray(values))
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        self.kind = kind or (ColumnKind.NUMERICAL if numeric else ColumnKind.CATEGORICAL)
        self.raw_rows = int(series.shape[0])
        self.integer = bool(pd.api.types.is_integer_dtype(series))
        if numeric:
            arr = series.to_numpy(dtype=np.float64, copy=False)
            finite = np.isfinite(arr)
            self.values: FloatArray | None = arr if bool(finite.all()) else arr[finite]
            self.series = None
            self._size = int(self.values.shape[0])
            self.missing = self.raw_rows - self._size
        else:
            if self.kind is ColumnKind.NUMERICAL:
                raise ValueError("a numerical method needs numbers, but the column holds "
                                 f"{series.dtype} values: use a categorical method (psi, jensenshannon, "
                                 "chisquare, z) or clean the column")
            cleaned = series.replace([-np.inf, np.inf], np.nan).dropna()
            self.values = None
            self.series = cleaned
            self._size = int(cleaned.shape[0])
            self.missing = self.raw_rows - self._size
        self._sorted: FloatArray | None = None
        self._counts: pd.Series | None = None

    def __len__(self) -> int:
        return self._size

    @property
    def numeric(self) -> bool:
        """Whether the values are numbers (a float array) rather than labels."""
        return self.values is not None

    @property
    def sorted(self) -> FloatArray:
        """The values, sorted ascending (computed on first use)."""
        if self._sorted is None:
            assert self.values is not None
            self._sorted = np.sort(self.values)
        return self._sorted

    def counts(self) -> pd.Series:
        """Count of each distinct value (pandas ``value_counts``, as Evidently counts)."""
        if self._counts is None:
            if self.values is not None:
                uniq, cnt = np.unique(self.sorted, return_counts=True)
                self._counts = pd.Series(cnt, index=uniq)
            else:
                assert self.series is not None
                self._counts = self.series.value_counts()
        return self._counts

    def nunique_above(self, limit: int) -> bool:
        """Whether there are more than ``limit`` distinct values, looking at as few as possible."""
        if self.values is None:
            return int(self.counts().shape[0]) > limit
        if self._sorted is None:  # a prefix usually settles it without sorting everything
            head = self.values[: 4096]
            if np.unique(head).shape[0] > limit:
                return True
        return int(np.count_nonzero(np.diff(self.sorted))) + (1 if len(self) else 0) > limit

    def bounds(self) -> tuple[float, float]:
        """Smallest and largest value (from the sorted values when they exist)."""
        assert self.values is not None
        if self._sorted is not None:
            return float(self._sorted[0]), float(self._sorted[-1])
        return float(np.min(self.values)), float(np.max(self.values))

    def std(self) -> float:
        """Population standard deviation (``np.std``), as Evidently norms Wasserstein."""
        assert self.values is not None
        return float(np.std(self.values))
