"""The HTTP side of `ndtms.access`: reading the key from a request, 401 and 403 answers."""

# No `from __future__ import annotations` here: FastAPI reads these dependency annotations at
# runtime, and they name a closure's local (`check`) that a string annotation could not resolve.
import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import Counter

from ndtms.access import Credential, Credentials, digest
from ndtms.web.problems import problem_responses

log = logging.getLogger(__name__)

REFUSALS = Counter(
    "ndtms_http_refusals_total",
    "Requests refused for their key: 401 (reason missing, unknown, revoked) or 403 (reason role, provider)",
    ["status", "reason"],
)


def record_refusal(request: Request, status_code: int, reason: str, credential_id: str) -> None:
    """Log and count one refusal. The caller is told only 401 or 403; operators can trace why.
    `credential_id` names the credential, or for a key never issued the start of its digest:
    never the key."""
    REFUSALS.labels(str(status_code), reason).inc()
    log.warning(
        "refused %s %s: %d %s (credential %s)",
        request.method,
        request.url.path,
        status_code,
        reason,
        credential_id,
        extra={"refusal": reason, "http_status": status_code, "credential_id": credential_id},
    )


BEARER = HTTPBearer(auto_error=False, description="An API key issued with `ndtms credentials issue`.")
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="The same key, as a header.")

UNAUTHORISED: dict[int | str, dict[str, Any]] = problem_responses(
    s401="no API key, or one that is unknown or revoked",
    s403="the key does not have the role or provider this request needs",
)


def authenticated(store: Credentials) -> Callable[..., Credential]:
    def dependency(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
        header: Annotated[str | None, Depends(API_KEY_HEADER)],
    ) -> Credential:
        key = bearer.credentials if bearer is not None else header
        holder = store.holder_of(key) if key else None
        if holder is None or not holder.active:
            if not key:
                record_refusal(request, 401, "missing", "-")
            elif holder is None:
                record_refusal(request, 401, "unknown", f"digest {digest(key)[:12]}")
            else:
                record_refusal(request, 401, "revoked", holder.id)
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="a valid API key is required: send `Authorization: Bearer <key>` "
                "(operators issue keys with `ndtms credentials issue`)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        request.state.credential = holder  # who is asking, for the audit trail
        return holder

    return dependency


def operations_only(store: Credentials) -> Callable[..., Credential]:
    check = authenticated(store)

    def dependency(request: Request, credential: Annotated[Credential, Depends(check)]) -> Credential:
        if not credential.operations:
            record_refusal(request, 403, "role", credential.id)
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"credential {credential.id} does not have the operations role",
            )
        return credential

    return dependency
