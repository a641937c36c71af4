"""Imports point down the layers: foundation, then services, then entry points.

- The foundation (the contract `ndtms_contract` and the publishing client `ndtms_client`,
  which are the `ndtms-client` distribution; `ndtms`: the stream core, web, the local
  runtime, observability, the rules, the erasure ledger, the continuity rule) knows no service
  and no entry point.
- A service (`services.<name>`) knows the foundation, never another service, and no entry point.
- Entry points (`ndtms_apps`: the command, the `/ops` page, the review desk, the rule
  document, made-up feeds; and each service's `__main__` and `openapi`, which compose the
  service with them) may use anything.

Every import counts, a function's deferred one too. An arrow that climbs fails this test
unless `CLIMBING` lists it with its reason; a listed one that has gone fails it too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENT_SOURCE = ROOT / "clients" / "python" / "src"
ENTRY_POINTS = ("ndtms_apps",)  # the command, the pages, the made-up feeds
OURS = ("ndtms", "services", "ndtms_apps", "ndtms_contract", "ndtms_client")
# Arrows that climb and are allowed for now, each with why: none are left (#28 took away the
# last nine). Add one only with its reason, and a plan to take it away.
CLIMBING: set[tuple[str, str]] = set()


def module_of(path: Path) -> str:
    base = CLIENT_SOURCE if path.is_relative_to(CLIENT_SOURCE) else ROOT
    parts = list(path.relative_to(base).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> set[tuple[str, str]]:
    found = set()
    for path in [
        *ROOT.glob("ndtms/**/*.py"),
        *ROOT.glob("services/**/*.py"),
        *ROOT.glob("ndtms_apps/**/*.py"),
        *CLIENT_SOURCE.glob("ndtms_*/**/*.py"),
    ]:
        importer = module_of(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found |= {(importer, name) for name in names if name.split(".")[0] in OURS}
    return found


def layer(module: str) -> tuple[int, str]:
    """(height, which service): foundation 0, a service 1, an entry point 2. A service's
    `__main__` (its process) and `openapi` (its document) compose it with what sits above it."""
    if module.endswith((".__main__", ".openapi")):
        return 2, ""
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
    assert climbs("ndtms_contract.episodes", "services.ingest.http")
    assert climbs("ndtms_client.publisher", "ndtms_apps.cli.publishing")
    assert not climbs("services.ingest.http", "ndtms_client.raw_topic")
    assert climbs("ndtms.stream.runner", "ndtms_apps.cli.main")
    assert climbs("services.linker.matcher", "services.journey.store")
    assert climbs("services.journey.http", "ndtms_apps.pages.dashboard")
    assert not climbs("services.journey.http", "ndtms_contract.topics")
    assert not climbs("ndtms_apps.cli.reports", "services.journey.continuity")
    assert not climbs("services.linker.matcher", "services.linker.proposals")
    assert not climbs("services.journey.__main__", "ndtms_apps.pages.review.http")
    assert climbs("services.journey.http", "ndtms_apps.pages.review.http")
    assert climbs("services.linker.stream", "services.validator.acceptance")
    # A command imports its work when it runs: those deferred imports are arrows too.
    assert ("ndtms_apps.cli.publishing", "ndtms_contract.parsing") in imports()
    assert ("ndtms_client.publisher", "ndtms_client.raw_topic") in imports()
