"""The HTTP side of `ndtms.access`: reading the key from a request, 401 and 403 answers."""

# No `from __future__ import annotations` here: FastAPI reads these dependency annotations at
# runtime, and they name a closure's local (`check`) that a string annotation could not resolve.
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ndtms.access import Credential, CredentialStore
from ndtms.web.problems import problem_responses

BEARER = HTTPBearer(auto_error=False, description="An API key issued with `ndtms credentials issue`.")
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="The same key, as a header.")

UNAUTHORISED: dict[int | str, dict[str, Any]] = problem_responses(
    s401="no API key, or one that is unknown or revoked",
    s403="the key does not have the role or provider this request needs",
)


def authenticated(store: CredentialStore) -> Callable[..., Credential]:
    def dependency(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
        header: Annotated[str | None, Depends(API_KEY_HEADER)],
    ) -> Credential:
        key = bearer.credentials if bearer is not None else header
        credential = store.authenticate(key) if key else None
        if credential is None:
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="a valid API key is required: send `Authorization: Bearer <key>` "
                "(operators issue keys with `ndtms credentials issue`)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        request.state.credential = credential  # who is asking, for the audit trail
        return credential

    return dependency


def operations_only(store: CredentialStore) -> Callable[..., Credential]:
    check = authenticated(store)

    def dependency(credential: Annotated[Credential, Depends(check)]) -> Credential:
        if not credential.operations:
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"credential {credential.id} does not have the operations role",
            )
        return credential

    return dependency
