"""Every rule of the catalogue, with a passing and a failing case at its boundary."""

from __future__ import annotations

from typing import Any

import pytest

from ndtms.rules.catalogue import CATALOGUE, evaluate
from ndtms.rules.rule import PreviousRevision, RuleInput
from ndtms_contract.findings import Severity
from services.validator.acceptance import attributor_digests
from tests.builders import SECRET, community, secure, update


def codes(data: dict[str, Any], previous: PreviousRevision | None = None) -> set[str]:
    u = update(data)
    return {f.rule for f in evaluate(RuleInput(u, previous, attributor_digests(SECRET, u)))}


def test_the_valid_bases_have_no_findings() -> None:
    assert codes(community()) == set()
    assert codes(secure()) == set()


CASES = [
    # (rule, data that breaks it, data just inside the boundary)
    ("ATT001", community(client={"first_initial": "JO"}), community(client={"first_initial": "j"})),
    ("ATT001", community(client={"second_initial": "1"}), community(client={"second_initial": "Z"})),
    ("ATT002", community(client={"date_of_birth": "2024-04-02"}, referral_date="2024-03-05"), None),
    # 18th birthday on the referral day is adult; the day before is not
    (
        "ATT003",
        community(client={"date_of_birth": "2006-03-06"}),
        community(client={"date_of_birth": "2006-03-05"}),
    ),
    (
        "ATT004",
        community(client={"date_of_birth": "1914-03-05"}),
        community(client={"date_of_birth": "1914-03-06"}),
    ),
    (
        "ATT005",
        community(client={"local_authority": "E0900003"}),
        community(client={"local_authority": "X99999998"}),
    ),
    (
        "ATT005",
        community(client={"local_authority": "W06000001"}),
        community(client={"local_authority": "E10000016"}),
    ),
    ("ATT006", community(client={"consent": False}), None),
    ("DAT001", community(recorded_at="2024-03-07T23:59:00Z"), community(recorded_at="2024-03-08T00:00:00Z")),
    ("DAT002", community(triage_date="2024-03-04"), community(triage_date="2024-03-05")),
    (
        "INT001",
        community(
            interventions=[
                {"intervention_id": "I1", "type": "psychosocial", "start_date": "2024-03-05"},
                {"intervention_id": "I1", "type": "pharmacological", "start_date": "2024-03-06"},
            ]
        ),
        community(
            interventions=[
                {"intervention_id": "I1", "type": "psychosocial", "start_date": "2024-03-05"},
                {"intervention_id": "i1", "type": "pharmacological", "start_date": "2024-03-06"},
            ]
        ),
    ),
    (
        "DAT003",
        community(
            referral_date="2024-03-06",
            triage_date="2024-03-06",
            interventions=[{"intervention_id": "I1", "type": "psychosocial", "start_date": "2024-03-05"}],
        ),
        community(
            referral_date="2024-03-05",
            triage_date="2024-03-06",
            interventions=[{"intervention_id": "I1", "type": "psychosocial", "start_date": "2024-03-05"}],
        ),
    ),
    (
        "DAT004",
        community(
            interventions=[
                {
                    "intervention_id": "I1",
                    "type": "psychosocial",
                    "start_date": "2024-03-08",
                    "end_date": "2024-03-07",
                }
            ]
        ),
        community(
            interventions=[
                {
                    "intervention_id": "I1",
                    "type": "psychosocial",
                    "start_date": "2024-03-08",
                    "end_date": "2024-03-08",
                }
            ]
        ),
    ),
    (
        "DAT005",
        community(interventions=[], discharge_date="2024-03-05", discharge_reason="incomplete_dropped_out"),
        community(interventions=[], discharge_date="2024-03-06", discharge_reason="incomplete_dropped_out"),
    ),
    ("DAT006", secure(discharge_date="2023-11-03", custody={"prison_exit_date": "2023-11-03"}), None),
    (
        "DAT007",
        community(discharge_date="2024-03-20"),
        community(discharge_date="2024-03-20", discharge_reason="incomplete_dropped_out"),
    ),
    ("DAT007", community(discharge_reason="incomplete_dropped_out"), None),
    ("SEC001", secure(custody=None, discharge_reason="incomplete_dropped_out"), None),
    (
        "SEC002",
        secure(custody={"reception_date": "2024-03-02"}),
        secure(
            custody={"reception_date": "2024-03-01"},
            referral_date="2024-03-01",
            triage_date="2024-03-01",
            interventions=[],
        ),
    ),
    ("SEC003", secure(custody={"exit_reason": "other"}), None),
    ("SEC003", secure(custody={"prison_exit_date": None}), None),
    ("SEC003", secure(custody={"exit_destination_la": None}), None),
    ("SEC004", secure(custody={"exit_destination_la": "E1000001"}), None),
    (
        "SEC005",
        secure(custody={"referral_on_release": "recovery_support_only"}),
        secure(custody={"referral_on_release": "structured_treatment_and_recovery_support"}),
    ),
    (
        "SEC006",
        secure(discharge_reason="treatment_completed_drug_free"),
        secure(
            discharge_reason="treatment_completed_drug_free",
            custody={"referral_on_release": "no_onward_referral"},
        ),
    ),
    (
        "CMT001",
        community(discharge_date="2024-03-07", discharge_reason="incomplete_dropped_out"),
        community(discharge_date="2024-03-08", discharge_reason="incomplete_dropped_out"),
    ),
    (
        "CMT002",
        community(discharge_date="2024-03-20", discharge_reason="incomplete_released_from_court"),
        community(discharge_date="2024-03-20", discharge_reason="incomplete_client_died"),
    ),
]


