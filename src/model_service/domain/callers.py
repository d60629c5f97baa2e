"""Who calls: the actor a change is recorded under, what the caller may do, and where it comes from.

Scopes: ``read`` (every GET/HEAD), ``write`` (register, update, upload, delete, aliases; implies
``read``), ``admin`` (keys and the audit log; implies ``write`` and ``read``). A key may carry a
name prefix (a team's namespace): its writes are then limited to names that start with it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import Forbidden, Invalid


class Scope(enum.StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    @classmethod
    def parse(cls, value: str) -> Scope:
        try:
            return cls(value)
        except ValueError:
            raise Invalid(f"'{str(value)[:40]}' is not a scope: use read, write or admin", code="invalid_scope",
                          details={"scope": str(value)[:40], "allowed": [s.value for s in cls]}) from None


_IMPLIED = {
    Scope.READ: frozenset({Scope.READ}),
    Scope.WRITE: frozenset({Scope.WRITE, Scope.READ}),
    Scope.ADMIN: frozenset({Scope.ADMIN, Scope.WRITE, Scope.READ}),
}
ALL_SCOPES = frozenset(Scope)


def granted(scopes: Iterable[Scope]) -> frozenset[Scope]:
    """The scopes ``scopes`` give, implied ones included."""
    return frozenset().union(*(_IMPLIED[Scope(scope)] for scope in scopes))


@dataclass(frozen=True, slots=True)
class Caller:
    """Who acts and what it may do: the ``actor`` recorded in history and the audit log, the key
    it presented (``key_id``; None without authentication), that key's scopes and name prefix,
    and, inside a request, the client's address and the request's id (for the audit log).

    ``authenticated`` is False when authentication is off (everything allowed, the actor as the
    client says) and for anonymous reads; command-line tools act as a caller of their own.
    """

    actor: str
    key_id: str | None = None
    scopes: frozenset[Scope] = ALL_SCOPES
    name_prefix: str | None = None
    authenticated: bool = False
    client_ip: str | None = None
    request_id: str | None = None

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes

    def require(self, scope: Scope) -> None:
        if not self.allows(scope):
            raise Forbidden(f"This key lacks the '{scope.value}' scope", code="forbidden",
                            details={"required_scope": scope.value, "scopes": sorted(s.value for s in self.scopes)})

    def may_write(self, name: str | None) -> bool:
        return self.name_prefix is None or (name is not None and name.startswith(self.name_prefix))

    def check_name(self, name: str | None) -> None:
        """:class:`Forbidden` if this caller may not write to ``name`` (None: a generated name)."""
        if self.may_write(name):
            return
        if name is None:
            raise Forbidden(f"This key may only write names starting with '{self.name_prefix}': give a name",
                            code="forbidden_name", details={"name_prefix": self.name_prefix})
        raise Forbidden(f"This key may only write names starting with '{self.name_prefix}', not '{name}'",
                        code="forbidden_name", details={"name": name, "name_prefix": self.name_prefix})

    def claim_created_by(self, created_by: str | None) -> None:
        """With authentication, a version's ``created_by`` is the key's owner: naming anyone else is refused."""
        if self.authenticated and created_by is not None and created_by.strip() != self.actor:
            raise Forbidden(f"created_by is the key's owner ('{self.actor}') when authentication is on; "
                            "leave it out", code="forbidden_created_by",
                            details={"created_by": created_by[:256], "actor": self.actor})
