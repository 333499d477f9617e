"""How numbers read in reports."""

from __future__ import annotations

from augur.agent.numbers import fmt_z


def test_a_z_from_a_flat_baseline_is_not_printed_as_a_huge_number() -> None:
    # Real one-minute data: 0.0046 s for an hour, then 0.0145 s gave a robust z of 1.06e16.
    assert fmt_z(1.0587698574041338e16) == ">1000σ"
    assert fmt_z(-2.5e6) == "<−1000σ"
    assert fmt_z(float("inf")) == ">1000σ"
    # Ordinary values read as before.
    assert fmt_z(39.44) == "39.4σ"
    assert fmt_z(-18.2) == "−18.2σ"
    assert fmt_z(477.0) == "477σ"
    assert fmt_z(1000.0) == "1000σ"
    assert fmt_z(None) == "?σ"
