"""Search: per-key tables for metrics, hyperparameters and tags, the text index, aliases, and the
indexes behind every documented filter and sort.

The per-key tables and the search text are kept by triggers, so every writer (this service, a
migration, an operator's SQL) keeps them right, and a registration pays no extra round trips.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from model_service.stores.sql.schema import RowId, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The accuracy-like metrics, in order (domain.naming.ACCURACY_METRICS when this was written).
ACCURACY_METRICS = ("test_accuracy", "accuracy", "val_accuracy", "validation_accuracy", "train_accuracy")

# SQLite: the rows each version contributes, as SELECTs over one row of models called ``r``.
# The triggers run them for ``new``; the backfill runs them over every existing row.
_METRIC_ROWS = """
    SELECT r.seq, j.key, j.value FROM {source} json_each(r.metrics) AS j WHERE j.type IN ('integer', 'real')
"""
# Nested objects are flattened to dotted keys; arrays are kept whole, as JSON text.
_PARAM_ROWS = """
    SELECT r.seq, replace(substr(j.fullkey, 3), '"', ''),
           CASE j.type WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number' WHEN 'true' THEN 'bool'
                       WHEN 'false' THEN 'bool' WHEN 'text' THEN 'string' ELSE j.type END,
           CASE j.type WHEN 'integer' THEN j.value WHEN 'real' THEN j.value WHEN 'true' THEN 1
                       WHEN 'false' THEN 0 END,
           CASE WHEN j.type = 'text' AND length(j.value) <= 512 THEN j.value
                WHEN j.type = 'array' AND length(json(j.value)) <= 512 THEN json(j.value) END
    FROM {source} json_tree(r.hyperparameters) AS j
    WHERE j.type != 'object' AND instr(j.fullkey, '[') = 0 AND j.fullkey != '$'
"""
_TAG_ROWS = "SELECT r.seq, j.value FROM {source} json_each(r.tags) AS j"
_SEARCH_TEXT = """
    r.name || ' ' || r.algorithm || ' ' || r.description || ' ' ||
    coalesce((SELECT group_concat(t.value, ' ') FROM json_each(r.tags) AS t), '')
