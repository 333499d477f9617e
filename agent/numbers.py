"""Numbers people read in reports: one formatter, and the labels signals are shown with.

Every number a report, a chain table, a postmortem, a Slack message or a chat answer states about
a signal is computed once (by :mod:`augur.agent.findings`, from one evidence record) and written
by :func:`fmt` (values), :func:`fmt_z` (robust z) or :func:`augur.agent.correlate.describe_change`
(a change: ``PSI 0.462``, ``−7.2 pts``, ``×3.6``, ``−33 %``), so the same fact reads the same
everywhere and :mod:`augur.agent.grounding` finds it, at its written precision, in the evidence it
came from.
"""

from __future__ import annotations

import math

__all__ = ["MINUS", "fmt", "fmt_signed", "fmt_z", "signal_label"]

#: The minus sign reports use (grounding reads it and ``-`` alike).
MINUS = "−"


def fmt(value: float | None, *, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits (``0.0386``, ``0.462``, ``15.7``, ``477``, ``29979``).

    Values of 100 and more are written as integers (never ``3e+04``): an integer is read at its
    face value, so it must be the value rounded to units, not to three digits.
    """
    if value is None or not math.isfinite(value):
        return "n/a" if value is None else str(value)
    if value == 0:
        return "0"
    if abs(value) >= 10 ** (digits - 1):
        text = f"{value:.0f}"
    else:
        text = f"{value:#.{digits}g}".rstrip(".")  # "#": 0.800 keeps its written precision
        if "e" in text:  # tiny values: keep them readable and exact to their written digits
            decimals = digits - 1 - math.floor(math.log10(abs(value)))
            text = f"{value:.{decimals}f}"
    return text.replace("-", MINUS)


def fmt_signed(value: float, *, decimals: int = 0) -> str:
    """``value`` rounded to ``decimals`` with an explicit sign: ``+12``, ``−7.2``."""
    rounded = round(value, decimals)
    if rounded == 0:
        rounded = 0.0  # no "−0"
    text = f"{rounded:+.{decimals}f}"
    return text.replace("-", MINUS)


#: Past this, a robust z says the baseline hardly varied rather than how far the series moved.
Z_SHOWN_MAX = 1000.0


def fmt_z(z: float | None) -> str:
    """A robust z as reports show it: ``39.4σ``, ``−18.2σ``, ``477σ``, ``>1000σ``.

    A quantised or idle baseline has a spread near 0, so real one-minute data gives z of 10^6 or
    10^16 for an ordinary change; such numbers are shown as ``>1000σ`` (``<−1000σ``), not printed.
    """
    if z is None:
        return "?σ"
    if abs(z) > Z_SHOWN_MAX:  # inf included
        return f"{'<' + MINUS if z < 0 else '>'}{Z_SHOWN_MAX:.0f}σ"
    return f"{fmt(z)}σ"


def signal_label(signal: str) -> str:
    """How a ``component.signal`` name is shown: ``ctr.ctr`` reads ``ctr`` (no repeated name)."""
    component, dot, name = signal.partition(".")
    if dot and component == name:
        return component
    return signal
