"""Checking rules with the real tools: ``promtool check rules`` and ``amtool check-config``.

Both run on a temporary file and report what the tool printed, with the temporary path replaced
by ``<proposed file>`` so the output reads the same every time.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from typing import Any

import yaml

from augur.rules.proposal import Validation

__all__ = ["check_alertmanager_config", "check_inhibit_rule", "check_rule_group", "check_rules_text"]


def _run_on_text(argv: list[str], text: str) -> tuple[bool, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as tmp:
        tmp.write(text)
    try:
        result = subprocess.run([*argv, tmp.name], capture_output=True, text=True, check=False, timeout=60)
    except FileNotFoundError:
        return False, f"{argv[0]} not found: run `make setup` (installs Debian's prometheus packages)"
    finally:
        os.unlink(tmp.name)
    output = (result.stdout + result.stderr).replace(tmp.name, "<proposed file>").strip()
    return result.returncode == 0, output


def check_rules_text(text: str, promtool: str = "promtool") -> Validation:
    """``promtool check rules`` on a rule file's text."""
    ok, output = _run_on_text([promtool, "check", "rules"], text)
    return Validation(ok=ok, tool="promtool check rules", output=output)


def check_rule_group(group: str, rules: list[dict[str, Any]], promtool: str = "promtool") -> Validation:
    """``promtool check rules`` on one group holding ``rules``."""
    text = yaml.safe_dump({"groups": [{"name": group, "rules": rules}]}, sort_keys=False)
    return check_rules_text(text, promtool)


def check_alertmanager_config(text: str, amtool: str = "amtool") -> Validation:
    """``amtool check-config`` on an alertmanager.yml's text."""
    ok, output = _run_on_text([amtool, "check-config"], text)
    return Validation(ok=ok, tool="amtool check-config", output=output)


def check_inhibit_rule(rule: dict[str, Any], amtool: str = "amtool") -> Validation:
    """``amtool check-config`` on a minimal Alertmanager config holding one inhibit rule."""
    config = {"route": {"receiver": "default"}, "receivers": [{"name": "default"}], "inhibit_rules": [rule]}
    return check_alertmanager_config(yaml.safe_dump(config, sort_keys=False), amtool)