"""


def _rows_of_new(template: str) -> str:
    return template.format(source="").replace("r.", "new.")


SQLITE_TRIGGERS = [
    f"""
    CREATE TRIGGER models_search_insert AFTER INSERT ON models BEGIN
        INSERT INTO model_metrics (seq, key, value) {_rows_of_new(_METRIC_ROWS)};
        INSERT INTO model_params (seq, key, kind, num, text) {_rows_of_new(_PARAM_ROWS)};
        INSERT OR IGNORE INTO model_tags (seq, tag) {_rows_of_new(_TAG_ROWS)};
        INSERT INTO search_text (seq, text) VALUES (new.seq, {_SEARCH_TEXT.replace("r.", "new.")});
    END
    """,
    f"""
    CREATE TRIGGER models_metrics_update AFTER UPDATE OF metrics ON models BEGIN
        DELETE FROM model_metrics WHERE seq = new.seq;
        INSERT INTO model_metrics (seq, key, value) {_rows_of_new(_METRIC_ROWS)};
    END
    """,
    f"""
    CREATE TRIGGER models_tags_update AFTER UPDATE OF tags, description ON models BEGIN
        DELETE FROM model_tags WHERE seq = new.seq;
        INSERT OR IGNORE INTO model_tags (seq, tag) {_rows_of_new(_TAG_ROWS)};
        UPDATE search_text SET text = {_SEARCH_TEXT.replace("r.", "new.")} WHERE seq = new.seq;
    END
    """,
    """
    CREATE TRIGGER models_search_delete AFTER DELETE ON models BEGIN
        DELETE FROM search_text WHERE seq = old.seq;
    END
    """,
    # The FTS5 trigram index follows search_text (external content): substring search with an index.
    "CREATE VIRTUAL TABLE models_fts USING fts5(text, content='search_text', content_rowid='seq', tokenize='trigram')",
    """
    CREATE TRIGGER search_text_insert AFTER INSERT ON search_text BEGIN
        INSERT INTO models_fts (rowid, text) VALUES (new.seq, new.text);
    END
    """,
    """
    CREATE TRIGGER search_text_delete AFTER DELETE ON search_text BEGIN
        INSERT INTO models_fts (models_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    END
    """,
    """
    CREATE TRIGGER search_text_update AFTER UPDATE ON search_text BEGIN
        INSERT INTO models_fts (models_fts, rowid, text) VALUES ('delete', old.seq, old.text);
        INSERT INTO models_fts (rowid, text) VALUES (new.seq, new.text);
    END
    """,
]
SQLITE_BACKFILL = [
    f"INSERT INTO model_metrics (seq, key, value) {_METRIC_ROWS.format(source='models AS r,')}",
    f"INSERT INTO model_params (seq, key, kind, num, text) {_PARAM_ROWS.format(source='models AS r,')}",
    f"INSERT OR IGNORE INTO model_tags (seq, tag) {_TAG_ROWS.format(source='models AS r,')}",
    f"INSERT INTO search_text (seq, text) SELECT r.seq, {_SEARCH_TEXT} FROM models AS r",
]

POSTGRESQL_TRIGGERS = [
    """
    CREATE FUNCTION model_search_rows() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            DELETE FROM model_metrics WHERE seq = NEW.seq;
            DELETE FROM model_tags WHERE seq = NEW.seq;
            DELETE FROM model_params WHERE seq = NEW.seq;
            DELETE FROM search_text WHERE seq = NEW.seq;
        END IF;
        INSERT INTO model_metrics (seq, key, value)
            SELECT NEW.seq, key, value::text::double precision
            FROM jsonb_each(NEW.metrics) WHERE jsonb_typeof(value) = 'number';
        INSERT INTO model_tags (seq, tag)
            SELECT DISTINCT NEW.seq, value FROM jsonb_array_elements_text(NEW.tags);
        INSERT INTO model_params (seq, key, kind, num, text)
            WITH RECURSIVE flat(key, value) AS (
                SELECT key, value FROM jsonb_each(NEW.hyperparameters)
                UNION ALL
                SELECT flat.key || '.' || child.key, child.value
                FROM flat, jsonb_each(flat.value) AS child WHERE jsonb_typeof(flat.value) = 'object'
            )
            SELECT NEW.seq, key,
                   CASE jsonb_typeof(value) WHEN 'boolean' THEN 'bool' ELSE jsonb_typeof(value) END,
                   CASE jsonb_typeof(value) WHEN 'number' THEN value::text::double precision
                        WHEN 'boolean' THEN CASE WHEN value::text = 'true' THEN 1 ELSE 0 END END,
                   CASE WHEN jsonb_typeof(value) = 'string' AND length(value #>> '{}') <= 512 THEN value #>> '{}'
                        WHEN jsonb_typeof(value) = 'array' AND length(value::text) <= 512 THEN value::text END
            FROM flat WHERE jsonb_typeof(value) != 'object';
        INSERT INTO search_text (seq, text) VALUES (NEW.seq,
            NEW.name || ' ' || NEW.algorithm || ' ' || NEW.description || ' ' ||
            coalesce((SELECT string_agg(value, ' ') FROM jsonb_array_elements_text(NEW.tags)), ''));
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER models_search_rows AFTER INSERT OR UPDATE OF metrics, tags, description, hyperparameters
    ON models FOR EACH ROW EXECUTE FUNCTION model_search_rows()
    """,
    """
    CREATE FUNCTION model_search_text_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM search_text WHERE seq = OLD.seq;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER models_search_text_delete AFTER DELETE ON models
    FOR EACH ROW EXECUTE FUNCTION model_search_text_delete()
    """,
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("accuracy", sa.Float(), nullable=True))
    for columns in (("algorithm", "status", "created_at"), ("status", "created_at"), ("created_by", "created_at"),
                    ("download_count", "seq"), ("accuracy", "seq"), ("file_size", "seq"), ("updated_at", "seq")):
        op.create_index(f"ix_models_{'_'.join(columns)}", "models", list(columns))

    op.create_table(
        "model_metrics",
        sa.Column("seq", RowId, sa.ForeignKey("models.seq", ondelete="CASCADE", name="fk_model_metrics_seq_models"),
                  nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("seq", "key", name="pk_model_metrics"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_model_metrics_key_value", "model_metrics", ["key", "value"])
    op.create_table(
        "model_params",
        sa.Column("seq", RowId, sa.ForeignKey("models.seq", ondelete="CASCADE", name="fk_model_params_seq_models"),
                  nullable=False),
        sa.Column("key", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("num", sa.Float(), nullable=True),
        sa.Column("text", sa.String(512), nullable=True),
        sa.PrimaryKeyConstraint("seq", "key", name="pk_model_params"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_model_params_key_kind_num", "model_params", ["key", "kind", "num"])
    op.create_index("ix_model_params_key_kind_text", "model_params", ["key", "kind", "text"])
    op.create_table(
        "model_tags",
        sa.Column("seq", RowId, sa.ForeignKey("models.seq", ondelete="CASCADE", name="fk_model_tags_seq_models"),
                  nullable=False),
        sa.Column("tag", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", "tag", name="pk_model_tags"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_model_tags_tag", "model_tags", ["tag"])
    op.create_table(
        "search_text",
        sa.Column("seq", RowId, autoincrement=False, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_search_text"),
    )
    op.create_table(
        "aliases",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("model_id", sa.String(24), sa.ForeignKey("models.id", name="fk_aliases_model_id_models"),
                  nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("updated_by", sa.String(256), nullable=False),
        sa.PrimaryKeyConstraint("name", "alias", name="pk_aliases"),
    )
    op.create_index("ix_aliases_model_id", "aliases", ["model_id"])

    statements = {"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRESQL_TRIGGERS}[dialect]
    for statement in statements:
        op.execute(statement)
    _backfill(dialect)


def _backfill(dialect: str) -> None:
    """Versions registered before this revision: their accuracy and search rows."""
    accuracy = ", ".join(
        (f"json_extract(metrics, '$.{key}')" if dialect == "sqlite" else f"(metrics ->> '{key}')::double precision")
        for key in ACCURACY_METRICS
    )
    op.execute(f"UPDATE models SET accuracy = coalesce({accuracy})")
    if dialect == "postgresql":
        op.execute("UPDATE models SET metrics = metrics")  # fires the trigger for every row
    else:
        for statement in SQLITE_BACKFILL:
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("models_search_insert", "models_metrics_update", "models_tags_update",
                        "models_search_delete", "search_text_insert", "search_text_delete", "search_text_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS models_fts")
    else:
        op.execute("DROP TRIGGER IF EXISTS models_search_rows ON models")
        op.execute("DROP TRIGGER IF EXISTS models_search_text_delete ON models")
        op.execute("DROP FUNCTION IF EXISTS model_search_rows()")
        op.execute("DROP FUNCTION IF EXISTS model_search_text_delete()")
    for table in ("aliases", "search_text", "model_tags", "model_params", "model_metrics"):
        op.drop_table(table)
    for columns in (("algorithm", "status", "created_at"), ("status", "created_at"), ("created_by", "created_at"),
                    ("download_count", "seq"), ("accuracy", "seq"), ("file_size", "seq"), ("updated_at", "seq")):
        op.drop_index(f"ix_models_{'_'.join(columns)}", "models")
    with op.batch_alter_table("models") as batch:
        batch.drop_column("accuracy")
