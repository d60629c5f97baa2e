"""The metadata store's audit log."""

from __future__ import annotations

from typing import Protocol

from ..audit import AuditQuery, AuditRecord


class AuditLog(Protocol):
    """The append-only audit log: records are added, never changed or removed."""

    def append_audit(self, record: AuditRecord) -> bool:
        """Append ``record`` exactly as given (its ``id`` and ``at`` too). False, writing nothing,
        if a record with this id is already there (so that ``migrate`` can run again)."""

    def audit_records(self, query: AuditQuery) -> list[AuditRecord]:
        """The records matching every filter of ``query``, newest first: ``at`` descending, ties
        by ``id`` descending; only those after ``query.before`` in that order; at most
        ``query.limit``. ``model`` matches a record's model id or its name. Translated into the
        store's own query language, each filter served by an index."""
