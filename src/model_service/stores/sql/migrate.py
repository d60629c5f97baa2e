"""Alembic, driven programmatically: the migrations ship inside the package."""

from __future__ import annotations

from functools import lru_cache

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from . import trigram

SCRIPT_LOCATION = "model_service.stores.sql:migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # the package ships its migrations: only a broken installation has none
        raise RuntimeError(f"No database migrations found in {SCRIPT_LOCATION}: reinstall the package")
    return head


@lru_cache(maxsize=1)
def known_revisions() -> frozenset[str]:
    """Every revision this version of the service ships (one newer than these: a newer release's)."""
    return frozenset(script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions())


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as connection:
        before = MigrationContext.configure(connection).get_current_revision()
        command.upgrade(_config(connection), revision)
        if connection.dialect.name == "postgresql" and before == head_revision():
            # already current: the text index 0003 had to leave out, if pg_trgm has been installed since
            trigram.ensure_index(connection)
