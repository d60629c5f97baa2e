"""The SQLite single writer: concurrent work is group-committed, failures stay with their work."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from model_service.stores.sql.engine import make_engine
from model_service.stores.sql.writer import SerialWriter


@pytest.fixture
def writer(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (v TEXT PRIMARY KEY)"))
    writer = SerialWriter(engine)
    yield writer
    writer.close()
    engine.dispose()


def insert(value: str, *, fail: bool = False):
    def work(connection):
        connection.execute(text("INSERT INTO t VALUES (:v)"), {"v": value})
        if fail:
            raise ValueError(f"{value} failed")
        return value

    return work


def stored(writer) -> set[str]:
    with writer.engine.connect() as connection:
        return {row[0] for row in connection.execute(text("SELECT v FROM t"))}


def test_results_and_errors_come_back_to_their_callers(writer):
    assert writer.run(insert("a")) == "a"
    with pytest.raises(ValueError, match="b failed"):
        writer.run(insert("b", fail=True))
    assert stored(writer) == {"a"}


def test_a_failure_in_a_batch_undoes_only_its_own_work(writer):
    gate = threading.Event()
    started = threading.Event()

    def hold(_connection):  # keeps the writer busy while the next batch queues up
        started.set()
        gate.wait(10)
        return "held"

    results: dict[str, object] = {}

    def submit(name, work):
        try:
            results[name] = writer.run(work)
        except Exception as exc:
            results[name] = exc

    first = threading.Thread(target=submit, args=("hold", hold))
    first.start()
    started.wait(10)
    queued = [threading.Thread(target=submit, args=(v, insert(v, fail=(v == "y")))) for v in ("x", "y", "z")]
    for thread in queued:
        thread.start()
    while writer._queue.qsize() < 3:  # all three wait behind the held transaction: one batch
        time.sleep(0.001)
    gate.set()
    for thread in [first, *queued]:
        thread.join(10)

    assert results["x"] == "x" and results["z"] == "z" and results["hold"] == "held"
    assert isinstance(results["y"], ValueError)
    assert stored(writer) == {"x", "z"}


def test_a_closed_writer_refuses_work(writer):
    writer.close()
    with pytest.raises(RuntimeError):
        writer.run(insert("late"))
