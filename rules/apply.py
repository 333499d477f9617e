"""Apply an approved proposal: write its rule, validate, reload Prometheus, confirm, or roll back.

File mode (:func:`apply_proposal` with ``mode="file"``), for a Prometheus that loads a rules
directory:

1. merge the rule into ``<rules_dir>/<group>.yml`` (one file per group) in a temporary file;
2. ``promtool check rules`` on it — a rule that fails is never written: the live file is unchanged;
3. move it into place, ``POST /-/reload``;
4. confirm through ``/api/v1/rules`` that the group holds the rule, healthy — otherwise put the
   previous file back (or remove the new one), reload again, and report why.

Patch mode, for teams that keep rules in git: steps 1–2, then write a unified diff against the
current file to ``patch_dir`` instead of touching the rules directory.

Inhibition proposals go into Alertmanager's config. With ``alertmanager_mode="patch"`` (the
default: teams usually keep that config in git) they are checked with ``amtool check-config``
merged into ``alertmanager_config`` and written as a patch (or a fragment when no config file is
known). With ``alertmanager_mode="file"`` the same steps as file mode run against a live
Alertmanager: merge into ``alertmanager_config``, ``amtool check-config`` (a failure writes
nothing), move into place, ``POST /-/reload``, confirm that ``GET /api/v2/status``'s
``config.original`` holds the rule — otherwise restore the previous file and reload again.
Both file modes share :func:`_install` (write, reload, confirm or restore).
"""

from __future__ import annotations

import difflib
import fcntl
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import yaml

from augur.rules.proposal import Proposal, ProposalKind, ProposalState
from augur.rules.review import NotFound, ProposalRepository, ReviewOutcome, mark_applied, mark_failed
from augur.tools.base import ToolError, Unavailable
from augur.tools.prometheus_api import PrometheusClient

__all__ = ["ApplyConfig", "ApplyResult", "apply_approved", "apply_proposal", "group_file"]


@dataclass(frozen=True)
class ApplyConfig:
    """Where and how approved rules are applied."""

    rules_dir: Path
    prometheus_url: str | None = None
    mode: Literal["file", "patch"] = "file"
    patch_dir: Path | None = None
    alertmanager_config: Path | None = None
    alertmanager_url: str | None = None
    alertmanager_mode: Literal["file", "patch"] = "patch"
    confirm_timeout_s: float = 15.0
    promtool: str = "promtool"
    amtool: str = "amtool"


@dataclass(frozen=True)
class ApplyResult:
    """What happened: ``ok`` with the file (or patch) written, or the reason it was not applied."""

    ok: bool
    detail: str
    path: Path | None = None


def group_file(rules_dir: Path, group: str) -> Path:
    """The file a rule group lives in: ``<rules_dir>/<group>.yml`` with a filesystem-safe name."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", group).strip("-.") or "augur"
    return rules_dir / f"{safe}.yml"


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One apply at a time per directory (across processes)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".augur-apply.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _merged_rules(current: str | None, proposal: Proposal) -> str:
    """The group file with the proposal's rule added (once)."""
    doc: dict[str, Any] = yaml.safe_load(current) if current else {}
    doc = doc or {}
    groups: list[dict[str, Any]] = doc.setdefault("groups", [])
    group = next((g for g in groups if g.get("name") == proposal.group), None)
    if group is None:
        group = {"name": proposal.group, "rules": []}
        groups.append(group)
    rules: list[dict[str, Any]] = group.setdefault("rules", [])
    if proposal.kind is ProposalKind.RETUNE:  # a retune replaces the rule of its name in the group
        rules[:] = [r for r in rules if r.get("alert") != proposal.rule.get("alert") or r == proposal.rule]
    if proposal.rule not in rules:
        rules.append(proposal.rule)
    header = f"# Managed by augur: rules approved through review (last: {proposal.id}).\n"
    return header + yaml.safe_dump(doc, sort_keys=False)


def _check(argv: list[str], text: str, suffix: str) -> tuple[bool, str]:
    with tempfile.NamedTemporaryFile("w", suffix=suffix, delete=False) as tmp:
        tmp.write(text)
    try:
        result = subprocess.run([*argv, tmp.name], capture_output=True, text=True, check=False, timeout=60)
    finally:
        os.unlink(tmp.name)
    output = (result.stdout + result.stderr).replace(tmp.name, "<proposed file>").strip()
    return result.returncode == 0, output


def _diff(old: str | None, new: str, rel: str) -> str:
    return "".join(difflib.unified_diff(
        (old or "").splitlines(keepends=True), new.splitlines(keepends=True),
        fromfile="/dev/null" if old is None else f"a/{rel}", tofile=f"b/{rel}",
    ))


