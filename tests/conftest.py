"""Shared fixtures. Fixtures for real servers live in tests/fixtures/ and are imported here."""

from __future__ import annotations
