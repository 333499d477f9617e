"""`augur rules review` on the terminal: list, show, approve as an allowed reviewer, refuse others."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from augur.server.cli.main import app
from augur.server.store.database import Store
from augur.server.store.proposals import SqlProposalStore
from tests.rules.samples import drift_proposal


def _env(tmp_path: Path) -> tuple[dict[str, str], SqlProposalStore]:
    url = f"sqlite:///{tmp_path / 'augur.db'}"
    repo = SqlProposalStore(Store.open(url))
    env = {"AUGUR_DATABASE_URL": url, "AUGUR_REVIEWERS": json.dumps(["alice"]),
           "AUGUR_REVIEWER_TOKENS": json.dumps({"alice": "tok-alice", "eve": "tok-eve"})}
    return env, repo


def test_list_show_approve_and_replay(tmp_path: Path) -> None:
    env, repo = _env(tmp_path)
    proposal, _ = repo.add(drift_proposal())
    runner = CliRunner()
    listed = runner.invoke(app, ["rules", "review"], env=env)
    assert listed.exit_code == 0, listed.output
    assert proposal.id in listed.output and "1 fires in 0.2 d, +30 min vs first alert" in listed.output
    shown = runner.invoke(app, ["rules", "review", proposal.id], env=env)
    assert shown.exit_code == 0 and "RankerClickDurationDrift" in shown.output
    assert "[ev-0123456789ab]" in shown.output

    approved = runner.invoke(app, ["rules", "review", proposal.id, "--approve", "--as", "alice",
                                   "--token", "tok-alice", "--comment", "from the terminal"], env=env)
    assert approved.exit_code == 0, approved.output
    assert f"{proposal.id} is approved" in approved.output
    assert repo.events(proposal.id)[-1].comment == "from the terminal"
    again = runner.invoke(app, ["rules", "review", proposal.id, "--approve", "--token", "tok-alice"], env=env)
    assert again.exit_code == 0 and "no change" in again.output
    assert len(repo.events(proposal.id)) == 2
    assert runner.invoke(app, ["rules", "review"], env=env).output.strip() == "no pending proposals"


def test_refuses_wrong_reviewers(tmp_path: Path) -> None:
    env, repo = _env(tmp_path)
    proposal, _ = repo.add(drift_proposal())
    runner = CliRunner()
    unlisted = runner.invoke(app, ["rules", "review", proposal.id, "--approve", "--token", "tok-eve"],
                             env=env)
    assert unlisted.exit_code == 1 and "allowlist" in unlisted.output
    impostor = runner.invoke(app, ["rules", "review", proposal.id, "--reject", "--as", "bob",
                                   "--token", "tok-alice"], env=env)
    assert impostor.exit_code == 1 and "belongs to alice, not bob" in impostor.output
    wrong = runner.invoke(app, ["rules", "review", proposal.id, "--reject", "--token", "wrong"], env=env)
    assert wrong.exit_code == 1 and "unknown reviewer token" in wrong.output
    # No --token and no terminal to ask on (CliRunner's stdin is not one): say how, a usage error.
    unasked = runner.invoke(app, ["rules", "review", proposal.id, "--reject"], input="wrong\n", env=env)
    assert unasked.exit_code == 2 and "--token" in unasked.output
    assert repo.get(proposal.id).state.value == "pending"  # type: ignore[union-attr]
    both = runner.invoke(app, ["rules", "review", proposal.id, "--approve", "--reject"], env=env)
    assert both.exit_code == 2
