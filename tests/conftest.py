"""Shared fixtures. Fixtures that start real servers live in tests/fixtures/."""

from __future__ import annotations

from tests.fixtures.prometheus import PromHistory, prom_history

__all__ = ["PromHistory", "prom_history"]
