"""A discovered catalog kept in the data directory for a while, keyed on where it came from.

Discovery costs a few requests per 40 metric families; an investigation should not pay it each
time. :class:`CatalogCache` stores the YAML (``catalog-<key>.yaml``, the same text ``augur catalog
discover`` writes, so a person can read what the agent used) and a sidecar ``.json`` with the
Prometheus URL, the edge sources, the provenance line and when it was discovered. The key hashes
the URL and the edge sources, so another Prometheus or another edge table never reuses it; past
its TTL, or when the file no longer parses, it is discovered again. Writes go through a temporary
file and ``os.replace`` so concurrent workers never read half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from augur.agent.catalog import Catalog, CatalogError, parse_catalog

__all__ = ["CachedCatalog", "CatalogCache"]


@dataclass(frozen=True)
class CachedCatalog:
    """A catalog read from the cache, with its provenance and when it was discovered (Unix s)."""

    catalog: Catalog
    provenance: str
    discovered_at: float
    path: Path


class CatalogCache:
    """Discovered catalogs under ``directory`` (see the module docstring)."""

    def __init__(self, directory: Path, ttl_s: float) -> None:
        self.directory = directory
        self.ttl_s = ttl_s

    def path_for(self, url: str, sources: Sequence[str]) -> Path:
        """Where the catalog discovered from ``url`` with edge ``sources`` lives."""
        key = hashlib.sha256("\n".join([url.rstrip("/"), *sorted(sources)]).encode()).hexdigest()[:16]
        return self.directory / f"catalog-{key}.yaml"

    def get(self, url: str, sources: Sequence[str], *, now: float) -> CachedCatalog | None:
        """The cached catalog if it is there, from the same sources, younger than the TTL, valid."""
        path = self.path_for(url, sources)
        try:
            meta = json.loads(path.with_suffix(".json").read_text())
            text = path.read_text()
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("url") != url.rstrip("/"):
            return None
        discovered_at = float(meta.get("discovered_at") or 0.0)
        if now - discovered_at > self.ttl_s or now < discovered_at:
            return None
        try:
            catalog = parse_catalog(text, str(path))
        except CatalogError:
            return None
        return CachedCatalog(catalog, str(meta.get("provenance") or ""), discovered_at, path)

    def put(self, url: str, sources: Sequence[str], yaml_text: str, provenance: str, *, now: float) -> Path:
        """Store a discovered catalog's YAML and its sidecar; returns the YAML's path."""
        path = self.path_for(url, sources)
        self.directory.mkdir(parents=True, exist_ok=True)
        meta = {"url": url.rstrip("/"), "sources": sorted(sources), "provenance": provenance,
                "discovered_at": now}
        _write_atomic(path, yaml_text)
        _write_atomic(path.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")
        return path


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
