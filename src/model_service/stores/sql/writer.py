"""One writer thread per SQLite database, with group commit.

SQLite admits one writer at a time. Letting every request thread take turns costs more than the
writes themselves: each hand-over of the write lock (or of SQLite's busy handler, which polls
with sleeps of up to 100 ms) wakes another thread that must then win the GIL back from the event
loop. Here the writes of this process queue for one thread, which runs everything queued in one
transaction: each piece of work inside its own SAVEPOINT (a failure rolls back only that work and
is raised to its caller), then a single COMMIT (and fsync) for all of them.

Other processes writing the same file still serialise through ``BEGIN IMMEDIATE`` and the busy
timeout.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_BATCH = 64

_Work = Callable[[Connection], object]


class SerialWriter:
    def __init__(self, engine: Engine, *, name: str = "sqlite-writer", max_batch: int = MAX_BATCH):
        self.engine = engine
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[_Work, Future] | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(connection)`` inside a write transaction; return once it is committed.

        Exceptions raised by ``work`` come back unchanged, its statements undone (its savepoint,
        or its transaction when it ran alone); a failure of the transaction itself (BEGIN or
        COMMIT) comes back as the database's exception to every caller in the batch.
        """
        if self._closed:
            raise RuntimeError("the writer is closed")
        future: Future = Future()
        self._queue.put((work, future))
        return future.result()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[_Work, Future]]) -> None:
        outcomes: list[tuple[Future, object, BaseException | None]] = []
        try:
            with self.engine.connect() as connection:
                connection.execution_options(sqlite_begin="IMMEDIATE")
                with connection.begin():
                    if len(batch) == 1:  # alone in its transaction: no savepoint needed
                        work, future = batch[0]
                        outcomes.append((future, work(connection), None))
                    else:
                        self._run_each(connection, batch, outcomes)
        except BaseException as exc:
            for _work, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, result, error in outcomes:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    @staticmethod
    def _run_each(connection: Connection, batch: list[tuple[_Work, Future]],
                  outcomes: list[tuple[Future, object, BaseException | None]]) -> None:
        """Each piece of work in its own savepoint: a failure undoes only its own statements."""
        for work, future in batch:
            savepoint = connection.begin_nested()
            try:
                result = work(connection)
            except BaseException as exc:
                savepoint.rollback()
                outcomes.append((future, None, exc))
            else:
                savepoint.commit()
                outcomes.append((future, result, None))

