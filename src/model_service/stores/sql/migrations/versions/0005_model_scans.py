"""Model file scans: ``models.file_scan``, what the unsafe-model scan concluded of the version's file.

A nullable JSON document (``domain.scanning.ScanResult.to_json``): ``json`` on PostgreSQL, like
the other documents since 0003; SQLite's ``JSON`` (text). Files uploaded before this revision
keep a null scan, which the API shows as ``unscanned`` (``not_recorded``).

Both directions are plain ``ALTER TABLE … ADD/DROP COLUMN``, not Alembic's batch mode: on
SQLite that would rebuild ``models`` and drop the search triggers 0002 put on it. SQLite drops
a column since 3.35 (2021).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("models", sa.Column("file_scan", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("models", "file_scan")
