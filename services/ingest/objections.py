"""A provider's client objects: the two ways in at ingest, one erasure on the ledger.

`POST /v1/objections` names the client by attributors; an extract row whose consent turned
from Y to N is the same objection. Either way the ledger gets the client key (never the
attributors), the provider code as who asked, and the audit trail the credential that did.
"""

from __future__ import annotations

from ndtms.erasing import ErasureLedger
from ndtms_contract.episodes import EpisodeUpdate
from ndtms_contract.erasures import ErasureOrigin, ErasureRecorded, Objection
from services.ingest.extract_runs import Objector


def record_objection(
    erasures: ErasureLedger, objection: Objection, actor: str
) -> tuple[ErasureRecorded, int]:
    c = objection.client
    key = erasures.key_of(c.first_initial, c.second_initial, c.date_of_birth, c.sex)
    recorded = objection.recorded_at.isoformat()
    reason = f"the client objected to provider {objection.provider_id} (recorded {recorded})"
    return erasures.record(key, objection.provider_id, ErasureOrigin.PROVIDER_OBJECTION, reason, actor)


def extract_objector(erasures: ErasureLedger, provider: str, actor: str) -> Objector:
    def objector(update: EpisodeUpdate) -> None:
        c = update.client
        assert c is not None  # only a row with a client can withdraw consent
        key = erasures.key_of(c.first_initial, c.second_initial, c.date_of_birth, c.sex)
        reason = f"consent withdrawn in provider {provider}'s extract (episode {update.episode_id})"
        erasures.record(key, provider, ErasureOrigin.EXTRACT_CONSENT_WITHDRAWN, reason, actor)

    return objector
