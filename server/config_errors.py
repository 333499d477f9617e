"""Configuration errors people can act on: the variable, its bad value (secrets masked) and an example.

:mod:`augur.server.settings` turns every way a setting can be wrong — JSON that does not parse
(``AUGUR_REVIEWERS=alice,bob``), a value of the wrong type or range, a URL without a scheme, a data
directory that is a file or cannot be created — into one :class:`~augur.server.settings.ConfigError`
whose lines this module writes, e.g.::

    AUGUR_REVIEWERS='alice,bob': not valid JSON; e.g. AUGUR_REVIEWERS='["alice", "bob"]'

The CLI prints it and exits 2 (:func:`augur.server.cli.settings_or_exit`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings

__all__ = [
    "EXAMPLES", "NOT_SETTINGS", "data_dir_problem", "describe_parse_error", "describe_validation",
    "unknown_variables",
]

#: A valid value for the settings whose format is not obvious from their default.
EXAMPLES: dict[str, str] = {
    "gpu_probe_urls": """'["http://gpu-1:9402", "http://gpu-2:9402"]'""",
    "reviewers": """'["alice", "bob"]'""",
    "reviewer_tokens": """'{"alice": "a-long-random-token"}'""",
    "group_labels": """'["service", "model"]'""",
    "slack_routes": """'[{"match": {"team": "ranking"}, "channel": "#ranking"}]'""",
    "slack_reviewers": """'{"U024BE7LH": "alice"}'""",
    "database_url": "postgresql+psycopg://augur@127.0.0.1:5432/augur",
    "data_dir": "/var/lib/augur",
    "prometheus_url": "http://127.0.0.1:9090",
    "alertmanager_url": "http://127.0.0.1:9093",
    "elasticsearch_url": "http://127.0.0.1:9200",
    "kibana_url": "http://127.0.0.1:5601",
    "jaeger_url": "http://127.0.0.1:16686",
    "mlflow_url": "http://127.0.0.1:5000",
    "llm_base_url": "http://127.0.0.1:8000/v1",
    "slack_api_url": "https://slack.com/api/",
    "public_base_url": "https://augur.example",
    "rules_apply_mode": "file",
    "alertmanager_apply_mode": "patch",
    "sqlite_synchronous": "FULL",
    "gpu_probe_local": "false",
    "worker_in_process": "true",
}

_FIELD = re.compile(r'field "([a-z_0-9]+)"')
_CREDENTIALS = re.compile(r"(//[^/:@]+):[^@/]*@")


def _secret(cls: type[BaseSettings], name: str) -> bool:
    """Whether a setting can hold a secret: typed as one, or named like one (``api_tokens``...)."""
    field = cls.model_fields.get(name)
    if any(word in name for word in ("token", "secret", "key", "password")):
        return True
    return field is not None and "SecretStr" in str(field.annotation)


def _shown(value: Any, secret: bool) -> str:
    from augur.agent.redact import redact

    text = value if isinstance(value, str) else repr(value)
    if secret:
        return f"<{len(text)} characters, masked>"
    text = redact(text)  # a secret pasted into the wrong variable is still not echoed
    text = text if len(text) <= 120 else text[:117] + "..."
    return f"'{text}'"


def _example(cls: type[BaseSettings], name: str) -> str:
    env = f"AUGUR_{name.upper()}"
    if name in EXAMPLES:
        return f"e.g. {env}={EXAMPLES[name]}"
    field = cls.model_fields.get(name)
    default = field.default if field is not None else None
    if isinstance(default, bool):
        return f"e.g. {env}={str(default).lower()}"
    if isinstance(default, int) and not isinstance(default, bool):
        return f"e.g. {env}={default}"
    if isinstance(default, float):
        return f"e.g. {env}={default:g}"
    return f"see `augur config` and the README's configuration table for {env}"


#: ``AUGUR_*`` variables read outside the settings (the config file, a command's token, tests).
NOT_SETTINGS = frozenset({"AUGUR_CONFIG_FILE", "AUGUR_TOKEN", "AUGUR_MLFLOW_ENV", "AUGUR_TEST_POSTGRES_URL"})


def _closest(name: str, cls: type[BaseSettings]) -> str | None:
    import difflib

    found = difflib.get_close_matches(name, list(cls.model_fields), n=1, cutoff=0.75)
    return found[0] if found else None


def unknown_variables(cls: type[BaseSettings]) -> list[str]:
    """A warning per ``AUGUR_*`` environment variable that is no setting (a typo is ignored silently).

    ``AUGUR_PROMETHEUS=http://...`` left Prometheus unset with nothing said but "no Prometheus
    configured"; the warning names the setting it was probably meant for.
    """
    lines = []
    for env in sorted(k for k in os.environ if k.startswith("AUGUR_")):
        name = env.removeprefix("AUGUR_").lower()
        if env in NOT_SETTINGS or name in cls.model_fields:
            continue
        near = _closest(name, cls)
        hint = f"did you mean AUGUR_{near.upper()}?" if near else "see `augur config` for the settings"
        lines.append(f"{env} is not an augur setting and is ignored: {hint}")
    return lines


def _yaml_example(cls: type[BaseSettings], name: str) -> str:
    """The example of :func:`_example`, written as the config file's ``key: value`` line."""
    example = _example(cls, name)
    env = f"AUGUR_{name.upper()}="
    if not example.startswith("e.g. " + env):
        return example
    value = example.removeprefix("e.g. " + env)
    if len(value) > 1 and value[0] == value[-1] == "'":
        value = value[1:-1]  # the shell's quotes: in YAML, '["a"]' would be a string, not a list
    return f"e.g. {name}: {value}"


