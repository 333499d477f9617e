"""drift reads tables only under its configured roots: a path the LLM (or a catalog) names outside
them, through ``..`` or a symlink, is refused before it is opened, so nothing of it (not even its
column names) reaches the evidence. The server's registry confines it to AUGUR_DATA_ROOTS
(default: the data dir and the catalog's directory)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pandas as pd

from augur.server.settings import Settings
from augur.server.toolbox import build_registry
from augur.tools.drift import DriftTool
from augur.tools.evidence import EvidenceStatus


def _run(tool: Any, args: dict[str, Any]) -> Any:
    return asyncio.run(tool.run(tool.Args.model_validate(args)))


def _table(path: Path, column: str) -> None:
    pd.DataFrame({column: [1.0, 2.0, 3.0] * 50}).to_csv(path, index=False)


def test_tables_outside_the_roots_are_refused_unread(tmp_path: Path) -> None:
    allowed, private = tmp_path / "data", tmp_path / "private"
    allowed.mkdir()
    private.mkdir()
    _table(allowed / "ref.csv", "x")
    _table(allowed / "cur.csv", "x")
    _table(private / "secret.csv", "customer_ssn")
    (allowed / "link.csv").symlink_to(private / "secret.csv")
    tool = DriftTool(roots=[allowed])

    inside = _run(tool, {"reference_path": str(allowed / "ref.csv"), "current_path": str(allowed / "cur.csv"),
                         "column": "x"})
    assert inside.status is EvidenceStatus.OK, inside.reason
    for sneaky in (private / "secret.csv", allowed / ".." / "private" / "secret.csv", allowed / "link.csv"):
        refused = _run(tool, {"reference_path": str(sneaky), "current_path": str(allowed / "cur.csv"),
                              "column": "customer_ssn"})
        assert refused.status is EvidenceStatus.ERROR, sneaky
        assert "outside the directories drift may read" in (refused.reason or "")
        assert "AUGUR_DATA_ROOTS" in (refused.reason or "")
        assert "customer_ssn" not in str(refused.data) and "x" not in (refused.data or {}).get("columns", [])


def test_the_server_registry_confines_drift_to_the_data_roots(tmp_path: Path) -> None:
    data, outside = tmp_path / "data", tmp_path / "elsewhere"
    data.mkdir()
    outside.mkdir()
    for folder in (data, outside):
        _table(folder / "ref.csv", "x")
        _table(folder / "cur.csv", "x")
    drift = build_registry(Settings(data_dir=data)).get("drift")
    args = {"column": "x"}
    ok = _run(drift, {**args, "reference_path": str(data / "ref.csv"), "current_path": str(data / "cur.csv")})
    assert ok.status is EvidenceStatus.OK, ok.reason
    refused = _run(drift, {**args, "reference_path": str(outside / "ref.csv"),
                           "current_path": str(outside / "cur.csv")})
    assert refused.status is EvidenceStatus.ERROR and "outside the directories" in (refused.reason or "")
    widened = build_registry(Settings(data_dir=data, data_roots=[outside])).get("drift")  # type: ignore[arg-type]
    assert _run(widened, {**args, "reference_path": str(outside / "ref.csv"),
                          "current_path": str(outside / "cur.csv")}).status is EvidenceStatus.OK
