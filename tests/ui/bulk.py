"""A registry at scale, and the rows each SQL statement hands back to Python.

:func:`seed_versions` writes N versions (default 100,000: 5,000 names x 20 versions) into an
embedded SQLite registry in seconds, through the store's own engine and migrations, so the
search tables, their triggers and every index are the real ones: one ``executemany`` in one
transaction, the search tables filled set-wise (see :func:`seed_versions`). It returns what it
wrote (:class:`SeededVersion` rows, in insertion order) so that tests can compute the answer a
query should give.

:class:`RowCounter` counts, per statement, the rows the application FETCHED from SQLite (not the
statements alone): the engine's DBAPI connections are made with a ``sqlite3.Connection`` subclass
whose cursors (a ``sqlite3.Cursor`` subclass) add up what ``fetchone`` / ``fetchmany`` /
``fetchall`` / iteration return. Attach it to a built app's engine::

    counter = RowCounter.attach(engine)
    with counter.recording() as statements:
        client.get("/api/v1/models")
    max(s.rows for s in statements)
"""

from __future__ import annotations

import importlib
import random
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from model_service.domain.ids import new_id
from model_service.domain.naming import accuracy_of
from model_service.stores.sql.schema import models
from model_service.stores.sql.store import SqlMetadataStore

ALGORITHMS = ("xgboost", "random_forest", "lightgbm", "logistic_regression", "neural_network", "svm")
STATUSES = ("active",) * 7 + ("deprecated",) * 2 + ("archived",)
TAGS = ("fraud", "churn", "ranking", "vision", "nlp", "tabular", "production", "experiment", "baseline", "gpu")
DOMAINS = ("fraud", "churn", "recommender", "forecast", "vision", "speech", "ranking", "pricing", "risk", "ads")
BASE_TIME = datetime(2024, 1, 1, tzinfo=UTC)
SECONDS_APART = 300  # every version has its own created_at: the default sort has no ties
HYPERPARAMETERS = [{"learning_rate": rate, "max_depth": depth, "n_estimators": trees}
                   for rate in (0.001, 0.01, 0.05, 0.1) for depth in (3, 6, 9, 12) for trees in (50, 200, 500)]
TAG_SETS = [tuple(sorted({TAGS[a], TAGS[b], TAGS[c]})) for a in range(len(TAGS)) for b in range(a, len(TAGS))
            for c in range(b, len(TAGS))]
CREATORS = ("alice", "bob", "ci-pipeline", "carol")
INSERT_TRIGGER = "models_search_insert"
_SEARCH_MIGRATION = importlib.import_module("model_service.stores.sql.migrations.versions.0002_search")


@dataclass(frozen=True, slots=True)
class SeededVersion:
    """What a test needs to know of one row written by :func:`seed_versions`."""

    id: str
    name: str
    version: str
    algorithm: str
    status: str
    created_at: datetime
    metrics: dict[str, float]
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BulkSeed:
    database_url: str
    versions: list[SeededVersion]
    names: int
    per_name: int

    def __len__(self) -> int:
        return len(self.versions)


class _Columns:
    """Rows of ``models`` as the store writes them: each value through its column's own bind
    processor (JSON text, SQLite's datetime text); the documents that repeat are processed once."""

    def __init__(self, engine: Engine):
        columns = [column for column in models.columns if column.name != "seq"]
        self.plan = [(column.name, column.type.dialect_impl(engine.dialect).bind_processor(engine.dialect))
                     for column in columns]
        self.processors = dict(self.plan)
        self.insert = (f"INSERT INTO models ({', '.join(name for name, _ in self.plan)}) "
                       f"VALUES ({', '.join('?' * len(self.plan))})")

    def value(self, column: str, value: Any) -> Any:
        process = self.processors[column]
        return value if process is None or value is None else process(value)

    def row(self, values: dict[str, Any], stored: dict[str, Any]) -> tuple[Any, ...]:
        """``values`` as Python values, ``stored`` already processed (the repeated documents)."""
        row = []
        for name, process in self.plan:
            value = stored[name] if name in stored else values.get(name)
            row.append(value if process is None or value is None or name in stored else process(value))
        return tuple(row)