def _file_keys(config_file: str | None) -> set[str]:
    """The top-level keys of the config file (empty when there is none, or it is not a mapping)."""
    import yaml

    if not config_file:
        return set()
    try:
        loaded = yaml.safe_load(Path(config_file).read_text())
    except (OSError, yaml.YAMLError):
        return set()
    return {str(k) for k in loaded} if isinstance(loaded, dict) else set()


def describe_validation(exc: ValidationError, cls: type[BaseSettings]) -> list[str]:
    """One line per invalid setting: variable, bad value (masked when secret), why, an example.

    A value that came from the config file (``AUGUR_CONFIG_FILE``, no such variable set) is named
    as the file's key, where it can be found and fixed, not as a variable nobody set.
    """
    lines = []
    config_file = os.environ.get("AUGUR_CONFIG_FILE")
    file_keys = _file_keys(config_file)
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        if not loc:  # a rule across settings (e.g. one token given to two callers): its input is everything
            lines.append(str(err["msg"]).removeprefix("Value error, "))
            continue
        name = loc[0]
        where = "".join(f"[{p}]" for p in loc[1:])
        env = f"AUGUR_{name.upper()}"
        in_file = name in file_keys and env not in os.environ
        raw = os.environ.get(env, err.get("input"))
        secret = _secret(cls, name) or isinstance(err.get("input"), SecretStr)
        why = str(err["msg"]).removeprefix("Value error, ")
        if name == "database_url" and isinstance(raw, str):
            raw = _CREDENTIALS.sub(r"\1:********@", raw)
        if in_file and err["type"] == "extra_forbidden":
            near = _closest(name, cls)
            hint = f"did you mean `{near}`?" if near else "see `augur config` for the settings"
            lines.append(f"{name!r} in {config_file} is not an augur setting: {hint}")
            continue
        if in_file:
            example = "" if "e.g." in why else f"; {_yaml_example(cls, name)}"
            lines.append(f"{name}{where}: {_shown(raw, secret)} in {config_file}: {why}{example}")
            continue
        example = "" if "e.g." in why else f"; {_example(cls, name)}"
        lines.append(f"{env}{where}={_shown(raw, secret)}: {why}{example}")
    return lines


def describe_parse_error(exc: Exception, cls: type[BaseSettings]) -> str:
    """A value pydantic-settings could not even decode (a JSON setting holding non-JSON)."""
    match = _FIELD.search(str(exc))
    name = match.group(1) if match else "?"
    env = f"AUGUR_{name.upper()}"
    raw = os.environ.get(env)
    source = "" if raw is not None else " (in AUGUR_CONFIG_FILE)"
    value = _shown(raw, _secret(cls, name)) if raw is not None else "?"
    why = "not valid JSON (this setting is a JSON list or object)"
    return f"{env}={value}{source}: {why}; {_example(cls, name)}"


def data_dir_problem(path: Path) -> str | None:
    """Why ``path`` cannot be augur's data directory (None when it is one, or was just created)."""
    if path.exists() and not path.is_dir():
        return f"AUGUR_DATA_DIR='{path}': is a file, not a directory; {_data_dir_example()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return (f"AUGUR_DATA_DIR='{path}': cannot be created ({exc.strerror or exc}); "
                f"{_data_dir_example()}")
    if not os.access(path, os.W_OK | os.X_OK):
        return f"AUGUR_DATA_DIR='{path}': is not writable by this user; {_data_dir_example()}"
    return None


def _data_dir_example() -> str:
    return f"e.g. AUGUR_DATA_DIR={EXAMPLES['data_dir']} (a directory augur may write), or unset it"
