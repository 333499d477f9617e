"""Turn a scenario into real telemetry: Prometheus blocks, log lines, drift samples.

:func:`generate` writes, for a scenario, a seed and the end of the history (the alert's time):

- ``metrics.om``: OpenMetrics text, every sample in seconds, ready for
  ``promtool tsdb create-blocks-from openmetrics`` (:func:`augur.evals.servers.backfill`);
- ``logs.jsonl``: one JSON object a line (``timestamp``, ``level``, ``component``, ``service``,
  ``message`` and the template's fields), sorted by time;
- ``drift/<component>/{reference,current}.parquet``: the feature samples;
- ``rules.yml`` (the scenario's Prometheus rules) and ``catalog.yaml`` (its catalog, drift paths
  made absolute);
- ``scenario.json`` (times, fault onsets, truth) in ``truth_dir``, **outside** ``out_dir`` (default:
  a sibling ``<out_dir>.truth``): the agent's tools are given ``out_dir``'s files, the scorer alone
  reads the truth.

Everything is a pure function of (scenario, seed, ``t_end``): the same inputs give byte-identical
files. Each series draws its noise from its own generator seeded by (seed, series id), so adding
a series does not change the others. :class:`SeriesModel` evaluates any series at any time, which
the demo's live exporter uses to carry the history on past ``t_end``.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from numpy.typing import NDArray

from augur.evals.scenario import Distribution, Effect, Fault, MetricSpec, Scenario
from augur.evals.servers import Sample, write_openmetrics

__all__ = [
    "Generated",
    "SeriesModel",
    "default_t_end",
    "generate",
    "histogram_quantile",
    "le_label",
    "round_sample",
    "truth_dir_for",
]

Array = NDArray[np.float64]


def default_t_end(step_seconds: int = 30, now: float | None = None, margin_s: float = 60.0) -> float:
    """The end of a history to serve now: a step boundary at least ``margin_s`` in the past.

    Samples in Prometheus's future make live scrapes fail as out of bounds, hence the margin; the
    demo uses a small one so that its live exporter's first scrape follows the history closely.
    """
    now = time.time() if now is None else now
    return float(int(now - margin_s) // step_seconds * step_seconds)


def _stream(seed: int, *parts: str | int) -> np.random.Generator:
    """A random generator for one named stream of one seed (stable across runs and platforms)."""
    keys = [seed & 0xFFFFFFFF] + [zlib.crc32(p.encode()) if isinstance(p, str) else p for p in parts]
    return np.random.default_rng(keys)


def _normal_cdf(x: Array) -> Array:
    erf = np.vectorize(math.erf, otypes=[float])
    return np.asarray(0.5 * (1.0 + erf(x / math.sqrt(2.0))), dtype=np.float64)


def histogram_quantile(q: float, median: Array, sigma: Array) -> Array:
    """The ``q`` quantile of log-normal durations (what a histogram's p99 converges to)."""
    z = math.sqrt(2.0) * _erfinv(2.0 * q - 1.0)
    return np.asarray(median * np.exp(sigma * z), dtype=np.float64)


def _erfinv(y: float) -> float:
    # Newton on erf; plenty for a handful of quantiles.
    x = 0.0
    for _ in range(60):
        x -= (math.erf(x) - y) / (2.0 / math.sqrt(math.pi) * math.exp(-x * x))
    return x


@dataclass
class SeriesModel:
    """Evaluates a scenario's series on a time grid, with its faults and noise applied."""

    scenario: Scenario
    seed: int
    t_end: float

    def _weight(self, fault: Fault, effect: Effect, t: Array) -> Array:
        t0 = self.t_end + fault.start + effect.lag
        since = t - t0
        w = np.where(since >= 0, 1.0, 0.0)
        if fault.shape == "ramp" and fault.duration:
            w = np.clip(since / fault.duration, 0.0, 1.0)
        elif fault.shape == "spike" and fault.duration:
            w = np.where((since >= 0) & (since < fault.duration), 1.0, 0.0)
        return np.asarray(w, dtype=np.float64)

    def _apply(self, spec: MetricSpec, target: str, base: Array, t: Array) -> Array:
        out = base.copy()
        for fault in self.scenario.faults:
            for effect in fault.effects:
                if effect.metric != spec.id or effect.target != target:
                    continue
                w = self._weight(fault, effect, t)
                if effect.factor is not None:
                    out = out * (1.0 + (effect.factor - 1.0) * w)
                else:
                    out = out + (effect.delta or 0.0) * w
        return out

    def _season(self, spec: MetricSpec, t: Array) -> Array:
        s = spec.seasonality
        hours = (t % 86400.0) / 3600.0
        return np.asarray(1.0 + s.amplitude * np.cos(2 * math.pi * (hours - s.peak_hour) / 24.0))

    def _noise(self, spec: MetricSpec, stream: str, index: NDArray[np.int64]) -> Array:
        """Standard normal draws for the given step indices (history: one vectorised stream)."""
        if index.size and index.min() >= 0 and index.max() < self.steps:
            full = _stream(self.seed, spec.id, stream).standard_normal(self.steps)
            return np.asarray(full[index], dtype=np.float64)
        return np.asarray(
            [_stream(self.seed, spec.id, stream, int(i)).standard_normal() for i in index], dtype=np.float64
        )

    @property
    def step(self) -> int:
        """Seconds between samples."""
        return self.scenario.history.step_seconds

    @property
    def t_start(self) -> float:
        """First sample's time."""
        return self.t_end - (self.steps - 1) * self.step

    @property
    def steps(self) -> int:
        """Number of samples per series in the history."""
        return int(self.scenario.history.hours * 3600 // self.step) + 1

    def grid(self) -> Array:
        """The history's sample times."""
        return self.t_start + self.step * np.arange(self.steps, dtype=np.float64)

    def index(self, t: Array) -> NDArray[np.int64]:
        """Step indices of times ``t`` (beyond the history for live values)."""
        return np.asarray(np.round((t - self.t_start) / self.step), dtype=np.int64)

    def value(self, spec: MetricSpec, t: Array) -> Array:
        """A gauge's value, or a counter's / histogram's per-second rate, at times ``t``."""
        base = self._apply(spec, "value", spec.level * self._season(spec, t), t)
        noise = self._apply(spec, "noise", np.full_like(t, spec.noise), t)
        out = base + noise * self._noise(spec, "value", self.index(t))
        if spec.type != "gauge":
            out = np.maximum(out, 0.0)
        lo = -np.inf if spec.min is None else spec.min
        hi = np.inf if spec.max is None else spec.max
        return np.asarray(np.clip(out, lo, hi), dtype=np.float64)

    def shape(self, spec: MetricSpec, t: Array) -> tuple[Array, Array]:
        """A histogram's (median, sigma) at times ``t``, with a little jitter on the median."""
        assert spec.histogram is not None
        median = self._apply(spec, "median", np.full_like(t, spec.histogram.median), t)
        sigma = self._apply(spec, "sigma", np.full_like(t, spec.histogram.sigma), t)
        jitter = np.exp(0.03 * self._noise(spec, "median", self.index(t)))
        return np.asarray(median * jitter), np.asarray(np.maximum(sigma, 0.01))

    def present(self, spec: MetricSpec, t: Array) -> NDArray[np.bool_]:
        """Whether the series exists at times ``t``."""
        ok = np.ones_like(t, dtype=bool)
        if spec.start is not None:
            ok &= t >= self.t_end + spec.start
        if spec.end is not None:
            ok &= t < self.t_end + spec.end
        return ok

    def bucket_shares(self, spec: MetricSpec, median: Array, sigma: Array) -> list[Array]:
        """Cumulative share of requests at or under each bucket bound (``+Inf`` last)."""
        assert spec.histogram is not None
        shares = [_normal_cdf((np.log(le) - np.log(median)) / sigma) for le in spec.histogram.buckets]
        return [*shares, np.ones_like(median)]


def le_label(bound: float) -> str:
    """A histogram bucket bound as its ``le`` label value (``0.25``, ``1``, ``2.5``)."""
    return f"{bound:g}"


def round_sample(x: float) -> float:
    """A sample value as the history stores it (6 significant digits).

    The live exporter continues counters from exactly these stored values: starting from the
    unrounded sums instead could put a live value a few counts below the last stored one, which
    Prometheus reads as a counter reset (and ``rate()`` as a burst).
    """
    return float(f"{x:.6g}")


def _metric_samples(model: SeriesModel, spec: MetricSpec) -> Iterator[Sample]:
    t = model.grid()
    keep = model.present(spec, t)
    rate = model.value(spec, t)
    if spec.type == "gauge":
        for ts, v, k in zip(t, rate, keep, strict=True):
            if k:
                yield Sample(spec.metric, spec.labels, round_sample(float(v)), float(ts))
        return
    # Counters accumulate only while the series exists (a new model_version starts at zero).
    increments = np.where(keep, rate * model.step, 0.0)
    if spec.type == "counter":
        total = np.cumsum(increments)
        for ts, v, k in zip(t, total, keep, strict=True):
            if k:
                yield Sample(spec.metric, spec.labels, round_sample(float(v)), float(ts))
        return
    assert spec.histogram is not None
    median, sigma = model.shape(spec, t)
    shares = model.bucket_shares(spec, median, sigma)
    bounds = [*(le_label(b) for b in spec.histogram.buckets), "+Inf"]
    mean = median * np.exp(sigma**2 / 2.0)
    for bound, share in zip(bounds, shares, strict=True):
        cum = np.cumsum(increments * share)
        labels = {**spec.labels, "le": bound}
        for ts, v, k in zip(t, cum, keep, strict=True):
            if k:
                yield Sample(f"{spec.metric}_bucket", labels, round_sample(float(v)), float(ts))
    for suffix, values in (("_count", np.cumsum(increments)), ("_sum", np.cumsum(increments * mean))):
        for ts, v, k in zip(t, values, keep, strict=True):
            if k:
                yield Sample(f"{spec.metric}{suffix}", spec.labels, round_sample(float(v)), float(ts))


def _draw(dist: Distribution, rows: int, rng: np.random.Generator) -> pa.Array:
    if dist.kind == "categorical":
        names = sorted(dist.categories)
        p = np.array([dist.categories[n] for n in names], dtype=float)
        values: list[object] = [names[i] for i in rng.choice(len(names), size=rows, p=p / p.sum())]
    else:
        if dist.kind == "normal":
            arr = rng.normal(dist.mean, dist.std, rows)
        elif dist.kind == "uniform":
            arr = rng.uniform(dist.low, dist.high, rows)
        elif dist.kind == "lognormal":
            arr = rng.lognormal(dist.mean, dist.std, rows)
        else:
            arr = rng.exponential(dist.scale, rows)
        values = [round(float(v), 6) for v in arr]
    mask = rng.random(rows) < dist.missing
    return pa.array([None if m else v for v, m in zip(values, mask, strict=True)])


def _log_lines(scenario: Scenario, seed: int, t_start: float, t_end: float) -> list[dict[str, object]]:
    lines: list[tuple[float, int, dict[str, object]]] = []
    for i, tpl in enumerate(scenario.logs):
        rng = _stream(seed, "logs", i)
        lo = t_start if tpl.start is None else max(t_start, t_end + tpl.start)
        hi = t_end if tpl.end is None else min(t_end, t_end + tpl.end)
        minutes = int((hi - lo) // 60)
        for minute in range(minutes):
            for _ in range(int(rng.poisson(tpl.rate_per_minute))):
                ts = lo + 60 * minute + float(rng.uniform(0, 60))
                values: dict[str, object] = {}
                for name, spec in tpl.fields.items():
                    if isinstance(spec, list):
                        values[name] = spec[int(rng.integers(len(spec)))]
                    else:
                        low, high = spec
                        x = float(rng.uniform(low, high))
                        whole = float(low).is_integer() and float(high).is_integer()
                        values[name] = int(x) if whole else round(x, 3)
                stamp = datetime.fromtimestamp(round(ts, 3), UTC).isoformat(timespec="milliseconds")
                record: dict[str, object] = {
                    "timestamp": stamp.replace("+00:00", "Z"),
                    "level": tpl.level,
                    "component": tpl.component,
                    "service": tpl.component,
                    "message": tpl.message.format(**values),
                    **{k: v for k, v in values.items() if k not in ("timestamp", "message", "level")},
                }
                lines.append((ts, i, record))
    lines.sort(key=lambda x: (x[0], x[1]))
    return [record for _, _, record in lines]


@dataclass(frozen=True)
class Generated:
    """What :func:`generate` wrote, and the absolute times a scorer or a server needs."""

    scenario: Scenario
    seed: int
    out_dir: Path
    t_start: float
    t_end: float
    samples: int
    onsets: dict[str, float] = field(default_factory=dict)
    drift: dict[str, tuple[Path, Path]] = field(default_factory=dict)
    truth_dir: Path | None = None
    #: The registry to load into MLflow (:func:`augur.evals.mlflow_server.populate`'s spec), if any.
    registry: Path | None = None

    @property
    def openmetrics(self) -> Path:
        """The OpenMetrics file to backfill."""
        return self.out_dir / "metrics.om"

    @property
    def logs(self) -> Path:
        """The JSON-lines log file."""
        return self.out_dir / "logs.jsonl"

    @property
    def rules(self) -> Path:
        """The Prometheus rule file."""
        return self.out_dir / "rules.yml"

    @property
    def catalog(self) -> Path:
        """The catalog file, drift paths absolute."""
        return self.out_dir / "catalog.yaml"

    @property
    def truth(self) -> Path:
        """The truth manifest (``scenario.json``), outside :attr:`out_dir`."""
        return (self.truth_dir or truth_dir_for(self.out_dir)) / "scenario.json"

    def files(self) -> list[Path]:
        """Every file written, sorted (for determinism checks)."""
        return sorted(p for p in self.out_dir.rglob("*") if p.is_file())


def _catalog_document(scenario: Scenario, out_dir: Path) -> dict[str, object]:
    doc = scenario.catalog.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
    for comp in doc["components"]:  # type: ignore[union-attr]
        for sig in comp.get("signals", []):
            drift = sig.get("drift")
            if not drift:
                continue
            for key in ("reference", "current"):
                if drift.get(key) and not Path(drift[key]).is_absolute():
                    drift[key] = str(out_dir / drift[key])
    return doc


def truth_dir_for(out_dir: Path) -> Path:
    """Where the truth of the data in ``out_dir`` goes by default: a sibling folder, not inside it."""
    return out_dir.parent / f"{out_dir.name}.truth"


def generate(scenario: Scenario, out_dir: Path, *, t_end: float, seed: int | None = None,
             truth_dir: Path | None = None) -> Generated:
    """Write the scenario's telemetry under ``out_dir``, its truth in ``truth_dir`` (module docstring)."""
    seed = scenario.seed if seed is None else seed
    out_dir.mkdir(parents=True, exist_ok=True)
    truth_at = truth_dir or truth_dir_for(out_dir)
    if truth_at.resolve().is_relative_to(out_dir.resolve()):
        raise ValueError(f"truth_dir {truth_at} is inside out_dir {out_dir}: the agent's tools could read it")
    model = SeriesModel(scenario, seed, t_end)

    samples: list[Sample] = []
    types: dict[str, str] = {}
    for spec in scenario.metrics:
        samples.extend(_metric_samples(model, spec))
        if spec.type == "counter":
            types[spec.metric] = "counter"
    count = write_openmetrics(samples, out_dir / "metrics.om", types)

    with (out_dir / "logs.jsonl").open("w") as out:
        for record in _log_lines(scenario, seed, model.t_start, t_end):
            out.write(json.dumps(record, sort_keys=True) + "\n")

    drift: dict[str, tuple[Path, Path]] = {}
    for ds in scenario.drift:
        folder = out_dir / "drift" / ds.component
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for which, dists in (("reference", ds.reference), ("current", ds.current)):
            rng = _stream(seed, "drift", ds.component, which)
            table = pa.table({name: _draw(dists[name], ds.rows, rng) for name in sorted(dists)})
            path = folder / f"{which}.parquet"
            pq.write_table(table, path, compression="zstd")
            paths.append(path)
        drift[ds.component] = (paths[0], paths[1])

    (out_dir / "rules.yml").write_text(yaml.safe_dump(scenario.rules, sort_keys=False))
    catalog_doc = _catalog_document(scenario, out_dir)
    (out_dir / "catalog.yaml").write_text(yaml.safe_dump(catalog_doc, sort_keys=False))
    registry = _registry_spec(scenario, t_end, out_dir / "registry.json")
    onsets = {f.id: t_end + f.start for f in scenario.faults}
    manifest = {
        "scenario": scenario.name,
        "seed": seed,
        "t_start": model.t_start,
        "t_end": t_end,
        "step_seconds": model.step,
        "onsets": onsets,
        "alert": scenario.alert,
        "truth": scenario.truth.model_dump(mode="json"),
    }
    truth_at.mkdir(parents=True, exist_ok=True)
    (truth_at / "scenario.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return Generated(scenario, seed, out_dir, model.t_start, t_end, count, onsets, drift, truth_at, registry)


def _registry_spec(scenario: Scenario, t_end: float, path: Path) -> Path | None:
    """The registry as the populate script reads it, deployment offsets made absolute (UTC)."""
    if scenario.registry is None:
        return None
    models = []
    for m in scenario.registry.models:
        versions = []
        for v in m.versions:
            doc = v.model_dump(mode="json", exclude_none=True, exclude={"deployed"})
            if v.deployed is not None:
                at = datetime.fromtimestamp(t_end + v.deployed, UTC).isoformat().replace("+00:00", "Z")
                doc["tags"] = {"deployed_at": at}
            versions.append(doc)
        models.append({"name": m.name, "versions": versions, "aliases": dict(m.aliases), "replace": True})
    path.write_text(json.dumps({"models": models}, indent=2, sort_keys=True) + "\n")
    return path
