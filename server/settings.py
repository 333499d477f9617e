"""augur's configuration: the one place that reads the environment.

Values come, highest precedence first, from ``AUGUR_*`` environment variables, an optional YAML
file named by ``AUGUR_CONFIG_FILE``, and the defaults below. Everything else in augur takes its
configuration as explicit arguments built from a :class:`Settings`.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    YamlConfigSettingsSource,
)

from augur.server.scopes import REVIEWER_SCOPES, WEBHOOK_PRINCIPAL, WEBHOOK_SCOPES, Scope
from augur.tools.errors import BadInput

if TYPE_CHECKING:
    from augur.rules.actions import ActionConfig

__all__ = ["ApiToken", "ConfigError", "Settings", "SlackRoute", "load_settings"]


class ConfigError(BadInput):
    """The configuration is invalid; the message says which value and how to fix it."""


def _default_data_dir() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "augur"


class SlackRoute(BaseModel):
    """Send incidents whose alert labels include every ``match`` pair to ``channel``."""

    match: dict[str, str] = Field(description="Label name -> value; all must match.")
    channel: str = Field(description="Channel id or name.")


class ApiToken(BaseModel):
    """One API token: the secret and what it may do (see :mod:`augur.server.scopes`)."""

    model_config = {"extra": "forbid"}

    token: SecretStr = Field(description="The bearer token (at least 12 characters).")
    scopes: list[Scope] = Field(min_length=1, description="alerts:write, read, investigate, review, verdict.")

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 12:
            raise ValueError("a token must be at least 12 characters (e.g. `openssl rand -hex 24`)")
        return value


class Settings(BaseSettings):
    """Effective configuration of an augur process."""

    model_config = SettingsConfigDict(env_prefix="AUGUR_", extra="forbid", validate_default=True)

    data_dir: Path = Field(default_factory=_default_data_dir, description="Where SQLite files live.")
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL of the store; empty means sqlite:///<data_dir>/augur.db.",
    )
    webhook_token: SecretStr | None = Field(
        default=None,
        description="Bearer token Alertmanager must send; unset accepts webhooks from loopback only.",
    )
    api_tokens: dict[str, ApiToken] = Field(
        default_factory=dict,
        description='Name -> {"token": ..., "scopes": [...]}: who may call the API and what they may do '
        '(JSON in the env, e.g. {"grafana": {"token": "...", "scopes": ["read"]}}); scopes are '
        "alerts:write, read, investigate, review, verdict.",
    )
    dev_mode: bool = Field(
        default=False,
        description="Development only: loopback clients without a token get every scope. Never in "
        "production; `augur serve` says so at start-up.",
    )
    session_ttl_seconds: int = Field(
        default=8 * 3600, gt=0, description="How long a /review sign-in lasts (server-side session)."
    )
    webhook_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="Largest webhook body.")
    http_max_body_bytes: int = Field(
        default=1024 * 1024, gt=0, description="Largest request body on every route but the webhook."
    )
    http_body_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A request whose body has not fully arrived by then gets 408."
    )
    group_window_seconds: int = Field(
        default=1800, ge=0, description="An alert joins an open incident sharing a component label "
        "if that incident's last alert is at most this old."
    )
    group_labels: list[str] = Field(
        default_factory=lambda: ["service", "model", "job", "namespace"],
        description="Labels that name a component, in order of preference, for grouping.",
    )
    prometheus_url: str | None = Field(default=None, description="Prometheus base URL.")
    alertmanager_url: str | None = Field(default=None, description="Alertmanager base URL.")
    alertmanager_pull_seconds: float = Field(
        default=0, ge=0,
        description="`augur serve` pulls GET /api/v2/alerts from alertmanager_url this often (0 = off): "
        "catches inhibited and silenced alerts and webhooks lost while augur was down.",
    )
    alertmanager_pull_receiver: str | None = Field(
        default=None,
        description="Pull only alerts routed to receivers matching this regex (e.g. augur's webhook "
        "receiver, as webhooks would bring); unset = every alert.",
    )
    elasticsearch_url: str | None = Field(default=None, description="Elasticsearch URL for log search.")
    elasticsearch_index: str = Field(default="logs-*", description="Index pattern log search reads.")
    kibana_url: str | None = Field(default=None, description="Kibana URL: log evidence links to Discover.")
    log_db: Path | None = Field(default=None, description="Embedded SQLite log store (default in data_dir).")
    jaeger_url: str | None = Field(
        default=None, description="Jaeger query service URL (HTTP API, e.g. http://jaeger:16686) for traces."
    )
    trace_db: Path | None = Field(
        default=None,
        description="Embedded SQLite span store, used when jaeger_url is unset (default in data_dir).",
    )
    mlflow_url: str | None = Field(
        default=None, description="MLflow tracking server (REST API, e.g. http://mlflow:5000)."
    )
    gpu_probe_urls: list[str] = Field(
        default_factory=list,
        description="Probe endpoints of GPU nodes (`augur probe` on each); in the environment a JSON "
        "list: AUGUR_GPU_PROBE_URLS='[\"http://gpu-1:9402\"]'.",
    )
    gpu_probe_local: bool = Field(default=True, description="gpu_probe also reads this host's GPUs via NVML.")
    catalog_file: Path | None = Field(default=None, description="Platform catalog YAML.")
    data_roots: list[Path] = Field(
        default_factory=list,
        description="Directories file-reading tools (drift's CSV/Parquet tables) may read (JSON list); "
        "empty = data_dir and the catalog file's directory. Anything else is refused.",
    )
    catalog_discovery: bool = Field(
        default=True, description="Without catalog_file, investigations discover a catalog from "
        "prometheus_url (cached in data_dir/catalogs) instead of working from the alert alone.",
    )
    catalog_discovery_ttl_s: float = Field(
        default=3600.0, ge=0, description="How long a discovered catalog is reused before discovering again.",
    )
    catalog_edges_file: Path | None = Field(
        default=None,
        description="Call edges (CSV Source,Target[,Weight]) for a discovered catalog's depends_on.",
    )
    llm_base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint.")
    llm_model: str | None = Field(default=None, description="Model name at the LLM endpoint.")
    llm_api_key: SecretStr | None = Field(default=None, description="API key for the LLM endpoint.")
    reviewers: list[str] = Field(default_factory=list,
                                 description="Who may approve rule proposals and record verdicts.")
    reviewer_tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Reviewer name -> bearer token for approving/rejecting proposals (JSON in the env, "
        'e.g. {"alice": "..."}); with `reviewers` set, only those names may approve.',
    )
    rules_dir: Path | None = Field(
        default=None, description="Directory Prometheus loads rule files from; approved rules go here."
    )
    rules_apply_mode: Literal["file", "patch"] = Field(
        default="file", description="`file`: write, reload and confirm; `patch`: write a diff for git."
    )
    rules_patch_dir: Path | None = Field(default=None, description="Where patch mode writes diffs.")
    alertmanager_config_file: Path | None = Field(
        default=None, description="alertmanager.yml that inhibition proposals are diffed against."
    )
    alertmanager_apply_mode: Literal["patch", "file"] = Field(
        default="patch",
        description="Approved inhibitions: `patch` writes a diff for git; `file` merges into "
        "alertmanager_config_file, checks it with amtool, reloads alertmanager_url and confirms.",
    )
    retrain_webhook_url: str | None = Field(
        default=None, description="Retraining pipeline webhook (Argo Events, Kubeflow, Airflow...): "
        "an approved `retrain` action POSTs the incident and model to it as JSON.",
    )
    retrain_webhook_token: SecretStr | None = Field(
        default=None, description="Bearer token sent to retrain_webhook_url, if it needs one.")
    kubernetes_url: str | None = Field(
        default=None, description="Kubernetes API server (e.g. https://10.0.0.1:6443): approved `scale` "
        "actions patch deployments' scale there (dry run first).",
    )
    kubernetes_token: SecretStr | None = Field(
        default=None, description="Bearer token of a service account that may patch deployments/scale.")
    kubernetes_ca_file: Path | None = Field(
        default=None, description="CA bundle of the Kubernetes API server.")
    action_followup_seconds: float = Field(
        default=900.0, ge=0, description="How long after an approved action ran augur checks whether the "
        "incident's alerts stopped firing (its SLI recovered) and says so on the timeline.")
    kubernetes_namespace: str = Field(
        default="default", max_length=63,
        description="Namespace of deployments an alert does not name one for.")
    retune_min_verdicts: int = Field(
        default=3, ge=1, description="How many incidents opened by one alert rule must be judged not "
        "actionable (within retune_window_days) before augur proposes retuning the rule.")
    retune_window_days: float = Field(
        default=30.0, gt=0, description="How far back incidents count towards retune_min_verdicts.")
    worker_lease_seconds: int = Field(default=60, gt=0, description="Job lease; renewed while running.")
    worker_max_attempts: int = Field(default=5, gt=0, description="Attempts before a job is parked.")
    worker_in_process: bool = Field(default=True, description="`augur serve` also runs a worker.")
    worker_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often an idle worker looks for jobs."
    )
    worker_backoff_seconds: float = Field(
        default=5.0, ge=0, description="Retry delay after a job's first failure; doubles each attempt."
    )
    outage_retry_seconds: float = Field(
        default=3600.0, ge=0, description="How long an investigation whose backends were unavailable keeps "
        "being retried (with back-off) before its report is left saying what could not be examined.",
    )
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL", description="SQLite fsync policy: FULL survives power loss, NORMAL only a crash."
    )
    slack_bot_token: SecretStr | None = Field(
        default=None, description="Slack bot token (xoxb-...): posts reports, proposals and postmortems."
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, description="Slack signing secret: every /slack/* request must be signed with it."
    )
    slack_app_token: SecretStr | None = Field(
        default=None, description="Slack app-level token (xapp-...) for Socket Mode (`augur slack socket`)."
    )
    slack_api_url: str | None = Field(
        default=None,
        description="Slack Web API base URL (default https://slack.com/api/; tests point it at a local one).",
    )
    slack_channel: str | None = Field(
        default=None, description="Channel for incidents that no `slack_routes` entry matches."
    )
    slack_routes: list[SlackRoute] = Field(
        default_factory=list,
        description='Channel by alert labels, first match wins (JSON, e.g. [{"match": {"team": "ranking"}, '
        '"channel": "C0RANKING"}]).',
    )
    slack_reviewers: dict[str, str] = Field(
        default_factory=dict,
        description="Slack user id -> reviewer name who may click Approve/Reject and the verdict buttons "
        '(e.g. {"U024BE7LH": "alice"}); with `reviewers` set, the name must also be on it.',
    )
    redact_patterns: list[str] = Field(
        default_factory=list,
        description="Extra regular expressions whose matches are redacted everywhere augur writes "
        "(JSON list), besides the built-in keys, tokens and credentials.",
    )
    public_base_url: str | None = Field(
        default=None, description="Where people reach this augur (links in Slack, e.g. https://augur.example)."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("AUGUR_CONFIG_FILE")
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError(
                "must be a SQLAlchemy URL starting with sqlite:// or postgresql:// "
                "(e.g. postgresql+psycopg://user@127.0.0.1:5432/augur)"
            )
        return value

    @field_validator("redact_patterns")
    @classmethod
    def _patterns_compile(cls, value: list[str]) -> list[str]:
        import re

        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _distinct_tokens(self) -> Settings:
        seen: dict[str, str] = {}
        for name, token, _scopes in self.token_grants():
            owner = seen.setdefault(token, name)
            if owner != name:
                raise ValueError(
                    f"the same token is given to {owner!r} and {name!r}: give each its own token "
                    "(a token names one caller; scopes say what it may do)"
                )
        return self

    def action_config(self) -> ActionConfig:
        """Where approved actions act (:mod:`augur.rules.actions`): MLflow, the webhook, Kubernetes."""
        from augur.rules.actions import ActionConfig

        def secret(value: SecretStr | None) -> str | None:
            return value.get_secret_value() if value is not None else None

        return ActionConfig(
            mlflow_url=self.mlflow_url, retrain_url=self.retrain_webhook_url,
            retrain_token=secret(self.retrain_webhook_token), kubernetes_url=self.kubernetes_url,
            kubernetes_token=secret(self.kubernetes_token),
            kubernetes_ca_file=str(self.kubernetes_ca_file) if self.kubernetes_ca_file else None,
            kubernetes_namespace=self.kubernetes_namespace,
        )

    def token_grants(self) -> list[tuple[str, str, frozenset[Scope]]]:
        """Every configured token as (principal name, token, scopes): ``api_tokens``, the webhook
        token (``alertmanager``: alerts:write) and the reviewer tokens (name: review, read)."""
        grants = [(name, t.token.get_secret_value(), frozenset(t.scopes))
                  for name, t in self.api_tokens.items()]
        if self.webhook_token is not None:
            grants.append((WEBHOOK_PRINCIPAL, self.webhook_token.get_secret_value(), WEBHOOK_SCOPES))
        for name, token in self.reviewer_tokens.items():
            if token.get_secret_value():
                grants.append((name, token.get_secret_value(), REVIEWER_SCOPES))
        return grants

    @field_validator(
        "prometheus_url", "alertmanager_url", "elasticsearch_url", "kibana_url", "jaeger_url", "mlflow_url",
        "llm_base_url", "retrain_webhook_url", "kubernetes_url",
        "slack_api_url", "public_base_url",
    )
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value and not _is_http_url(value):
            raise ValueError("must be an http:// or https:// URL with a host")
        return value

    @field_validator("gpu_probe_urls")
    @classmethod
    def _check_urls(cls, value: list[str]) -> list[str]:
        bad = [u for u in value if not _is_http_url(u)]
        if bad:
            raise ValueError(f"every entry must be an http:// or https:// URL with a host, not {bad[0]!r}")
        return value

    @property
    def effective_data_roots(self) -> list[Path]:
        """Where file-reading tools may read: ``data_roots``, else the data dir and the catalog's dir."""
        if self.data_roots:
            return list(self.data_roots)
        return [self.data_dir, *([self.catalog_file.parent] if self.catalog_file is not None else [])]

    @property
    def effective_database_url(self) -> str:
        """The store URL, with the SQLite default filled in."""
        return self.database_url or f"sqlite:///{self.data_dir / 'augur.db'}"

    def masked(self) -> dict[str, Any]:
        """The configuration as plain data with secrets masked, for `augur config`: secret fields as
        ``********``, tokens hidden (scopes shown), and every other value through the redaction pass
        (credentials in URLs, DSN passwords, keys and tokens wherever they were put)."""
        from augur.agent.redact import redact_value

        out: dict[str, Any] = {}
        for name, value in self.model_dump(mode="json").items():
            field_value = getattr(self, name)
            if isinstance(field_value, SecretStr):
                out[name] = "********"
            elif name == "reviewer_tokens":
                out[name] = {k: "********" for k in value}
            elif name == "api_tokens":
                out[name] = {k: {"token": "********", "scopes": v["scopes"]} for k, v in value.items()}
            else:
                out[name] = redact_value(value)
        out["effective_database_url"] = redact_value(self.effective_database_url)
        return out


def _is_http_url(value: str) -> bool:
    parsed = urlsplit(value)
    return parsed.scheme in ("http", "https") and bool(parsed.hostname)


def is_loopback(host: str | None) -> bool:
    """Whether a client address is on the loopback range (127.0.0.0/8 or ::1)."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, turning validation errors into a fix hint."""
    config_file = os.environ.get("AUGUR_CONFIG_FILE")
    if config_file and not Path(config_file).is_file():
        raise ConfigError(
            f"AUGUR_CONFIG_FILE={config_file} does not exist: point it at a YAML file or unset it"
        )
    if config_file:
        try:
            yaml.safe_load(Path(config_file).read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"AUGUR_CONFIG_FILE={config_file} is not valid YAML: {exc}") from exc
    from augur.server.config_errors import data_dir_problem, describe_parse_error, describe_validation

    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        lines = describe_validation(exc, Settings)
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
    except SettingsError as exc:  # a JSON setting whose value is not JSON
        raise ConfigError("invalid configuration:\n  " + describe_parse_error(exc, Settings)) from None
    problem = data_dir_problem(settings.data_dir)
    if problem:
        raise ConfigError("invalid configuration:\n  " + problem)
    return settings