def seed_versions(database: Path, *, names: int = 5_000, per_name: int = 20, seed: int = 7) -> BulkSeed:
    """Create (migrate) the SQLite registry ``database`` and write ``names x per_name`` versions.

    Version ``k`` of every name is written before version ``k+1`` of any, each ``SECONDS_APART``
    after the one before, so lineages run forward in time and created_at is unique. About 70% of
    the versions have a file (metadata only: listings never open one, so no blob is written).

    Speed: the rows go in with one ``executemany``. Filled row by row, the insert trigger costs
    ~0.3 ms a version (30 s for 100,000), so — as migration 0002 did for the rows that existed
    before it — the trigger is dropped for the insert, the search tables are filled by that
    migration's own backfill statements, and the trigger is put back from its stored text, all in
    the one transaction: the database ends with the real trigger, the real indexes and the rows
    the trigger would have written.
    """
    url = f"sqlite:///{database}"
    store = SqlMetadataStore.from_url(url, sqlite_synchronous="NORMAL")
    try:
        store.prepare(migrate=True)
        columns = _Columns(store.engine)
        versions, rows = _generate(columns, names, per_name, random.Random(seed))
        _insert(store.engine, columns.insert, rows)
    finally:
        store.close()
    return BulkSeed(database_url=url, versions=versions, names=names, per_name=per_name)


def _generate(columns: _Columns, names: int, per_name: int,
              rng: random.Random) -> tuple[list[SeededVersion], list[tuple[Any, ...]]]:
    draw = rng.random
    hyperparameters = [columns.value("hyperparameters", doc) for doc in HYPERPARAMETERS]
    tag_sets = [(tags, columns.value("tags", list(tags))) for tags in TAG_SETS]
    name_list = [f"{DOMAINS[i % len(DOMAINS)]}_model_{i:05d}" for i in range(names)]
    datasets = [columns.value("dataset_info", {"name": f"{DOMAINS[i % len(DOMAINS)]}_data_{i % 97}",
                                               "rows": 1_000 * (1 + i % 500)}) for i in range(names)]
    latest: list[str | None] = [None] * names
    versions: list[SeededVersion] = []
    rows: list[tuple[Any, ...]] = []
    for step in range(per_name):
        major, minor = 1 + step // 5, step % 5
        version = f"v{major}.{minor}"
        for index, name in enumerate(name_list):
            created_at = BASE_TIME + timedelta(seconds=SECONDS_APART * (step * names + index))
            metrics = {"accuracy": round(0.55 + 0.44 * draw(), 4)}
            if draw() < 0.9:  # a tenth of the versions lack f1_score: they sort last on it
                metrics["f1_score"] = round(0.5 + 0.48 * draw(), 4)
            if draw() < 0.5:
                metrics["auc"] = round(0.6 + 0.399 * draw(), 4)
            tags, stored_tags = tag_sets[int(draw() * len(tag_sets))]
            algorithm = ALGORITHMS[int(draw() * len(ALGORITHMS))]
            status = STATUSES[int(draw() * len(STATUSES))]
            model_id = new_id(created_at.timestamp())
            values: dict[str, Any] = {
                "id": model_id, "name": name, "version_major": major, "version_minor": minor,
                "algorithm": algorithm, "metrics": metrics,
                "description": "" if index % 10 else f"retrained {created_at:%Y-%m-%d}",
                "created_by": CREATORS[index % len(CREATORS)], "status": status, "parent_model_id": latest[index],
                "created_at": created_at, "updated_at": created_at, "download_count": int(draw() * 500),
                "accuracy": accuracy_of(metrics),
            }
            if draw() < 0.7:
                values.update(format="pickle", file_sha256=f"{rng.getrandbits(256):064x}",
                              file_size=1_000 + int(draw() * 50_000_000), file_format="pickle",
                              file_name="model.pkl", file_content_type="application/octet-stream",
                              file_uploaded_at=created_at + timedelta(seconds=30))
            rows.append(columns.row(values, {
                "hyperparameters": hyperparameters[int(draw() * len(hyperparameters))],
                "dataset_info": datasets[index], "tags": stored_tags}))
            versions.append(SeededVersion(id=model_id, name=name, version=version, algorithm=algorithm,
                                          status=status, created_at=created_at, metrics=metrics, tags=tags))
            latest[index] = model_id
    return versions, rows


