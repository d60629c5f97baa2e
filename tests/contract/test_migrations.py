"""The Alembic migrations build exactly the schema the store's table definitions describe."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from model_service.stores.sql import migrate
from model_service.stores.sql.schema import metadata
from model_service.stores.sql.store import SqlMetadataStore


def _ours(name, type_, _parent_names):
    """The SQLite full-text index (a virtual table and its shadow tables) is not in the metadata."""
    return not (type_ == "table" and name and name.startswith("models_fts"))


def test_migrated_schema_matches_the_table_definitions(tmp_path):
    store = SqlMetadataStore.from_url(f"sqlite:///{tmp_path / 'm.db'}")
    store.prepare(migrate=True)
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": _ours})
        differences = compare_metadata(context, metadata)
    store.close()
    assert differences == []


def test_upgrade_is_idempotent_and_reaches_head(tmp_path):
    store = SqlMetadataStore.from_url(f"sqlite:///{tmp_path / 'm.db'}")
    store.prepare(migrate=True)
    store.prepare(migrate=True)
    assert migrate.current_revision(store.engine) == migrate.head_revision()
    store.close()
