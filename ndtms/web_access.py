"""The HTTP side of `ndtms.access`: reading the key from a request, 401 and 403 answers."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import HTTPException, Request, status

from ndtms.access import Credential, CredentialStore

SCHEME = "Bearer"


def presented_key(request: Request) -> str | None:
    """`Authorization: Bearer KEY`, or `X-API-Key: KEY`."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, key = header.partition(" ")
        return key.strip() if scheme.lower() == "bearer" and key.strip() else None
    return request.headers.get("x-api-key") or None


def authenticated(store: CredentialStore) -> Callable[[Request], Credential]:
    def dependency(request: Request) -> Credential:
        key = presented_key(request)
        credential = store.authenticate(key) if key else None
        if credential is None:
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="a valid API key is required: send `Authorization: Bearer <key>` "
                "(operators issue keys with `ndtms credentials issue`)",
                headers={"WWW-Authenticate": SCHEME},
            )
        return credential

    return dependency


def operations_only(store: CredentialStore) -> Callable[[Request], Credential]:
    check = authenticated(store)

    def dependency(request: Request) -> Credential:
        credential = check(request)
        if not credential.operations:
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"credential {credential.id} does not have the operations role",
            )
        return credential

    return dependency
