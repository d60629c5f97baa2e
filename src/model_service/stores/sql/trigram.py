"""PostgreSQL's index for text search: a pg_trgm GIN index on ``search_text``, so that ``q``
(``LIKE '%text%'`` over the text folded to lower case) reads the index instead of every row.

The extension is per database and creating it takes a role allowed to (PostgreSQL 13+: one with
CREATE on the database, pg_trgm being a trusted extension). Without it the index is left out
with a warning: text search still works, unindexed. Once the extension is there, ``model-service
db upgrade`` adds the index.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

INDEX = "ix_search_text_text_trgm"


def has_index(connection: Connection) -> bool:
    return connection.execute(text(
        "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'search_text' "
        "AND indexname = :name"
    ), {"name": INDEX}).first() is not None


def ensure_index(connection: Connection) -> bool:
    """Create the index (and the extension, if need be) inside the caller's transaction; a
    refusal is rolled back to a savepoint and leaves the transaction usable. True if the index
    exists afterwards."""
    if has_index(connection):
        return True
    schema = _extension_schema(connection) or _create_extension(connection)
    if schema is None:
        return False
    quoted = '"' + schema.replace('"', '""') + '"'
    connection.execute(text(f"CREATE INDEX {INDEX} ON search_text USING gin (text {quoted}.gin_trgm_ops)"))
    return True


def _create_extension(connection: Connection) -> str | None:
    """Create pg_trgm and return its schema; None, with a warning, if this role may not."""
    try:
        with connection.begin_nested():
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0]
        log.warning("Text search runs without an index: the pg_trgm extension could not be created (%s). "
                    "Have an administrator run CREATE EXTENSION pg_trgm in this database, then run "
                    "`model-service db upgrade` again.", reason)
        return None
    return _extension_schema(connection)


def _extension_schema(connection: Connection) -> str | None:
    """The schema pg_trgm is installed in (its operator class is named with it); None if it is not."""
    return connection.execute(text(
        "SELECT n.nspname FROM pg_extension AS e JOIN pg_namespace AS n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'"
    )).scalar()
