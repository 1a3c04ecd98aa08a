"""Who is calling: the gateway resolves the bearer token and passes the principal in headers.

The headers carry the subject and roles percent-encoded (UTF-8, RFC 3986), so any subject (`josé`,
one with a comma or a control character) crosses as ASCII and reads back exactly as it was.

Roles are ranked: an admin may do all a staff member may, and staff all a customer may.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote, unquote

SUBJECT_HEADER = "x-principal-subject"
ROLES_HEADER = "x-principal-roles"
# Headers a client must never be able to set: the gateway strips every header with these prefixes.
TRUSTED_PREFIXES = ("x-principal-", "x-internal-")

ROLE_RANK = {"customer": 1, "staff": 2, "admin": 3}


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the token's subject and its roles."""

    subject: str
    roles: frozenset[str] = field(default_factory=frozenset)

    def headers(self) -> dict[str, str]:
        roles = ",".join(quote(role, safe="") for role in sorted(self.roles))
        return {SUBJECT_HEADER: quote(self.subject, safe=""), ROLES_HEADER: roles}

    def has_role(self, role: str) -> bool:
        """Whether one of the caller's roles is `role` or ranks above it."""
        return max((ROLE_RANK.get(r, 0) for r in self.roles), default=0) >= ROLE_RANK[role]

    @property
    def sees_only_own(self) -> bool:
        """A customer (and nothing more) sees only what is its own (`owns`)."""
        return not self.has_role("staff")

    def owns(self, customer_id: str) -> bool:
        return not self.sees_only_own or customer_id == self.subject

    @classmethod
    def from_headers(cls, subject: str | None, roles: str | None) -> Principal | None:
        if not subject:
            return None
        return cls(unquote(subject), frozenset(unquote(r) for r in (roles or "").split(",") if r))