def _insert(engine: Engine, insert_rows: str, rows: list[tuple[Any, ...]]) -> None:
    with engine.begin() as connection:
        if connection.exec_driver_sql("SELECT count(*) FROM models").scalar_one():
            raise ValueError("seed_versions fills an empty registry (the backfill reads every row)")
        connection.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MiB: the indexes stay in memory
        trigger = connection.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (INSERT_TRIGGER,)).scalar_one()
        if _words(trigger) != _words(_SEARCH_MIGRATION.SQLITE_TRIGGERS[0]):
            raise AssertionError(f"{INSERT_TRIGGER} is no longer migration 0002's: fill the search tables the way "
                                 "the current trigger does (or insert with the trigger in place)")
        connection.exec_driver_sql(f"DROP TRIGGER {INSERT_TRIGGER}")
        connection.exec_driver_sql(insert_rows, rows)
        for statement in _SEARCH_MIGRATION.SQLITE_BACKFILL:
            connection.exec_driver_sql(statement)
        connection.exec_driver_sql(trigger)


def _words(sql: str) -> str:
    return " ".join(sql.split())


# ---- rows fetched per statement --------------------------------------------------------------


@dataclass(slots=True)
class Statement:
    """One SQL statement the application ran, and how many rows it fetched from its result."""

    sql: str
    rows: int = 0

    def __str__(self) -> str:
        one_line = " ".join(self.sql.split())
        return f"{self.rows} rows: {one_line[:300]}{'…' if len(one_line) > 300 else ''}"


@dataclass
class _Recording:
    lock: threading.Lock = field(default_factory=threading.Lock)
    statements: list[Statement] | None = None

    def begin(self, sql: str) -> Statement | None:
        with self.lock:
            if self.statements is None:
                return None
            statement = Statement(sql)
            self.statements.append(statement)
            return statement


class CountingCursor(sqlite3.Cursor):
    """A cursor that records each statement it executes and adds up the rows it returns.

    (The C implementations of fetchone/fetchmany/fetchall do not go through ``__next__``, so no
    row is counted twice.)"""

    _statement: Statement | None = None

    def _begin(self, sql: str) -> None:
        self._statement = self.connection.recording.begin(sql)

    def _count(self, rows: int) -> None:
        if self._statement is not None and rows:
            self._statement.rows += rows

    def execute(self, sql: str, parameters: Any = (), /) -> CountingCursor:
        self._begin(sql)
        return super().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> CountingCursor:
        self._begin(sql)
        return super().executemany(sql, seq_of_parameters)

    def fetchone(self) -> Any:
        row = super().fetchone()
        self._count(row is not None)
        return row

    def fetchmany(self, *args: Any, **kwargs: Any) -> list[Any]:
        rows = super().fetchmany(*args, **kwargs)
        self._count(len(rows))
        return rows

    def fetchall(self) -> list[Any]:
        rows = super().fetchall()
        self._count(len(rows))
        return rows

    def __next__(self) -> Any:
        row = super().__next__()
        self._count(1)
        return row


class CountingConnection(sqlite3.Connection):
    """``sqlite3.connect(factory=…)``: every cursor it makes (``execute`` on the connection too,
    which goes through ``cursor()``) counts. ``recording`` is set on the subclass made per counter."""

    recording: _Recording

    def cursor(self, factory: type[sqlite3.Cursor] = CountingCursor) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(factory)


class RowCounter:
    """Counts the rows each statement fetches on one SQLite engine, while :meth:`recording`."""

    def __init__(self) -> None:
        self._recording = _Recording()
        self.connection_class = type("CountingConnection", (CountingConnection,), {"recording": self._recording})

    @classmethod
    def attach(cls, engine: Engine) -> RowCounter:
        """Make every new DBAPI connection of ``engine`` a counting one, and drop the pooled ones
        (made before), so that from now on each statement it runs is seen."""
        if engine.dialect.name != "sqlite":
            raise ValueError("RowCounter counts sqlite3 cursors")
        counter = cls()

        @event.listens_for(engine, "do_connect")
        def _counting(_dialect, _record, _cargs, cparams):
            cparams["factory"] = counter.connection_class

        engine.dispose()
        return counter

    @contextmanager
    def recording(self) -> Iterator[list[Statement]]:
        """The statements run (on any thread) inside the block, each with the rows it fetched."""
        statements: list[Statement] = []
        with self._recording.lock:
            if self._recording.statements is not None:
                raise RuntimeError("already recording")
            self._recording.statements = statements
        try:
            yield statements
        finally:
            with self._recording.lock:
                self._recording.statements = None
