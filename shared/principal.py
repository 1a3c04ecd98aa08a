"""Who is calling: the gateway resolves the bearer token and passes the principal in headers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

SUBJECT_HEADER = "x-principal-subject"
ROLES_HEADER = "x-principal-roles"
# Headers a client must never be able to set: the gateway strips every header with these prefixes.
TRUSTED_PREFIXES = ("x-principal-", "x-internal-")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the token's subject and its roles."""

    subject: str
    roles: frozenset[str] = field(default_factory=frozenset)

    def headers(self) -> dict[str, str]:
        return {SUBJECT_HEADER: self.subject, ROLES_HEADER: ",".join(sorted(self.roles))}


def principal_from_request(request: Request) -> Principal | None:
    subject = request.headers.get(SUBJECT_HEADER)
    if not subject:
        return None
    roles = frozenset(r for r in request.headers.get(ROLES_HEADER, "").split(",") if r)
    return Principal(subject, roles)


CurrentPrincipal = Annotated[Principal | None, Depends(principal_from_request)]
