"""Engine construction: one place that knows each dialect's connection settings.

SQLite runs in WAL mode with a busy timeout, and with pysqlite's own transaction handling
switched off so that write transactions can start with ``BEGIN IMMEDIATE``: the database-wide
write lock is taken up front, so two writers queue instead of failing to upgrade a read lock.

PostgreSQL goes through psycopg 3 with a pool per process: ``pool_size`` connections kept open
and as many again opened under load (waiting up to ``POOL_TIMEOUT_S`` for one beyond that), each
checked before use (a restarted server or a dropped idle connection costs one retry, not an
error) and replaced after ``POOL_RECYCLE_S``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_POOL_SIZE = 40
POSTGRESQL_POOL_SIZE = 10
POOL_TIMEOUT_S = 30
POOL_RECYCLE_S = 1800
# libpq settings a URL's own query string overrides.
POSTGRESQL_CONNECT_ARGS = {"application_name": "model-service", "connect_timeout": 10}


def normalize_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` mean psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str, *, sqlite_synchronous: str = "FULL", sqlite_mmap_size: int = 256 << 20,
                pool_size: int = POSTGRESQL_POOL_SIZE, pool_timeout: float = POOL_TIMEOUT_S) -> Engine:
    """An engine for ``url``. For SQLite the pool holds one connection per server worker thread
    (40, anyio's default), so connections and their PRAGMAs are made once, not per request;
    ``pool_size`` and ``pool_timeout`` are a server database's."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        connect_args = {key: value for key, value in POSTGRESQL_CONNECT_ARGS.items() if key not in parsed.query}
        return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_timeout=pool_timeout,
                             pool_recycle=POOL_RECYCLE_S, pool_pre_ping=True, connect_args=connect_args)

    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        pool_size=SQLITE_POOL_SIZE,
        max_overflow=SQLITE_POOL_SIZE,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={sqlite_synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA case_sensitive_like=ON")  # LIKE as in PostgreSQL; ILIKE ignores case
        cursor.execute(f"PRAGMA mmap_size={sqlite_mmap_size}")  # reads without a system call per page
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # sqlite_begin=None: no transaction at all (a single-statement read is atomic by itself).
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode is not None:
            connection.exec_driver_sql(f"BEGIN {mode}")

    return engine
