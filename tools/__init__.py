"""Read-only telemetry tools: each takes typed arguments and returns evidence, never raises."""
