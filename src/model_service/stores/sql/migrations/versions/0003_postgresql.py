"""PostgreSQL: byte-order text, documents kept as written, and a trigram index for text search.

* String columns get the ``"C"`` collation, so sorting and comparing text gives the same answer
  as on SQLite whatever the database's locale (``search_text`` keeps the database's own, for
  ``ILIKE`` to fold every letter's case).
* Documents (hyperparameters, metrics, dataset info, tags, event data) become ``json``: jsonb
  reorders keys and respells numbers. The search trigger reads them as jsonb.
* ``search_text`` gets a pg_trgm GIN index, so that ``q`` (``ILIKE '%text%'``) reads an index
  instead of every row. Creating the extension needs a role allowed to; without it the index is
  left out with a warning, and text search works unindexed (``stores/sql/trigram.py``).

Nothing changes on SQLite.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from alembic import op

from model_service.stores.sql import trigram

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Every string column but search_text.text: its type, as 0001 and 0002 made it.
STRINGS = {
    "models": {"id": "varchar(24)", "name": "varchar(128)", "algorithm": "varchar(128)", "description": "text",
               "created_by": "varchar(256)", "status": "varchar(16)", "parent_model_id": "varchar(24)",
               "format": "varchar(32)", "file_sha256": "varchar(64)", "file_format": "varchar(32)",
               "file_name": "varchar(512)", "file_content_type": "varchar(256)"},
    "model_metrics": {"key": "varchar(128)"},
    "model_params": {"key": "varchar(256)", "kind": "varchar(8)", "text": "varchar(512)"},
    "model_tags": {"tag": "varchar(64)"},
    "aliases": {"name": "varchar(128)", "alias": "varchar(64)", "model_id": "varchar(24)",
                "updated_by": "varchar(256)"},
    "events": {"model_id": "varchar(24)", "model_name": "varchar(128)", "kind": "varchar(32)",
               "actor": "varchar(256)"},
}
DOCUMENTS = {"models": ("hyperparameters", "metrics", "dataset_info", "tags"), "events": ("data",)}

# 0002's function, reading the documents through ``{doc}`` (a cast to jsonb from here on).
SEARCH_ROWS = """
CREATE OR REPLACE FUNCTION model_search_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM model_metrics WHERE seq = NEW.seq;
        DELETE FROM model_tags WHERE seq = NEW.seq;
        DELETE FROM model_params WHERE seq = NEW.seq;
        DELETE FROM search_text WHERE seq = NEW.seq;
    END IF;
    INSERT INTO model_metrics (seq, key, value)
        SELECT NEW.seq, key, value::text::double precision
        FROM jsonb_each(NEW.metrics{doc}) WHERE jsonb_typeof(value) = 'number';
    INSERT INTO model_tags (seq, tag)
        SELECT DISTINCT NEW.seq, value FROM jsonb_array_elements_text(NEW.tags{doc});
    INSERT INTO model_params (seq, key, kind, num, text)
        WITH RECURSIVE flat(key, value) AS (
            SELECT key, value FROM jsonb_each(NEW.hyperparameters{doc})
            UNION ALL
            SELECT flat.key || '.' || child.key, child.value
            FROM flat, jsonb_each(flat.value) AS child WHERE jsonb_typeof(flat.value) = 'object'
        )
        SELECT NEW.seq, key,
               CASE jsonb_typeof(value) WHEN 'boolean' THEN 'bool' ELSE jsonb_typeof(value) END,
               CASE jsonb_typeof(value) WHEN 'number' THEN value::text::double precision
                    WHEN 'boolean' THEN CASE WHEN value::text = 'true' THEN 1 ELSE 0 END END,
               CASE WHEN jsonb_typeof(value) = 'string' AND length(value #>> '{{}}') <= 512 THEN value #>> '{{}}'
                    WHEN jsonb_typeof(value) = 'array' AND length(value::text) <= 512 THEN value::text END
        FROM flat WHERE jsonb_typeof(value) != 'object';
    INSERT INTO search_text (seq, text) VALUES (NEW.seq,
        NEW.name || ' ' || NEW.algorithm || ' ' || NEW.description || ' ' ||
        coalesce((SELECT string_agg(value, ' ') FROM jsonb_array_elements_text(NEW.tags{doc})), ''));
    RETURN NULL;
END $$
"""
# The trigger names the columns it follows, which PostgreSQL will not retype under it.
DROP_TRIGGER = "DROP TRIGGER models_search_rows ON models"
CREATE_TRIGGER = """
CREATE TRIGGER models_search_rows AFTER INSERT OR UPDATE OF metrics, tags, description, hyperparameters
ON models FOR EACH ROW EXECUTE FUNCTION model_search_rows()
"""


def _retype(*, collation: str, document: str) -> None:
    for table, columns in STRINGS.items():
        changes = [f'ALTER COLUMN {column} TYPE {type_} COLLATE "{collation}"' for column, type_ in columns.items()]
        changes += [f"ALTER COLUMN {column} TYPE {document} USING {column}::{document}"
                    for column in DOCUMENTS.get(table, ())]
        op.execute(f"ALTER TABLE {table} {', '.join(changes)}")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(DROP_TRIGGER)
    _retype(collation="C", document="json")
    op.execute(SEARCH_ROWS.format(doc="::jsonb"))
    op.execute(CREATE_TRIGGER)
    trigram.ensure_index(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {trigram.INDEX}")  # the extension stays: others may use it
    op.execute(DROP_TRIGGER)
    _retype(collation="default", document="jsonb")
    op.execute(SEARCH_ROWS.format(doc=""))
    op.execute(CREATE_TRIGGER)
