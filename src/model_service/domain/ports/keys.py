"""The metadata store's API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ..audit import AuditHook
from ..keys import ApiKey


class KeyStore(Protocol):
    """API keys, by key id. A store holds a key's SHA-256 (``secret_hash``), never the key itself.
    Times are stored to the millisecond (the domain truncates them before they get here)."""

    def add_key(self, key: ApiKey, audit: AuditHook | None = None) -> None:
        """Store a key exactly as given (a revoked or expired one too: ``migrate`` copies them).
        :class:`Conflict` (code ``key_exists``) if a key with this id exists; nothing changes."""

    def get_key(self, key_id: str) -> ApiKey:
        """The key with this id; :class:`NotFound` (code ``key_not_found``) if none."""

    def list_keys(self) -> list[ApiKey]:
        """Every key, revoked and expired ones included, oldest first (ties: by key id)."""

    def revoke_key(self, key_id: str, actor: str, at: datetime, audit: AuditHook | None = None) -> ApiKey:
        """Mark the key revoked by ``actor`` at ``at`` and return it, atomically. A key already
        revoked keeps its first revocation (returned as it is). :class:`NotFound` if none."""
