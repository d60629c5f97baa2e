"""Alembic environment: runs on the connection handed over by ``model_service.stores.sql.migrate``."""

from alembic import context

from model_service.stores.sql.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
