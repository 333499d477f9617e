"""The allowed arrows between augur's packages and server/'s rooms (ARCHITECTURE.md), read from the code.

Every ``import`` and ``from ... import`` in the source — including the ones under
``if TYPE_CHECKING:`` and inside functions, since a deferred import is still a dependency — is read
with :mod:`ast`. A new import against the arrows below, or a new import circle between two modules,
fails here with the file, the line and the rule it breaks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "tools", "rules", "evals", "server")

#: Which top-level packages each may import (besides itself).
PACKAGE_ARROWS: dict[str, set[str]] = {
    "tools": set(),
    "agent": {"tools"},
    "rules": {"tools"},
    "evals": {"agent", "rules", "tools"},
    "server": {"agent", "rules", "tools", "evals"},
}
#: The only server rooms that may import evals (the `augur eval` and `augur demo` commands).
EVALS_BRIDGE = {"cli"}

#: server/'s rooms: a sub-package, or a top-level module. Each may import the rooms listed.
BASE = {"settings", "config_errors", "scopes", "errors", "validation"}
ROOM_ARROWS: dict[str, set[str]] = {
    **{name: BASE for name in BASE},
    "store": BASE,
    "toolbox": BASE,
    "catalogs": BASE | {"toolbox"},
    "metrics": BASE | {"store"},
    "intake": BASE | {"store", "metrics"},
    "jobs": BASE | {"store", "intake", "metrics", "toolbox", "catalogs"},
    "review": BASE | {"store"},
    "slack": BASE | {"store", "jobs", "review"},
    "state": BASE | {"store", "intake", "jobs", "slack", "metrics", "review"},
    "web": BASE | {"store", "intake", "jobs", "review", "slack", "state", "metrics", "toolbox", "catalogs"},
    "cli": BASE | {"store", "intake", "jobs", "review", "slack", "state", "metrics", "toolbox", "catalogs",
                   "web"},
}

#: Import circles that exist today and are being removed; this set may only shrink (it is empty now).
KNOWN_CIRCLES: set[frozenset[str]] = set()


@dataclass(frozen=True)
class Import:
    source: str  # importing module, e.g. augur.server.jobs.worker
    target: str  # imported module (the longest known prefix), e.g. augur.server.store.queue
    where: str  # path:line


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts and "versions" in parts:
                continue  # Alembic revision files: generated, import only sqlalchemy/alembic
            name = "augur." + ".".join(parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module ``name`` refers to: itself, or the package/module it is an attribute of."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports() -> Iterator[Import]:
    for name, path in MODULES.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                if target.startswith("augur.") and (resolved := _resolve(target)) and resolved != name:
                    rel = path.relative_to(ROOT)
                    yield Import(name, resolved, f"{rel}:{node.lineno}")


IMPORTS = list(_imports())


def _package(module: str) -> str:
    return module.split(".")[1]


def _room(module: str) -> str:
    return module.split(".")[2] if module.count(".") >= 2 else "__init__"


def test_the_source_tree_is_read() -> None:
    """The rules below see the real tree (a wrong root would make every rule pass vacuously)."""
    assert "augur.server.jobs.worker" in MODULES and "augur.tools.evidence" in MODULES
    assert any(i.source == "augur.server.web.app" and i.target.startswith("augur.server.web.")
               for i in IMPORTS)


def test_packages_depend_one_way() -> None:
    wrong = [
        f"{i.where}: {i.source} imports {i.target} ({_package(i.source)} may import only "
        f"{sorted(PACKAGE_ARROWS[_package(i.source)]) or 'nothing of ours'})"
        for i in IMPORTS
        if _package(i.target) not in {_package(i.source), *PACKAGE_ARROWS[_package(i.source)]}
    ]
    assert not wrong, "\n".join(wrong)


def test_only_the_cli_bridges_server_and_evals() -> None:
    wrong = [f"{i.where}: {i.source} imports {i.target} (only server/cli may import evals)"
             for i in IMPORTS
             if _package(i.source) == "server" and _package(i.target) == "evals"
             and _room(i.source) not in EVALS_BRIDGE]
    assert not wrong, "\n".join(wrong)


def test_server_rooms_depend_one_way() -> None:
    rooms = {_room(m) for m in MODULES if _package(m) == "server"} - {"__init__"}
    unruled = rooms ^ set(ROOM_ARROWS)
    assert not unruled, f"rooms without rules, or rules without a room (fix ROOM_ARROWS): {unruled}"
    wrong = []
    for i in IMPORTS:
        if _package(i.source) != "server" or _package(i.target) != "server":
            continue
        source, target = _room(i.source), _room(i.target)
        if source != target and target not in ROOM_ARROWS[source]:
            wrong.append(f"{i.where}: {i.source} imports {i.target} "
                         f"(server/{source} may import {sorted(ROOM_ARROWS[source])})")
    assert not wrong, "\n".join(wrong)


def _circles(imports: list[Import] = IMPORTS) -> list[frozenset[str]]:
    """Strongly connected components of two or more modules (Tarjan, iteratively)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for i in imports:
        graph[i.source].add(i.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(frozenset(component))
    return found


def test_no_new_import_circles() -> None:
    circles = _circles()
    new = [sorted(c) for c in circles if c not in KNOWN_CIRCLES]
    assert not new, f"import circles (break them; see ARCHITECTURE.md): {new}"


def test_known_circles_are_removed_from_the_list_once_broken() -> None:
    """KNOWN_CIRCLES only shrinks: an entry that no longer exists must go."""
    gone = [sorted(c) for c in KNOWN_CIRCLES if c not in set(_circles())]
    assert not gone, f"these circles are broken: remove them from KNOWN_CIRCLES: {gone}"


def test_a_circle_is_found() -> None:
    """The circle finder finds one (so an empty answer means no circles, not a broken finder)."""
    fake = Import("augur.tools.evidence", "augur.server.state", "x:1")
    assert any({"augur.tools.evidence", "augur.server.state"} <= c for c in _circles([*IMPORTS, fake]))