@pytest.mark.parametrize(("rule", "broken", "fine"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_boundaries(rule: str, broken: dict[str, Any], fine: dict[str, Any] | None) -> None:
    assert rule in codes(broken)
    if fine is not None:
        assert rule not in codes(fine)


def previous_of(data: dict[str, Any]) -> PreviousRevision:
    u = update(data)
    return PreviousRevision(u.revision, u.setting, attributor_digests(SECRET, u))


def test_setting_change_between_revisions_is_a_warning() -> None:
    before = previous_of(community())
    assert "CON001" in codes(secure(provider_id="CMTY001", episode_id="CE1", revision=2), before)
    assert "CON001" not in codes(community(revision=2), before)


@pytest.mark.parametrize("attributor", ["first_initial", "second_initial", "date_of_birth", "sex"])
def test_attributor_change_names_the_attributor_but_not_its_value(attributor: str) -> None:
    changed = {"first_initial": "R", "second_initial": "Q", "date_of_birth": "1985-03-03", "sex": "female"}
    u = update(community(revision=2, client={attributor: changed[attributor]}))
    findings = evaluate(RuleInput(u, previous_of(community()), attributor_digests(SECRET, u)))
    [finding] = [f for f in findings if f.rule == "CON002"]
    assert finding.field == f"client.{attributor}"
    assert finding.severity is Severity.WARNING
    assert changed[attributor] not in finding.message and "breaks linkage" in finding.message


def test_a_withdrawal_is_not_checked() -> None:
    assert (
        evaluate(RuleInput(update({"provider_id": "P1", "episode_id": "E1", "revision": 3, "deleted": True})))
        == ()
    )


def test_every_finding_says_where_and_what() -> None:
    broken = community(client={"first_initial": "JO", "local_authority": "nowhere"}, triage_date="2024-03-01")
    u = update(broken)
    for finding in evaluate(RuleInput(u)):
        assert finding.field and len(finding.message) > 20


def test_rule_codes_are_unique_and_stable_in_shape() -> None:
    codes_ = [rule.code for rule in CATALOGUE]
    assert len(codes_) == len(set(codes_))
    assert all(len(c) == 6 and c[:3].isalpha() and c[3:].isdigit() for c in codes_)
