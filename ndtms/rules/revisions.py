"""Consistency between revisions (CON): they only warn, as they look at what came before."""

from __future__ import annotations

from collections.abc import Iterator

from ndtms.rules.rule import Rule, RuleInput, W


def _setting_unchanged(subject: RuleInput) -> Iterator[tuple[str, str]]:
    previous, u = subject.previous, subject.update
    if previous and previous.setting and u.setting and previous.setting is not u.setting:
        yield (
            "setting",
            f"changed from {previous.setting.value} to {u.setting.value} since revision "
            f"{previous.revision}: an episode belongs to one setting; open a new episode instead",
        )


def _attributors_unchanged(subject: RuleInput) -> Iterator[tuple[str, str]]:
    previous = subject.previous
    if previous is None or not previous.attributor_digests or not subject.attributor_digests:
        return
    for name, digest in subject.attributor_digests.items():
        before = previous.attributor_digests.get(name)
        if before is not None and before != digest:
            consequence = (
                "the local authority is not part of the person key, but check it"
                if name == "local_authority"
                else "this breaks linkage: the person now looks like someone else to journeys "
                "and continuity of care"
            )
            yield f"client.{name}", f"changed since revision {previous.revision}; {consequence}"


RULES: tuple[Rule, ...] = (
    Rule("CON001", W, ("setting",), "An episode keeps its setting between revisions.", _setting_unchanged),
    Rule(
        "CON002",
        W,
        ("client.*",),
        "An episode keeps its attributors between revisions.",
        _attributors_unchanged,
    ),
)
