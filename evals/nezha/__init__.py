"""The Nezha Online Boutique benchmark: 56 real injected faults replayed through real Prometheus.

:mod:`~augur.evals.nezha.dataset` finds and unpacks the archive, :mod:`~augur.evals.nezha.telemetry`
turns a day into exporter-named OpenMetrics, a catalog and frontend SLI rules,
:mod:`~augur.evals.nezha.alerting` finds when the rules fire, :mod:`~augur.evals.nezha.scoring`
(with the baseline, the only reader of the truth) pairs faults with alerts and computes AC@k, and
:mod:`~augur.evals.nezha.bench` runs it all (``augur eval --dataset nezha-ob``).
"""
