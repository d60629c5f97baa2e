"""Models (versions with their file metadata) and the append-only event log.

``seq`` is the internal integer key (SQLite's rowid), ``id`` the public ObjectId.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from model_service.stores.sql.schema import EventId, RowId, UTCDateTime

# The documents' type as this revision made them (0003 turns them into json on PostgreSQL).
JSONDoc = sa.JSON().with_variant(JSONB(), "postgresql")

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("seq", RowId, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(24), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version_major", sa.Integer(), nullable=False),
        sa.Column("version_minor", sa.Integer(), nullable=False),
        sa.Column("algorithm", sa.String(128), nullable=False),
        sa.Column("hyperparameters", JSONDoc, nullable=False),
        sa.Column("metrics", JSONDoc, nullable=False),
        sa.Column("dataset_info", JSONDoc, nullable=False),
        sa.Column("tags", JSONDoc, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("parent_model_id", sa.String(24), nullable=True),
        sa.Column("format", sa.String(32), nullable=True),
        sa.Column("file_sha256", sa.String(64), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("file_format", sa.String(32), nullable=True),
        sa.Column("file_name", sa.String(512), nullable=True),
        sa.Column("file_content_type", sa.String(256), nullable=True),
        sa.Column("file_uploaded_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("download_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_models"),
        sa.UniqueConstraint("id", name="uq_models_id"),
        sa.UniqueConstraint("name", "version_major", "version_minor",
                            name="uq_models_name_version_major_version_minor"),
    )
    op.create_index("ix_models_created_at_seq", "models", ["created_at", "seq"])
    op.create_index("ix_models_file_sha256_file_size", "models", ["file_sha256", "file_size"])
    op.create_index("ix_models_parent_model_id", "models", ["parent_model_id"])

    op.create_table(
        "events",
        sa.Column("id", EventId, autoincrement=True, nullable=False),
        sa.Column("model_id", sa.String(24), nullable=False),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("data", JSONDoc, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_model_id_id", "events", ["model_id", "id"])
    op.create_index("ix_events_model_name_at", "events", ["model_name", "at"])
    op.create_index("ix_events_kind_at", "events", ["kind", "at"])


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("models")
