"""`augur probe`: serve this node's GPU readings at ``GET /v1/probe/gpu`` for the central agent.

Run it on every GPU node and list the nodes in ``AUGUR_GPU_PROBE_URLS`` where augur runs. It
binds 127.0.0.1 unless ``--host`` says otherwise: the readings (process ids, memory) are for
augur, so expose the port only on the cluster network.
"""

from __future__ import annotations

import typer

__all__ = ["register"]


def probe(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 for the cluster network)."),
    port: int = typer.Option(9402, help="TCP port to listen on."),
    log_level: str = typer.Option("warning", help="debug, info, warning or error."),
) -> None:
    """Serve GET /v1/probe/gpu: this node's GPUs read live through NVML (503 with the reason if none)."""
    import uvicorn

    from augur.server.web.probe import create_probe_app

    uvicorn.run(create_probe_app(), host=host, port=port, log_level=log_level)


def register(app: typer.Typer) -> None:
    """Add ``augur probe`` to the CLI."""
    app.command("probe")(probe)
