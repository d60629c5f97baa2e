"""PostgreSQL: every store made gets a schema of its own in a database made for the test session.

The server is ``TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``): a
database to connect to, as a role that may create databases. If it does not answer, the
PostgreSQL tests are skipped, unless ``CI=true``: there they fail, so that a missing server
cannot pass unnoticed.

A store's connections put its schema first on their ``search_path``, so its tables, triggers and
Alembic's version table are its own; ``public`` follows, for ``pg_trgm`` (an extension is per
database), which is installed there up front. The session's database is dropped at the end.
Where the server has ICU, that database's default collation is ``en-US`` rather than byte order,
as on most installations, so the store is tested not to depend on the database's locale.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from model_service.stores.sql.store import SqlMetadataStore

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
DATABASE_PREFIX = "ms_test_"


def _libpq(url: str) -> str:
    """A SQLAlchemy-style URL as libpq takes it (no ``+driver``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresServer:
    """The test server: the session's database (a schema in it per store), and databases of
    their own for the tests that need a whole one."""

    def __init__(self, url: str):
        self.url = url
        self.admin = psycopg.connect(_libpq(url), autocommit=True, connect_timeout=5)
        self.database = self.create_database()
        try:
            self.connection = self.connect(self.database)
            self.connection.execute("SET lock_timeout = '30s'")
            # not on every server: without it the stores' text search runs unindexed
            with contextlib.suppress(psycopg.errors.UndefinedFile):
                self.connection.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        except BaseException:
            self.drop_database(self.database)
            raise

    def url_of(self, database: str, schema: str | None = None) -> str:
        url = make_url(self.url).set(database=database)
        if schema is not None:
            url = url.update_query_dict({"options": f"-csearch_path={schema},public"})
        return url.render_as_string(hide_password=False)

    def connect(self, database: str) -> psycopg.Connection:
        """An autocommit connection to ``database`` as the tests' role (a context manager)."""
        return psycopg.connect(_libpq(self.url_of(database)), autocommit=True)

    def create_database(self) -> str:
        """A new empty database, with the en-US collation if the server has ICU."""
        name = DATABASE_PREFIX + secrets.token_hex(6)
        try:
            self._execute(self.admin, "CREATE DATABASE {} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'",
                          name)
        except psycopg.Error:  # before PostgreSQL 15, or without ICU
            self._execute(self.admin, "CREATE DATABASE {}", name)
        return name

    def drop_database(self, database: str) -> None:
        self._execute(self.admin, "DROP DATABASE IF EXISTS {} WITH (FORCE)", database)

    def create_schema(self) -> str:
        """A new empty schema in the session's database; a store's URL is ``url_of(database, schema)``."""
        name = "store_" + secrets.token_hex(6)
        self._execute(self.connection, "CREATE SCHEMA {}", name)
        return name

    def drop_schema(self, schema: str) -> None:
        self._execute(self.connection, "DROP SCHEMA IF EXISTS {} CASCADE", schema)

    def close(self) -> None:
        self.connection.close()
        self.drop_database(self.database)
        self.admin.close()

    @staticmethod
    def _execute(connection: psycopg.Connection, statement: str, *names: str) -> None:
        connection.execute(sql.SQL(statement).format(*map(sql.Identifier, names)))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    url = os.environ.get("TEST_POSTGRES_URL", DEFAULT_URL)
    try:
        server = PostgresServer(url)
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL at {make_url(url).render_as_string(hide_password=True)} is unreachable: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true: the PostgreSQL tests must run; set TEST_POSTGRES_URL)", pytrace=False)
        pytest.skip(message)
    yield server
    server.close()


@pytest.fixture
def postgresql_database(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new database of its own, without any schema, dropped after the test."""
    database = postgres_server.create_database()
    yield postgres_server.url_of(database)
    postgres_server.drop_database(database)


@pytest.fixture
def postgresql_metadata_factory(postgres_server: PostgresServer) -> Iterator:
    yield from _schema_factory(postgres_server)


@pytest.fixture(scope="module")
def postgresql_module_metadata_factory(postgres_server: PostgresServer) -> Iterator:
    yield from _schema_factory(postgres_server)


def _schema_factory(postgres_server: PostgresServer) -> Iterator:
    created: list[str] = []

    def make(_name: str = "main", *, prepared: bool = True) -> SqlMetadataStore:  # a schema of its own
        schema = postgres_server.create_schema()
        created.append(schema)
        store = SqlMetadataStore.from_url(postgres_server.url_of(postgres_server.database, schema))
        if prepared:
            store.prepare(migrate=True)
        return store

    yield make
    for schema in created:
        postgres_server.drop_schema(schema)
