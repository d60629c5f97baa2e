"""Collections of the MongoDB metadata store and the indexes created at start-up.

MongoDB has no schema to migrate: :func:`ensure_indexes` creates what is missing (creating an
index that exists is a no-op), so every start brings a database up to date.

* ``models``: one document per version (``documents.py``); ``events``: the append-only log;
  ``aliases``: one document per ``name@alias`` ever set (``model_id`` null once removed);
  ``blob_locks``: per-sha256 locks (``locks.py``); ``counters``: the insertion sequence;
  ``imports``: records being copied in by ``model-service migrate`` (``transfer.py``);
  ``api_keys`` (``keys.py``) and ``audit_log`` (``audit.py``).
* The seed's three indexes, under the seed's names: ``algorithm_status_created_idx``,
  ``tags_accuracy_idx`` and the wildcard text index ``full_text_search_idx`` (MongoDB allows one
  text index per collection; the seed's tools may use it for ``$text``, the service's ``q`` is a
  substring search and does not; a database that already has another text index keeps it).
* ``name_version_unique``: (name, version_major, version_minor), unique — what makes version
  numbers unique under concurrent writers, and the index of ``latest`` and ``find_version``.
* Sorts and filters: the default listing (created_at, seq), the other sortable columns with
  ``seq``, popular versions (download_count, _id), blob references (file_metadata.sha256);
  events by version and by name (each with ``at`` and ``_id``, their order) and by kind and
  time (downloads in a window); aliases by (name, alias), unique, and by version.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pymongo import ASCENDING, DESCENDING, TEXT
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import OperationFailure

from ...domain import refusals
from .documents import Document, object_id

log = logging.getLogger(__name__)

MODELS, EVENTS, ALIASES, LOCKS, COUNTERS, IMPORTS = "models", "events", "aliases", "blob_locks", "counters", "imports"
API_KEYS, AUDIT_LOG = "api_keys", "audit_log"
VERSION_INDEX = "name_version_unique"
TEXT_INDEX = "full_text_search_idx"
# A text index under another name (code 85), or one of ours with other options (code 86).
INDEX_CONFLICTS = {85, 86}


@dataclass(frozen=True, slots=True)
class IndexSpec:
    collection: str
    keys: list[tuple[str, Any]]
    name: str
    options: dict[str, Any] = field(default_factory=dict)


INDEXES = [
    # the seed's "Performance Optimization" indexes
    IndexSpec(MODELS, [("algorithm", ASCENDING), ("status", ASCENDING), ("created_at", DESCENDING)],
              "algorithm_status_created_idx"),
    IndexSpec(MODELS, [("tags", ASCENDING), ("metrics.test_accuracy", DESCENDING)], "tags_accuracy_idx"),
    # A text index reads a field named by ``language_override`` (default ``language``) in every
    # embedded document as that document's language, and refuses a document whose value is not
    # one it knows: hyperparameters {"language": "python"} would be unstorable. ``%language``
    # cannot occur in stored data (user keys have their ``%`` escaped).
    IndexSpec(MODELS, [("$**", TEXT)], TEXT_INDEX, {"language_override": "%language"}),
    # versions
    IndexSpec(MODELS, [("name", ASCENDING), ("version_major", DESCENDING), ("version_minor", DESCENDING)],
              VERSION_INDEX, {"unique": True}),
    IndexSpec(MODELS, [("seq", ASCENDING)], "seq_unique", {"unique": True}),
    IndexSpec(MODELS, [("created_at", DESCENDING), ("seq", DESCENDING)], "created_at_seq_idx"),
    IndexSpec(MODELS, [("updated_at", DESCENDING), ("seq", DESCENDING)], "updated_at_seq_idx"),
    IndexSpec(MODELS, [("status", ASCENDING), ("created_at", DESCENDING)], "status_created_idx"),
    IndexSpec(MODELS, [("created_by", ASCENDING), ("created_at", DESCENDING)], "created_by_created_idx"),
    IndexSpec(MODELS, [("download_count", DESCENDING), ("_id", DESCENDING)], "download_count_idx"),
    IndexSpec(MODELS, [("accuracy", DESCENDING), ("seq", DESCENDING)], "accuracy_seq_idx"),
    IndexSpec(MODELS, [("file_metadata.sha256", ASCENDING)], "file_sha256_idx", {"sparse": True}),
    IndexSpec(MODELS, [("file_metadata.size_bytes", ASCENDING), ("seq", ASCENDING)], "file_size_seq_idx"),
    IndexSpec(MODELS, [("outbox._id", ASCENDING)], "outbox_idx", {"sparse": True}),
    IndexSpec(MODELS, [("deleting.at", ASCENDING)], "deleting_idx", {"sparse": True}),
    # events
    IndexSpec(EVENTS, [("model_id", ASCENDING), ("at", ASCENDING), ("_id", ASCENDING)], "model_events_idx"),
    IndexSpec(EVENTS, [("model_name", ASCENDING), ("at", ASCENDING), ("_id", ASCENDING)], "name_events_idx"),
    IndexSpec(EVENTS, [("kind", ASCENDING), ("at", ASCENDING)], "kind_at_idx"),
    # aliases
    IndexSpec(ALIASES, [("name", ASCENDING), ("alias", ASCENDING)], "name_alias_unique", {"unique": True}),
    IndexSpec(ALIASES, [("model_id", ASCENDING)], "alias_model_idx"),
    IndexSpec(ALIASES, [("outbox._id", ASCENDING)], "alias_outbox_idx", {"sparse": True}),
    # API keys (by _id, the key id) in creation order; the audit log newest first, by each filter
    IndexSpec(API_KEYS, [("created_at", ASCENDING), ("_id", ASCENDING)], "key_created_idx"),
    IndexSpec(AUDIT_LOG, [("at", DESCENDING), ("_id", DESCENDING)], "audit_at_idx"),
    *(IndexSpec(AUDIT_LOG, [(field, ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)], f"audit_{field}_at_idx")
      for field in ("actor", "action", "model_id", "name", "key_id")),
]


EVENT_ORDER = [("at", 1), ("_id", 1)]
"""A version's events, oldest first (ids ascend with insertion, so they order events of one time)."""

