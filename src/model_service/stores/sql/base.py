"""What every concern of the SQL store shares: connections for reading, one write transaction
per change, the locks that serialise it, and SQLAlchemy's exceptions translated at the edge.

Concurrency: every write runs in one transaction. On SQLite it starts with ``BEGIN IMMEDIATE``
(one writer at a time, database-wide) and runs on the database's single writer thread
(``writer.py``). On PostgreSQL (READ COMMITTED) registrations of one name are serialised by a
transaction-scoped advisory lock on the name, with the unique ``(name, major, minor)``
constraint plus retry behind it; blob references are serialised per sha256 with another advisory
lock; changes to a version lock its row first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ...domain.audit import AuditHook
from ...domain.errors import Invalid, Unavailable
from ...domain.plans.retry import Contended
from .rows import insert_audit
from .writer import SerialWriter

T = TypeVar("T")

NAME_LOCK_CLASS = 0x4D53_0001  # the advisory locks (class, key) of names; blobs use single 64-bit keys


def unavailable(exc: SQLAlchemyError) -> Unavailable:
    if isinstance(exc, PoolTimeout):
        return Unavailable("The metadata database has no free connection: every one in this process's pool is "
                           "busy (DATABASE_POOL_SIZE)", code="database_busy")
    message = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
    if "disk is full" in message or "No space left" in message:
        return Unavailable("The metadata database is out of space", code="storage_full")
    return Unavailable(f"The metadata database failed: {message}", code="database_error")


def unstorable(exc: DataError) -> Invalid:
    """A value the database cannot hold (PostgreSQL: a NUL character in text), refused as the
    client's to fix rather than reported as an outage."""
    message = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
    return Invalid(f"The metadata database cannot store this value: {message}", code="unstorable_value")


def _audited(work: Callable[[Connection], T], audit: AuditHook) -> Callable[[Connection], T]:
    """``work``, then the audit record of its result, on the same connection (one transaction)."""
    def run(connection: Connection) -> T:
        result = work(connection)
        record = audit(result)
        if record is not None:
            insert_audit(connection, record)
        return result
    return run


class SqlBase:
    """The engine and its plumbing; each concern of the store is a mixin on top of it."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.dialect = engine.dialect.name
        self._writer = SerialWriter(engine) if self.dialect == "sqlite" else None
        self.local_point_reads = self.dialect == "sqlite"

    @contextmanager
    def _read(self, *, snapshot: bool = False) -> Iterator[Connection]:
        """A connection for reading; ``snapshot`` reads several statements from one snapshot of
        the database: one transaction (SQLite's are snapshots), REPEATABLE READ on PostgreSQL,
        whose default gives each statement a snapshot of its own. A single statement is atomic
        by itself (and skips BEGIN/ROLLBACK on SQLite)."""
        try:
            with self.engine.connect() as connection:
                if not snapshot:
                    connection.execution_options(sqlite_begin=None)
                elif self.dialect == "postgresql":
                    connection.execution_options(isolation_level="REPEATABLE READ")
                yield connection
        except DataError as exc:
            raise unstorable(exc) from exc
        except (OperationalError, DBAPIError, PoolTimeout) as exc:
            raise unavailable(exc) from exc

    def _transact(self, work: Callable[[Connection], T], audit: AuditHook | None = None) -> T:
        """Run ``work`` in one write transaction, with the audit record ``audit`` makes of its
        result. IntegrityError passes through (the caller knows what a clash means); a value
        the database cannot hold becomes :class:`Invalid`, other database failures
        :class:`Unavailable`.

        SQLite: on the database's single writer thread, group-committed (``writer.py``).
        """
        if audit is not None:
            work = _audited(work, audit)
        try:
            if self._writer is not None:
                return self._writer.run(work)
            with self.engine.connect() as connection, connection.begin():
                return work(connection)
        except IntegrityError:
            raise
        except DataError as exc:
            raise unstorable(exc) from exc
        except (OperationalError, DBAPIError, PoolTimeout) as exc:
            raise unavailable(exc) from exc

    def _attempt(self, work: Callable[[Connection], T], audit: AuditHook | None = None) -> T:
        """One attempt of an optimistic write (:func:`~...domain.plans.retry.retrying`): a
        uniqueness constraint refusing it means another writer got there first."""
        try:
            return self._transact(work, audit)
        except IntegrityError as exc:
            raise Contended() from exc

    def _lock_blob(self, connection: Connection, sha256: str) -> None:
        """Serialise reference changes to one blob until this transaction ends."""
        if self.dialect == "postgresql":
            key = int.from_bytes(bytes.fromhex(sha256[:16]), "big", signed=True)
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        # SQLite: BEGIN IMMEDIATE already holds the database-wide write lock.

    def _lock_name(self, connection: Connection, name: str) -> None:
        """Serialise the registrations of one name until this transaction ends: each then reads
        the latest version after the previous one committed (READ COMMITTED reads afresh per
        statement), so a number is never computed from a stale latest — not even a major bump
        racing a minor one, which the unique constraint alone would let through."""
        if self.dialect == "postgresql":
            key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "big", signed=True)
            connection.execute(text("SELECT pg_advisory_xact_lock(CAST(:class_ AS integer), CAST(:key AS integer))"),
                               {"class_": NAME_LOCK_CLASS, "key": key})