def _write_patch(config: ApplyConfig, proposal: Proposal, patch: str) -> ApplyResult:
    patch_dir = config.patch_dir or config.rules_dir
    patch_dir.mkdir(parents=True, exist_ok=True)
    path = patch_dir / f"{proposal.id}.patch"
    path.write_text(patch)
    return ApplyResult(True, f"patch written to {path}; apply it with `git apply {path.name}`", path)


def _rule_loaded(client: httpx.Client, url: str, proposal: Proposal, path: Path) -> tuple[bool, str]:
    """Whether Prometheus has loaded the group from ``path`` with the rule, healthy."""
    groups = PrometheusClient(url, http=client).get("rules", timeout_s=10.0)["groups"]
    name = proposal.rule.get("alert") or proposal.rule.get("record")
    for group in groups:
        if group.get("name") != proposal.group or Path(group.get("file", "")).resolve() != path.resolve():
            continue
        for rule in group.get("rules", []):
            if rule.get("name") == name:
                if rule.get("health") == "err":
                    return False, f"loaded but failing: {rule.get('lastError')}"
                return True, "loaded"
    return False, f"group {proposal.group} has no rule {name} in /api/v1/rules yet"


@dataclass(frozen=True)
class _Server:
    """A server whose config file augur rewrites: its name and URL, and the setting that names the URL."""

    name: str
    url: str
    setting: str
    lifecycle_hint: str


def _prometheus(url: str) -> _Server:
    return _Server("Prometheus", url.rstrip("/"), "AUGUR_PROMETHEUS_URL",
                   "start Prometheus with --web.enable-lifecycle")


def _alertmanager(url: str) -> _Server:
    return _Server("Alertmanager", url.rstrip("/"), "AUGUR_ALERTMANAGER_URL",
                   "is AUGUR_ALERTMANAGER_URL Alertmanager's base URL (with any --web.route-prefix)?")


def _reload(client: httpx.Client, server: _Server) -> str | None:
    """POST /-/reload; the error text, or None on success."""
    try:
        response = client.post(f"{server.url}/-/reload", timeout=30.0)
    except httpx.HTTPError as exc:
        return f"cannot reach {server.name} at {server.url} ({type(exc).__name__}): check {server.setting}"
    if response.status_code == 403 or response.status_code == 404:
        return f"{server.url}/-/reload answered {response.status_code}: {server.lifecycle_hint}"
    if response.status_code != 200:
        return f"reload failed (HTTP {response.status_code}): {response.text.strip()[:500]}"
    return None


def _install(
    path: Path, previous: str | None, merged: str, client: httpx.Client, server: _Server,
    confirm: Callable[[], tuple[bool, str]], timeout_s: float,
) -> str | None:
    """Move ``merged`` into ``path``, reload ``server`` and wait until ``confirm`` holds.

    Returns None when confirmed; otherwise puts ``previous`` back (or removes the file when there
    was none), reloads again so the server matches the disk, and returns why.
    """
    tmp = path.with_name(f".{path.name}.augur-tmp")
    tmp.write_text(merged)
    os.replace(tmp, path)
    problem = _reload(client, server)
    if problem is None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                confirmed, problem = confirm()
            except (ToolError, Unavailable, httpx.HTTPError, KeyError, TypeError, ValueError,
                    yaml.YAMLError) as exc:
                confirmed, problem = False, f"{server.name} did not confirm: {exc}"
            if confirmed:
                return None
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
    if previous is None:
        path.unlink(missing_ok=True)
    else:
        tmp.write_text(previous)
        os.replace(tmp, path)
    _reload(client, server)
    return problem


def _apply_file(config: ApplyConfig, proposal: Proposal, client: httpx.Client) -> ApplyResult:
    if not config.prometheus_url:
        return ApplyResult(False, "no Prometheus URL to reload: set AUGUR_PROMETHEUS_URL, or use patch mode")
    path = group_file(config.rules_dir, proposal.group)
    with _locked(config.rules_dir):
        previous = path.read_text() if path.exists() else None
        merged = _merged_rules(previous, proposal)
        ok, output = _check([config.promtool, "check", "rules"], merged, ".yml")
        if not ok:
            return ApplyResult(False, f"promtool check rules failed; nothing was written:\n{output}", path)
        server = _prometheus(config.prometheus_url)
        problem = _install(path, previous, merged, client, server,
                           lambda: _rule_loaded(client, server.url, proposal, path), config.confirm_timeout_s)
        if problem is None:
            return ApplyResult(True, f"{path.name} written; Prometheus reloaded and the rule is "
                                     f"loaded ({output.splitlines()[-1].strip()})", path)
        return ApplyResult(False, f"rolled back {path.name}: {problem}", path)


