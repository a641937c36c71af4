"""Imports point down the layers: foundation, then services, then entry points.

- The foundation (`ndtms` but its entry points: the contract, the stream core, web, the local
  runtime, observability, the erasure ledger, the continuity rule) knows no service and no
  entry point.
- A service (`services.<name>`) knows the foundation, never another service, and no entry point.
- Entry points (`ndtms.cli`, the `/ops` and review pages' modules, the publishing client, the
  synthetic feeds, `ndtms status`) may use anything.

Every import counts, a function's deferred one too. The arrows that climb today are listed in
`CLIMBING`, each to be taken away by the layering issue (#28); a new one fails this test, and
so does a listed one that has gone (the list only shrinks).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENTRY_POINTS = (
    "ndtms.cli",
    "ndtms.dashboard",
    "ndtms.reviewing",
    "ndtms.publisher",
    "ndtms.synthetic",
    "ndtms.scenarios",
    "ndtms.status",
    "ndtms.status_view",
)
CLIMBING = {
    # The vendor client is reached through the package's root; it moves to its own distribution.
    ("ndtms", "ndtms.publisher"),
    # The journey service serves the /ops page and the review desk, which sit above it.
    ("services.journey.__main__", "ndtms.dashboard"),
    ("services.journey.__main__", "ndtms.reviewing"),
    ("services.journey.http", "ndtms.dashboard"),
    ("services.journey.review", "ndtms.reviewing"),
    # The linker and the validator share the cross-episode checks and the rule catalogue.
    ("services.linker.erasure", "services.validator.cross_episode"),
    ("services.linker.stream", "services.validator"),
    ("services.linker.stream", "services.validator.cross_episode"),
    ("services.validator.catalogue_doc", "services.linker"),
}


def module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> set[tuple[str, str]]:
    found = set()
    for path in [*ROOT.glob("ndtms/**/*.py"), *ROOT.glob("services/**/*.py")]:
        importer = module_of(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found |= {(importer, name) for name in names if name.split(".")[0] in ("ndtms", "services")}
    return found


def layer(module: str) -> tuple[int, str]:
    """(height, which service): foundation 0, a service 1, an entry point 2."""
    if module == "services" or module.startswith("services."):
        return 1, module.split(".")[1] if "." in module else ""
    if any(module == e or module.startswith(f"{e}.") for e in ENTRY_POINTS):
        return 2, ""
    return 0, ""


def climbs(importer: str, imported: str) -> bool:
    (below, service), (above, other) = layer(importer), layer(imported)
    return above > below or (below == above == 1 and service != other)


def test_no_import_climbs_a_layer_but_those_listed() -> None:
    climbing = {edge for edge in imports() if climbs(*edge)}
    assert not climbing - CLIMBING, f"imports that climb a layer: {sorted(climbing - CLIMBING)}"
    assert not CLIMBING - climbing, f"gone, so take them off the list: {sorted(CLIMBING - climbing)}"


def test_the_rule_sees_what_it_is_meant_to() -> None:
    assert climbs("ndtms.contract.episodes", "services.ingest.parsing")
    assert climbs("ndtms.stream.runner", "ndtms.cli.main")
    assert climbs("services.linker.matcher", "services.journey.store")
    assert climbs("services.journey.http", "ndtms.dashboard")
    assert not climbs("services.journey.http", "ndtms.contract.topics")
    assert not climbs("ndtms.cli.reports", "services.journey.continuity")
    assert not climbs("services.linker.matcher", "services.linker.proposals")
    # A command imports its work when it runs: those deferred imports are arrows too.
    assert ("ndtms.cli.publishing", "services.ingest.parsing") in imports()
