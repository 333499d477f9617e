"""Charts for postmortems: the chain's key series, one panel each, with their onsets marked.

Drawn with matplotlib's object API on an Agg canvas (no display, no global backend state), saved
as PNG and SVG, and described in a JSON file beside them. The description is read back from the
drawn axes — each panel's plotted line and its vertical onset markers — so a test (or a reader)
can check what the image shows without looking at pixels.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import matplotlib.dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["ChartData", "PanelData", "SeriesData", "chain_chart"]


@dataclass(frozen=True)
class SeriesData:
    """One series to draw: a chain link's signal over the incident, and its onset."""

    signal: str
    times: list[float]
    values: list[float]
    onset: float | None = None
    layer: str | None = None
    unit: str | None = None
    query: str | None = None
    evidence_id: str | None = None


@dataclass
class PanelData:
    """What one panel shows, read back from its axes."""

    signal: str
    points: int
    first_time: float | None
    last_time: float | None
    min_value: float | None
    max_value: float | None
    onsets: list[float] = field(default_factory=list)


@dataclass
class ChartData:
    """The files written and what they show."""

    png: Path
    svg: Path
    meta: Path
    panels: list[PanelData]
    alert_at: float | None
    resolved_at: float | None


def _unix(num: float) -> float:
    return float(mdates.num2date(num).timestamp())  # type: ignore[no-untyped-call]


def _dates(times: list[float]) -> list[datetime]:
    return [datetime.fromtimestamp(t, UTC) for t in times]


def chain_chart(
    series: list[SeriesData],
    out_dir: Path,
    *,
    name: str = "chain",
    alert_at: float | None = None,
    resolved_at: float | None = None,
    title: str = "",
) -> ChartData:
    """Draw ``series`` (cause first) as stacked panels; write ``name``.png/.svg/.json into ``out_dir``."""
    if not series:
        raise ValueError("nothing to draw: give at least one series")
    out_dir.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(9, 2.1 * len(series) + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(series), 1, sharex=True, squeeze=False)[:, 0]
    for ax, s in zip(axes, series, strict=True):
        ax.plot(_dates(s.times), s.values, color="#1f5fa8", linewidth=1.2, label=s.signal)
        if s.onset is not None:
            ax.axvline(
                datetime.fromtimestamp(s.onset, UTC),
                color="#c0392b",
                linestyle="--",
                linewidth=1.4,
                label=f"onset {datetime.fromtimestamp(s.onset, UTC):%H:%M} UTC",
            )
        if alert_at is not None:
            end = resolved_at if resolved_at is not None else (s.times[-1] if s.times else alert_at)
            ax.axvspan(
                datetime.fromtimestamp(alert_at, UTC),
                datetime.fromtimestamp(end, UTC),
                color="#f39c12",
                alpha=0.12,
                label="alerting",
            )
        unit = f" ({s.unit})" if s.unit else ""
        ax.set_ylabel(f"{s.signal.split('.')[-1]}{unit}", fontsize=8)
        ax.set_title(s.signal + (f" — {s.layer}" if s.layer else ""), fontsize=9, loc="left")
        ax.legend(loc="best", fontsize=7, frameon=False)
        ax.grid(alpha=0.3)
    axes[-1].xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=UTC))  # type: ignore[no-untyped-call]
    axes[-1].set_xlabel("time (UTC)")
    if title:
        fig.suptitle(title, fontsize=10)
    panels = []
    for ax, s in zip(axes, series, strict=True):
        line, *vlines = ax.get_lines()
        xs = [_unix(float(x)) for x in line.get_xdata(orig=False)]
        ys = [float(y) for y in line.get_ydata()]
        onsets = [_unix(float(v.get_xdata(orig=False)[0])) for v in vlines]
        panels.append(
            PanelData(
                signal=s.signal,
                points=len(xs),
                first_time=xs[0] if xs else None,
                last_time=xs[-1] if xs else None,
                min_value=min(ys) if ys else None,
                max_value=max(ys) if ys else None,
                onsets=onsets,
            )
        )
    png, svg, meta = (out_dir / f"{name}.{ext}" for ext in ("png", "svg", "json"))
    fig.savefig(png, dpi=110)
    fig.savefig(svg)
    data = ChartData(png=png, svg=svg, meta=meta, panels=panels, alert_at=alert_at, resolved_at=resolved_at)
    meta.write_text(
        json.dumps(
            {
                "png": png.name,
                "svg": svg.name,
                "alert_at": alert_at,
                "resolved_at": resolved_at,
                "panels": [asdict(p) for p in panels],
            },
            indent=2,
        )
    )
    return data