LIVE: dict[str, Any] = {"deleting": {"$exists": False}}
"""Versions not being deleted (a deletion marks its version first; see ``metadata.py``)."""


@dataclass(frozen=True, slots=True)
class Collections:
    models: Collection[Document]
    events: Collection[Document]
    aliases: Collection[Document]
    locks: Collection[Document]
    counters: Collection[Document]
    imports: Collection[Document]

    @classmethod
    def of(cls, database: Database[Document]) -> Collections:
        return cls(*(database[name] for name in (MODELS, EVENTS, ALIASES, LOCKS, COUNTERS, IMPORTS)))


def live(db: Collections, model_id: str, projection: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The document of a version that exists and is not being deleted; :class:`NotFound` if none."""
    oid = object_id(model_id)
    document = None if oid is None else db.models.find_one({"_id": oid, **LIVE}, projection)
    if document is None:
        raise refusals.model_not_found(model_id)
    return document


def ensure_indexes(database: Database[Document]) -> None:
    """Create every index (idempotent) and the insertion counter."""
    for spec in INDEXES:
        try:
            database[spec.collection].create_index(spec.keys, name=spec.name, **spec.options)
        except OperationFailure as exc:
            if spec.name != TEXT_INDEX or exc.code not in INDEX_CONFLICTS:
                raise
            log.warning("Kept the existing text index of %s.%s instead of %s (%s); if it reads a language from a "
                        "'language' field, versions with a 'language' key naming an unknown language cannot be "
                        "stored", database.name, MODELS, TEXT_INDEX, exc)
    database[COUNTERS].update_one({"_id": MODELS}, {"$setOnInsert": {"seq": 0}}, upsert=True)


def missing_indexes(database: Database[Document]) -> list[str]:
    """The indexes correctness depends on (unique numbers, unique aliases) that are not there."""
    have = set(database[MODELS].index_information()) | set(database[ALIASES].index_information())
    return [name for name in (VERSION_INDEX, "seq_unique", "name_alias_unique") if name not in have]
