"""`augur catalog check FILE`: exit 0 with a summary, or exit 1 with `file:line:col` errors."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from augur.server.cli.main import app

PLATFORM = Path(__file__).with_name("platform.yaml")
runner = CliRunner()


def test_valid_catalog_prints_a_summary_and_exits_0() -> None:
    result = runner.invoke(app, ["catalog", "check", str(PLATFORM)])
    assert result.exit_code == 0, result.output
    assert "5 components" in result.output
    assert "4 depends_on edges" in result.output


def test_unknown_dependency_and_bad_layer_are_reported_at_their_lines(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\n"
        "components:\n"
        "  - name: ranker-model\n"
        "    layer: model\n"
        "    depends_on: [feature-pipline]\n"  # typo: line 5
        "  - name: gpu\n"
        "    layer: gpu\n"  # not a layer: line 7
    )
    result = runner.invoke(app, ["catalog", "check", str(bad)])
    assert result.exit_code == 1
    err = result.stderr
    assert f"{bad}:7:" in err and "layer" in err
    # The graph checks run once the fields are valid: fix the layer and see the edge error.
    bad.write_text(bad.read_text().replace("layer: gpu", "layer: resource"))
    result = runner.invoke(app, ["catalog", "check", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:5:" in result.stderr
    assert "unknown component 'feature-pipline'" in result.stderr


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["catalog", "check", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1
    assert "cannot read catalog" in missing.stderr
