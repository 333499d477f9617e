"""Incident scenarios with ground truth, the telemetry generator, the scorer and the benchmarks."""
