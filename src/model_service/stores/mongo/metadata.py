"""``MetadataStore`` on MongoDB (pymongo 4): the seed's database, made safe for many replicas.

One mixin per concern of the port, each in its own module: ``records.py`` (versions and their
events; deletions in ``deletion.py``), ``figures.py``, ``aliases.py``, ``keys.py``, ``audit.py``,
``maintenance.py`` and ``scans.py`` (stored verdicts, re-scanned), on the plumbing of ``base.py``
(which also states how every guarantee is kept without multi-document transactions). Collections
and indexes: ``schema.py``; documents: ``documents.py``; the filter language: ``query.py``; the
driver's exceptions: ``errors.py``.
"""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient
from pymongo.errors import ConfigurationError, InvalidURI

from ...domain.errors import Invalid
from .aliases import MongoAliases
from .audit import MongoAuditLog
from .base import SWEEP_SECONDS
from .documents import Document
from .figures import MongoFigures
from .keys import MongoKeys
from .maintenance import MongoMaintenance
from .records import MongoRecords
from .scans import MongoScans

SERVER_SELECTION_MS = 10_000


class MongoMetadataStore(MongoRecords, MongoFigures, MongoAliases, MongoKeys, MongoAuditLog, MongoMaintenance,
                         MongoScans):
    """The metadata store on one MongoDB database (any pymongo-compatible ``Database``)."""

    @classmethod
    def from_url(cls, url: str, database: str = "tensorfleet", *, sweep_seconds: float | None = SWEEP_SECONDS,
                 **options: Any) -> MongoMetadataStore:
        """A store on ``database`` of the server at ``url`` (``mongodb://`` or ``mongodb+srv://``);
        ``options`` go to the ``MongoClient``."""
        if "serverselectiontimeoutms" not in url.lower():
            options.setdefault("serverSelectionTimeoutMS", SERVER_SELECTION_MS)
        try:
            client: MongoClient[Document] = MongoClient(url, tz_aware=True, appname="tensorfleet-model-service",
                                                        **options)
        except (ConfigurationError, InvalidURI, ValueError) as exc:
            raise Invalid(f"Invalid MongoDB URL: {str(exc)[:200]}", code="invalid_setting",
                          details={"setting": "MONGODB_URL"}) from exc
        return cls(client[database], client=client, sweep_seconds=sweep_seconds)
