"""``MetadataStore`` on SQLAlchemy Core: SQLite and PostgreSQL through one code path.

One mixin per concern of the port, each in its own module: ``records.py`` (versions and their
events), ``figures.py``, ``aliases.py``, ``keys.py``, ``audit.py``, ``maintenance.py`` and
``scans.py`` (stored verdicts, re-scanned), on the plumbing of ``base.py`` (connections,
transactions, locks, the driver's exceptions).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import ArgumentError

from ...domain.errors import Invalid
from .aliases import SqlAliases
from .audit import SqlAuditLog
from .engine import make_engine
from .figures import SqlFigures
from .keys import SqlKeys
from .maintenance import SqlMaintenance
from .records import SqlRecords
from .scans import SqlScans


class SqlMetadataStore(SqlRecords, SqlFigures, SqlAliases, SqlKeys, SqlAuditLog, SqlMaintenance, SqlScans):
    @classmethod
    def from_url(cls, url: str, **engine_options: Any) -> SqlMetadataStore:
        """A store on ``url``; :class:`Invalid` (``invalid_setting``) for a URL no installed driver takes."""
        try:
            return cls(make_engine(url, **engine_options))
        except (ArgumentError, ImportError) as exc:
            raise Invalid(f"Cannot use the database URL {url.split('://', 1)[0]}://…: {exc}",
                          code="invalid_setting", details={"setting": "DATABASE_URL"}) from exc
