"""Tables of the SQL metadata store. The Alembic migrations create exactly these
(``tests/contract`` compares the migrated database with this metadata)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone: it is restored on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONDoc = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
EventId = BigInteger().with_variant(Integer(), "sqlite")

models = Table(
    "models",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("version_major", Integer, nullable=False),
    Column("version_minor", Integer, nullable=False),
    Column("algorithm", String(128), nullable=False),
    Column("hyperparameters", JSONDoc, nullable=False),
    Column("metrics", JSONDoc, nullable=False),
    Column("dataset_info", JSONDoc, nullable=False),
    Column("tags", JSONDoc, nullable=False),
    Column("description", Text, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("parent_model_id", String(24), nullable=True),
    Column("format", String(32), nullable=True),
    Column("file_sha256", String(64), nullable=True),
    Column("file_size", BigInteger, nullable=True),
    Column("file_format", String(32), nullable=True),
    Column("file_name", String(512), nullable=True),
    Column("file_content_type", String(256), nullable=True),
    Column("file_uploaded_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("download_count", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("name", "version_major", "version_minor"),
    Index(None, "created_at", "id"),
    Index(None, "file_sha256"),
    Index(None, "parent_model_id"),
)

events = Table(
    "events",
    metadata,
    Column("id", EventId, primary_key=True, autoincrement=True),
    Column("model_id", String(24), nullable=False),
    Column("model_name", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("data", JSONDoc, nullable=False),
    Index(None, "model_id", "id"),
    Index(None, "model_name", "at"),
    Index(None, "kind", "at"),
)
