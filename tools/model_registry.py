"""``model_registry``: which version of a model is live, since when, and how it compares.

The tool reads an MLflow tracking server's REST API (``/api/2.0/mlflow/...``; read-only):

- ``registered-models/get``: the model, its aliases (``champion -> 8``) and, on registries older
  than aliases, its versions' stages (``Production``);
- ``model-versions/search``: every version, with its creation time, stage and run;
- ``runs/get`` for the live version's training run and the previous version's: their logged
  metrics side by side (accuracy, latency, ``feature_importance.<feature>`` ...);
- ``metrics/get-history``: the live run's training curves (keys with ``loss`` or ``grad`` in
  their name, or the ones asked for), down-sampled.

The *live* version is the one the alias points to (``alias``, else the first of
:data:`LIVE_ALIASES` that exists), else the newest version in stage ``Production``, else the newest
version. *When it changed*: MLflow keeps no alias history, so the change time is the live
version's creation time, or its ``deployed_at`` tag (ISO time or Unix seconds) when the
deployment process records one. The *previous* version is the newest one created before the live
one (or its ``previous_version`` tag).

An unknown model is ``empty`` (with the models that do exist); a server that cannot be reached is
``unavailable``; an answer that is not MLflow's is ``error``. :func:`set_alias` moves an alias
(the write a rollback needs); the tool itself never writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, Field

from augur.tools.base import Tool, ToolError
from augur.tools.evidence import Evidence, EvidenceStatus, Meaning
from augur.tools.http_json import JsonBackend
from augur.tools.results import ModelVersionResult
from augur.tools.timeparse import parse_time

__all__ = ["LIVE_ALIASES", "MlflowApi", "ModelRegistryArgs", "ModelRegistryTool", "set_alias"]

#: Aliases that name the serving version, tried in order when no alias is asked for.
LIVE_ALIASES = ("production", "prod", "champion", "live", "serving")
#: Metric keys whose name says they are a quality, a latency or a feature's importance.
_QUALITY = ("accuracy", "auc", "f1", "precision", "recall", "ndcg", "ctr", "map", "rmse", "mae", "logloss")
_LATENCY = ("latency", "p50", "p95", "p99", "duration", "inference_ms", "_ms")
_IMPORTANCE = ("feature_importance", "importance", "weight.")


@dataclass(frozen=True, slots=True)
class RegistryLimits:
    """The guards of ``model_registry``."""

    max_versions: int = 200
    max_metrics: int = 40
    max_curves: int = 4
    max_curve_points: int = 50
    request_timeout_s: float = 10.0


class ModelRegistryArgs(BaseModel):
    """Arguments of ``model_registry``."""

    model: str = Field(min_length=1, max_length=300, description="Registered model name, e.g. `ranker`.")
    alias: str | None = Field(
        default=None, max_length=255,
        description="The alias that names the serving version (e.g. `champion`); default: the first of "
        + ", ".join(LIVE_ALIASES) + " that exists, else stage Production, else the newest version.",
    )
    since: str | float | None = Field(
        default=None,
        description="Say whether the live version changed after this time (e.g. the investigation "
        "window's start): RFC 3339 or Unix seconds.",
    )
    curves: list[str] = Field(
        default_factory=list, max_length=8,
        description="Metric keys of the training run to read as curves; default: keys with `loss` or "
        "`grad` in their name.",
    )


class MlflowApi:
    """The MLflow tracking server's REST API (GET only); ``http=None`` opens a client per call."""

    def __init__(self, http: httpx.AsyncClient | None, base_url: str, *, timeout_s: float = 10.0) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._backend = JsonBackend(
            "MLflow", self.base_url, timeout_s,
            down="is `mlflow server` running, and is AUGUR_MLFLOW_URL its tracking URI (http://host:5000)?",
            not_json="check that AUGUR_MLFLOW_URL is an MLflow tracking server",
        )

    async def get(self, endpoint: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """``GET /api/2.0/mlflow/<endpoint>``; ``None`` for MLflow's RESOURCE_DOES_NOT_EXIST."""
        answer = await self._backend.get(self.http, f"{self.base_url}/api/2.0/mlflow/{endpoint}", params)
        body = answer.body
        if not isinstance(body, dict):
            raise ToolError(f"{answer.url} answered {type(body).__name__}, not MLflow's JSON object")
        if answer.status == 404 and body.get("error_code") == "RESOURCE_DOES_NOT_EXIST":
            return None
        if answer.status != 200:
            raise answer.refused(f"{body.get('error_code', '')} {body.get('message', body)}")
        return body


async def set_alias(api_url: str, model: str, alias: str, version: str, *,
                    http: httpx.AsyncClient | None = None, timeout_s: float = 10.0) -> None:
    """Point ``model@alias`` at ``version`` (``POST registered-models/alias``): a rollback's write.

    Not used by the read-only tool; raises :class:`ToolError` when MLflow refuses.
    """
    client = http or httpx.AsyncClient()
    url = f"{api_url.rstrip('/')}/api/2.0/mlflow/registered-models/alias"
    try:
        response = await client.post(url, json={"name": model, "alias": alias, "version": str(version)},
                                     timeout=timeout_s)
    finally:
        if http is None:
            await client.aclose()
    if response.status_code != 200:
        raise ToolError(f"MLflow refused to set {model}@{alias} -> {version}: HTTP {response.status_code} "
                        f"{response.text[:300]}")


def _ms_time(value: Any) -> float | None:
    try:
        return float(value) / 1000.0
    except (TypeError, ValueError):
        return None


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _tags(obj: dict[str, Any]) -> dict[str, str]:
    return {str(t.get("key")): str(t.get("value")) for t in obj.get("tags") or [] if isinstance(t, dict)}


def _tag_time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parse_time(value)
    except ToolError:
        return None


def _kind(key: str) -> str:
    low = key.lower()
    if any(low.startswith(p) or f".{p}" in low for p in _IMPORTANCE):
        return "feature_importance"
    if any(p in low for p in _LATENCY):
        return "latency"
    if any(p in low for p in _QUALITY):
        return "quality"
    return "other"


def _version_json(v: dict[str, Any], aliases: dict[str, list[str]]) -> dict[str, Any]:
    created = _ms_time(v.get("creation_timestamp"))
    return {
        "version": str(v.get("version")),
        "created_at": _iso(created),
        "stage": None if v.get("current_stage") in (None, "", "None") else v.get("current_stage"),
        "aliases": aliases.get(str(v.get("version")), []),
        "run_id": v.get("run_id") or None,
        "status": v.get("status"),
        "description": (v.get("description") or "")[:300] or None,
    }


def _downsample(points: list[tuple[float, float]], keep: int) -> list[list[float]]:
    if len(points) <= keep:
        return [[s, v] for s, v in points]
    stride = (len(points) - 1) / (keep - 1)
    return [[points[round(i * stride)][0], points[round(i * stride)][1]] for i in range(keep)]


class ModelRegistryTool(Tool):
    """The live version of a registered model in MLflow, its change time, and its runs' metrics."""

    name: ClassVar[str] = "model_registry"
    meaning: ClassVar[Meaning] = Meaning.MODEL_VERSION
    Result: ClassVar[type[BaseModel]] = ModelVersionResult
    description: ClassVar[str] = (
        "Read a registered model in MLflow's model registry: which version is live (its alias such as "
        "champion, or stage Production), when it changed (version created / deployed), the version before "
        "it, both training runs' logged metrics side by side (offline accuracy, latency, feature "
        "importance) and the live run's loss curve. Use it when a model's accuracy, latency or outputs "
        "changed, to see whether a new model version was rolled out just before."
    )
    Args: ClassVar[type[BaseModel]] = ModelRegistryArgs
    timeout_s = 30.0

    def __init__(self, api: MlflowApi, limits: RegistryLimits | None = None) -> None:
        self.api = api
        self.limits = limits or RegistryLimits()

    @classmethod
    def mlflow(cls, http: httpx.AsyncClient | None, base_url: str,
               limits: RegistryLimits | None = None) -> ModelRegistryTool:
        """Over the MLflow server at ``base_url``; ``http=None`` opens a client per call."""
        limits = limits or RegistryLimits()
        return cls(MlflowApi(http, base_url, timeout_s=limits.request_timeout_s), limits)

    async def _run(self, args: ModelRegistryArgs) -> Evidence:
        canonical = args.model_dump(mode="json")
        lim = self.limits
        base = self.api.base_url
        got = await self.api.get("registered-models/get", {"name": args.model})
        if got is None:
            listed = await self.api.get("registered-models/search", {"max_results": 50}) or {}
            names = sorted(str(m.get("name")) for m in listed.get("registered_models") or [])
            return Evidence.make(
                self.name, canonical, EvidenceStatus.EMPTY,
                f"MLflow at {base} has no registered model {args.model!r}",
                reason=f"registered models there: {', '.join(names[:30]) or 'none'}; check the catalog's "
                "`registered_model`", data={"model": args.model, "models": names[:30]},
            )
        model = got.get("registered_model")
        if not isinstance(model, dict):
            raise ToolError(f"{base} answered registered-models/get without a registered_model")
        alias_of: dict[str, str] = {
            str(a.get("alias")): str(a.get("version"))
            for a in model.get("aliases") or [] if isinstance(a, dict)
        }
        by_version: dict[str, list[str]] = {}
        for alias_name, version in alias_of.items():
            by_version.setdefault(version, []).append(alias_name)
        search = await self.api.get("model-versions/search", {
            "filter": f"name='{args.model.replace(chr(39), chr(39) * 2)}'", "max_results": lim.max_versions,
        }) or {}
        versions = [v for v in search.get("model_versions") or [] if isinstance(v, dict)]
        truncated: list[str] = []
        if len(versions) >= lim.max_versions:
            truncated.append(f"versions: at the limit of {lim.max_versions} (older ones may be missing)")
        versions.sort(key=lambda v: (_ms_time(v.get("creation_timestamp")) or 0.0, _int(v.get("version"))))
        if not versions:
            return Evidence.make(
                self.name, canonical, EvidenceStatus.EMPTY,
                f"registered model {args.model!r} has no versions in MLflow at {base}",
                reason="register a version (mlflow.register_model) or check the model name",
                data={"model": args.model},
            )
        live, how = self._live(versions, alias_of, args.alias)
        if live is None:
            return Evidence.make(
                self.name, canonical, EvidenceStatus.EMPTY,
                f"{args.model}: no alias {args.alias!r} (aliases: {', '.join(sorted(alias_of)) or 'none'})",
                reason="pass one of the model's aliases, or none to take the default",
                data={"model": args.model, "aliases": alias_of},
            )
        live_tags = _tags(live)
        created = _ms_time(live.get("creation_timestamp"))
        deployed = _tag_time(live_tags.get("deployed_at"))
        changed_at = deployed or created
        previous = self._previous(versions, live, live_tags.get("previous_version"))
        live_run = await self._run_data(live.get("run_id"))
        prev_run = await self._run_data(previous.get("run_id")) if previous else None
        metrics = self._compare(live_run, prev_run, truncated)
        curves = await self._curves(live.get("run_id"), live_run, args.curves, truncated)
        since = parse_time(args.since) if args.since is not None else None
        data: dict[str, Any] = {
            "model": args.model,
            "live": {**_version_json(live, by_version), "selected_by": how},
            "changed_at": _iso(changed_at),
            "changed_at_source": "deployed_at tag" if deployed else "version creation",
            "previous": _version_json(previous, by_version) if previous else None,
            "aliases": alias_of,
            "metrics": metrics,
            "curves": curves,
            "versions": [_version_json(v, by_version) for v in versions[-10:]],
        }
        if since is not None and changed_at is not None:
            data["changed_since"] = changed_at >= since
        return Evidence.make(
            self.name, canonical, EvidenceStatus.OK, self._summary(data),
            data=data, truncated=truncated, source_url=f"{base}/#/models/{args.model}",
        )

    @staticmethod
    def _live(versions: list[dict[str, Any]], alias_of: dict[str, str],
              alias: str | None) -> tuple[dict[str, Any] | None, str]:
        by_number = {str(v.get("version")): v for v in versions}
        if alias is not None:
            version = alias_of.get(alias)
            return (by_number.get(version) if version else None), f"alias {alias}"
        lowered = {a.lower(): a for a in alias_of}
        for name in LIVE_ALIASES:
            if name in lowered and alias_of[lowered[name]] in by_number:
                return by_number[alias_of[lowered[name]]], f"alias {lowered[name]}"
        production = [v for v in versions if str(v.get("current_stage", "")).lower() == "production"]
        if production:
            return production[-1], "stage Production"
        return versions[-1], "newest version (no serving alias or stage)"

    @staticmethod
    def _previous(versions: list[dict[str, Any]], live: dict[str, Any],
                  tagged: str | None) -> dict[str, Any] | None:
        if tagged:
            for v in versions:
                if str(v.get("version")) == tagged:
                    return v
        index = next(i for i, v in enumerate(versions) if v is live)
        return versions[index - 1] if index > 0 else None

    async def _run_data(self, run_id: Any) -> dict[str, Any] | None:
        if not run_id:
            return None
        got = await self.api.get("runs/get", {"run_id": str(run_id)})
        run = (got or {}).get("run")
        return run if isinstance(run, dict) else None

    def _compare(self, live: dict[str, Any] | None, prev: dict[str, Any] | None,
                 truncated: list[str]) -> list[dict[str, Any]]:
        def latest(run: dict[str, Any] | None) -> dict[str, float]:
            out: dict[str, float] = {}
            for m in ((run or {}).get("data") or {}).get("metrics") or []:
                if isinstance(m, dict) and isinstance(m.get("value"), int | float):
                    out[str(m.get("key"))] = float(m["value"])
            return out

        now, before = latest(live), latest(prev)
        keys = sorted(set(now) | set(before), key=lambda k: (
            ("quality", "latency", "feature_importance", "other").index(_kind(k)), k))
        if len(keys) > self.limits.max_metrics:
            truncated.append(f"metrics: {len(keys)} -> {self.limits.max_metrics}")
            keys = keys[: self.limits.max_metrics]
        rows = []
        for key in keys:
            a, b = now.get(key), before.get(key)
            rows.append({"key": key, "kind": _kind(key), "live": a, "previous": b,
                         "delta": None if a is None or b is None else round(a - b, 6)})
        return rows

    async def _curves(self, run_id: Any, run: dict[str, Any] | None, asked: list[str],
                      truncated: list[str]) -> dict[str, Any]:
        if not run_id or run is None:
            return {}
        metrics = (run.get("data") or {}).get("metrics") or []
        logged = [str(m.get("key")) for m in metrics if isinstance(m, dict)]
        keys = asked or sorted(k for k in logged if "loss" in k.lower() or "grad" in k.lower())
        if len(keys) > self.limits.max_curves:
            truncated.append(f"curves: {len(keys)} -> {self.limits.max_curves}")
            keys = keys[: self.limits.max_curves]
        out: dict[str, Any] = {}
        for key in keys:
            got = await self.api.get("metrics/get-history", {"run_id": str(run_id), "metric_key": key})
            points = sorted(
                (float(m.get("step") or 0), float(m["value"]))
                for m in (got or {}).get("metrics") or []
                if isinstance(m, dict) and isinstance(m.get("value"), int | float)
            )
            if not points:
                continue
            values = [v for _, v in points]
            out[key] = {"points": _downsample(points, self.limits.max_curve_points), "count": len(points),
                        "first": values[0], "last": values[-1], "min": min(values), "max": max(values)}
        return out

    @staticmethod
    def _summary(data: dict[str, Any]) -> str:
        live, prev = data["live"], data["previous"]
        text = (f"{data['model']}: version {live['version']} is live ({live['selected_by']}), "
                f"since {data['changed_at']} ({data['changed_at_source']})")
        if prev:
            text += f"; previous version {prev['version']}"
            quality = [m for m in data["metrics"] if m["kind"] == "quality" and m["delta"] is not None]
            if quality:
                m = quality[0]
                text += f"; offline {m['key']} {m['previous']:.4g} -> {m['live']:.4g}"
        if data.get("changed_since"):
            text += "; it changed inside the window asked about"
        return text + "."


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
