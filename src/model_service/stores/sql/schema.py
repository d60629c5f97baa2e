"""Tables of the SQL metadata store. The Alembic migrations create exactly these
(``tests/contract`` compares the migrated database with this metadata)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone: it is restored on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Documents (hyperparameters, metrics, …) are kept as written: ``json`` on PostgreSQL, not
# ``jsonb``, which would reorder their keys and respell their numbers (1e20 read back as an
# integer). Nothing queries them in place: the search tables below are what filters read.
JSONDoc = JSON()


def Str(length: int | None = None) -> TypeEngine:
    """Text that compares and sorts by code point on every backend, as SQLite does: on
    PostgreSQL the column's collation is ``"C"``, whatever the database's locale, so ``ORDER BY
    name`` and ``name < 'm'`` give the same answer everywhere and ``LIKE 'prefix%'`` can use the
    column's index. ``ILIKE`` then folds ASCII letters only, as on SQLite."""
    if length is None:
        return Text().with_variant(Text(collation="C"), "postgresql")
    return String(length).with_variant(String(length, collation="C"), "postgresql")


# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
RowId = BigInteger().with_variant(Integer(), "sqlite")
EventId = RowId

# ``seq`` is the row's internal key: an integer, so the search tables join and filter on it at
# integer speed (SQLite's rowid); ``id`` is the public ObjectId.
models = Table(
    "models",
    metadata,
    Column("seq", RowId, primary_key=True, autoincrement=True),
    Column("id", Str(24), nullable=False, unique=True),
    Column("name", Str(128), nullable=False),
    Column("version_major", Integer, nullable=False),
    Column("version_minor", Integer, nullable=False),
    Column("algorithm", Str(128), nullable=False),
    Column("hyperparameters", JSONDoc, nullable=False),
    Column("metrics", JSONDoc, nullable=False),
    Column("dataset_info", JSONDoc, nullable=False),
    Column("tags", JSONDoc, nullable=False),
    Column("description", Str(), nullable=False),
    Column("created_by", Str(256), nullable=False),
    Column("status", Str(16), nullable=False),
    Column("parent_model_id", Str(24), nullable=True),
    Column("format", Str(32), nullable=True),
    Column("file_sha256", Str(64), nullable=True),
    Column("file_size", BigInteger, nullable=True),
    Column("file_format", Str(32), nullable=True),
    Column("file_name", Str(512), nullable=True),
    Column("file_content_type", Str(256), nullable=True),
    Column("file_uploaded_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("download_count", BigInteger, nullable=False, server_default="0"),
    # The accuracy-like metric (domain.naming.accuracy_of), kept as a column to filter and sort on.
    Column("accuracy", Float, nullable=True),
    # The unsafe-model scan of the file (domain.scanning.ScanResult.to_json; migration 0005);
    # null for no file, or a file uploaded before scanning.
    Column("file_scan", JSONDoc, nullable=True),
    UniqueConstraint("name", "version_major", "version_minor"),
    Index(None, "created_at", "seq"),
    Index(None, "file_sha256", "file_size"),  # blob references, and distinct blob sizes from the index
    Index(None, "parent_model_id"),
    Index(None, "algorithm", "status", "created_at"),
    Index(None, "status", "created_at"),
    Index(None, "created_by", "created_at"),
    Index(None, "download_count", "seq"),
    Index(None, "accuracy", "seq"),
    Index(None, "file_size", "seq"),
    Index(None, "updated_at", "seq"),
)

# Searchable copies of each version's metrics, flattened hyperparameters and tags, one row per
# key, kept by database triggers (migrations 0002) so that every filter and sort on them has an
# index. Rows go with their version (ON DELETE CASCADE).
model_metrics = Table(
    "model_metrics",
    metadata,
    Column("seq", RowId, ForeignKey("models.seq", ondelete="CASCADE"), primary_key=True),
    Column("key", Str(128), primary_key=True),
    Column("value", Float, nullable=False),
    Index(None, "key", "value"),
    sqlite_with_rowid=False,
)

model_params = Table(
    "model_params",
    metadata,
    Column("seq", RowId, ForeignKey("models.seq", ondelete="CASCADE"), primary_key=True),
    Column("key", Str(256), primary_key=True),
    Column("kind", Str(8), nullable=False),  # number | bool | string | array | null
    Column("num", Float, nullable=True),  # numbers, and booleans as 1/0
    Column("text", Str(512), nullable=True),  # strings (up to 512 characters) and arrays as JSON
    Index(None, "key", "kind", "num"),
    Index(None, "key", "kind", "text"),
    sqlite_with_rowid=False,
)

model_tags = Table(
    "model_tags",
    metadata,
    Column("seq", RowId, ForeignKey("models.seq", ondelete="CASCADE"), primary_key=True),
    Column("tag", Str(64), primary_key=True),
    Index(None, "tag"),
    sqlite_with_rowid=False,
)

# The text the seed's ``q`` searches (name, algorithm, description, tags), one row per version,
# kept by triggers; SQLite indexes it with an FTS5 trigram table (``models_fts``, created by the
# migration) so that substring search needs no table scan, PostgreSQL with a pg_trgm GIN index
# where the extension can be had (migration 0003), over the text folded to lower case (0004).
# Its collation is the database's own, so that ``lower()`` folds every letter, not only ASCII ones.
search_text = Table(
    "search_text",
    metadata,
    Column("seq", RowId, primary_key=True, autoincrement=False),  # the version's models.seq
    Column("text", Text, nullable=False),
)

aliases = Table(
    "aliases",
    metadata,
    Column("name", Str(128), primary_key=True),
    Column("alias", Str(64), primary_key=True),
    Column("model_id", Str(24), ForeignKey("models.id"), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", Str(256), nullable=False),
    Index(None, "model_id"),
)

events = Table(
    "events",
    metadata,
    Column("id", EventId, primary_key=True, autoincrement=True),
    Column("model_id", Str(24), nullable=False),
    Column("model_name", Str(128), nullable=False),
    Column("kind", Str(32), nullable=False),
    Column("actor", Str(256), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("data", JSONDoc, nullable=False),
    Index(None, "model_id", "id"),
    Index(None, "model_name", "at"),
    Index(None, "kind", "at"),
)

# API keys (migration 0006): the key's SHA-256, never the key; ``key_id`` is the non-secret part
# of the key that finds it.
api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", Str(32), primary_key=True),
    Column("name", Str(64), nullable=False),
    Column("scopes", Str(64), nullable=False),  # space-separated: "read write"
    Column("name_prefix", Str(128), nullable=True),
    Column("secret_hash", Str(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", Str(256), nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("revoked_by", Str(256), nullable=True),
    Index(None, "created_at", "key_id"),
)

# The audit log (migration 0006): append-only — triggers refuse UPDATE and DELETE on it. Read
# newest first (at, id); each filter of the audit query has an index ending in (at, id).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Str(24), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("action", Str(32), nullable=False),
    Column("actor", Str(256), nullable=False),
    Column("key_id", Str(32), nullable=True),
    Column("model_id", Str(24), nullable=True),
    Column("name", Str(128), nullable=True),
    Column("version", Str(32), nullable=True),
    Column("details", JSONDoc, nullable=False),
    Column("client_ip", Str(64), nullable=True),
    Column("request_id", Str(64), nullable=True),
    Index(None, "at", "id"),
    Index(None, "actor", "at", "id"),
    Index(None, "action", "at", "id"),
    Index(None, "model_id", "at", "id"),
    Index(None, "name", "at", "id"),
    Index(None, "key_id", "at", "id"),
)