def _inhibit_loaded(client: httpx.Client, url: str, proposal: Proposal) -> tuple[bool, str]:
    """Whether Alertmanager's running config (``/api/v2/status`` ``config.original``) holds the rule."""
    response = client.get(f"{url}/api/v2/status", timeout=10.0)
    response.raise_for_status()
    running = yaml.safe_load(response.json()["config"]["original"]) or {}
    if proposal.rule in (running.get("inhibit_rules") or []):
        return True, "loaded"
    return False, "Alertmanager's running config (/api/v2/status) does not hold the inhibit rule yet"


def _merged_alertmanager(current: str | None, proposal: Proposal) -> str:
    """Alertmanager's config with the proposal's inhibit rule added (once)."""
    base: dict[str, Any] = (yaml.safe_load(current) if current else None) or {
        "route": {"receiver": "default"}, "receivers": [{"name": "default"}]}
    inhibit: list[dict[str, Any]] = base.setdefault("inhibit_rules", None) or []
    base["inhibit_rules"] = inhibit
    if proposal.rule not in inhibit:
        inhibit.append(proposal.rule)
    return yaml.safe_dump(base, sort_keys=False)


def _apply_inhibition_live(config: ApplyConfig, proposal: Proposal, client: httpx.Client) -> ApplyResult:
    am = config.alertmanager_config
    if am is None or not am.exists():
        return ApplyResult(False, "no Alertmanager config file to merge into: set "
                                  "AUGUR_ALERTMANAGER_CONFIG_FILE to the alertmanager.yml Alertmanager "
                                  "loads, or use patch mode")
    if not config.alertmanager_url:
        return ApplyResult(False, "no Alertmanager URL to reload: set AUGUR_ALERTMANAGER_URL, "
                                  "or use patch mode")
    with _locked(am.parent):
        previous = am.read_text()
        merged = _merged_alertmanager(previous, proposal)
        ok, output = _check([config.amtool, "check-config"], merged, ".yml")
        if not ok:
            return ApplyResult(False, f"amtool check-config failed; nothing was written:\n{output}", am)
        server = _alertmanager(config.alertmanager_url)
        problem = _install(am, previous, merged, client, server,
                           lambda: _inhibit_loaded(client, server.url, proposal), config.confirm_timeout_s)
        if problem is None:
            return ApplyResult(True, f"inhibit rule merged into {am.name}; Alertmanager reloaded and "
                                     "its running config (/api/v2/status) holds the rule", am)
        return ApplyResult(False, f"rolled back {am.name}: {problem}", am)


def _apply_inhibition(config: ApplyConfig, proposal: Proposal, client: httpx.Client) -> ApplyResult:
    if config.alertmanager_mode == "file":
        return _apply_inhibition_live(config, proposal, client)
    am = config.alertmanager_config
    current = am.read_text() if am and am.exists() else None
    merged = _merged_alertmanager(current, proposal)
    ok, output = _check([config.amtool, "check-config"], merged, ".yml")
    if not ok:
        return ApplyResult(False, f"amtool check-config failed; nothing was written:\n{output}")
    if am is None:
        fragment = yaml.safe_dump({"inhibit_rules": [proposal.rule]}, sort_keys=False)
        rel = f"alertmanager/{proposal.id}-inhibit.yml"
        return _write_patch(config, proposal, _diff(None, fragment, rel))
    return _write_patch(config, proposal, _diff(current, merged, am.name))


def apply_proposal(proposal: Proposal, config: ApplyConfig, client: httpx.Client) -> ApplyResult:
    """Apply an approved proposal as ``config`` says; never leaves a rule file that fails promtool."""
    if proposal.is_alertmanager:
        return _apply_inhibition(config, proposal, client)
    if config.mode == "patch":
        path = group_file(config.rules_dir, proposal.group)
        previous = path.read_text() if path.exists() else None
        merged = _merged_rules(previous, proposal)
        ok, output = _check([config.promtool, "check", "rules"], merged, ".yml")
        if not ok:
            return ApplyResult(False, f"promtool check rules failed; no patch written:\n{output}")
        return _write_patch(config, proposal, _diff(previous, merged, path.name))
    return _apply_file(config, proposal, client)


def apply_approved(
    repo: ProposalRepository, proposal_id: str, config: ApplyConfig, client: httpx.Client
) -> ReviewOutcome:
    """Apply a proposal that is ``approved`` and record ``applied`` or ``failed`` with the reason.

    A proposal in any other state is returned unchanged (an applied one is never applied twice).
    """
    proposal = repo.get(proposal_id)
    if proposal is None or proposal.state is not ProposalState.APPROVED:
        outcome = proposal
        if outcome is None:
            raise NotFound(f"no proposal {proposal_id!r}")
        return ReviewOutcome(outcome, changed=False)
    result = apply_proposal(proposal, config, client)
    if result.ok:
        return mark_applied(repo, proposal_id, result.detail)
    return mark_failed(repo, proposal_id, result.detail)
