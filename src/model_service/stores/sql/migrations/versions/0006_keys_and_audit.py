"""API keys and the audit log.

* ``api_keys``: one row per key — its id (the non-secret part of the key), owner name, scopes,
  name prefix, the SHA-256 of the key (never the key), creation, expiry and revocation.
* ``audit_log``: one row per write, read newest first (``at``, ``id``) and filtered by actor,
  action, model id, name or key, each through an index ending in (``at``, ``id``). Append-only:
  triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL); an operator who must prune it
  drops the trigger, prunes, and creates it again.

String columns get the ``"C"`` collation on PostgreSQL, as every other (0003).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from model_service.stores.sql.schema import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _str(length: int) -> sa.types.TypeEngine:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


SQLITE_TRIGGERS = [
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
]
POSTGRESQL_TRIGGERS = [
    """CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$""",
    """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
       FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
]


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", _str(32), nullable=False),
        sa.Column("name", _str(64), nullable=False),
        sa.Column("scopes", _str(64), nullable=False),
        sa.Column("name_prefix", _str(128), nullable=True),
        sa.Column("secret_hash", _str(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", _str(256), nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=True),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.Column("revoked_by", _str(256), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
    )
    op.create_index("ix_api_keys_created_at_key_id", "api_keys", ["created_at", "key_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", _str(24), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("action", _str(32), nullable=False),
        sa.Column("actor", _str(256), nullable=False),
        sa.Column("key_id", _str(32), nullable=True),
        sa.Column("model_id", _str(24), nullable=True),
        sa.Column("name", _str(128), nullable=True),
        sa.Column("version", _str(32), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("client_ip", _str(64), nullable=True),
        sa.Column("request_id", _str(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    for columns in (["at", "id"], ["actor", "at", "id"], ["action", "at", "id"], ["model_id", "at", "id"],
                    ["name", "at", "id"], ["key_id", "at", "id"]):
        op.create_index(f"ix_audit_log_{'_'.join(columns)}", "audit_log", columns)

    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRESQL_TRIGGERS}.get(dialect, []):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("audit_log")  # its triggers go with it
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_table("api_keys")
