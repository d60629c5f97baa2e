"""The one retry loop of the stores' optimistic writes.

A store that reads, plans and then writes conditionally (a unique index on a version number, a
compare-and-swap on a revision) raises :class:`Contended` from its attempt when the condition
failed because another writer got there first; :func:`retrying` then reads and plans again,
after a short random pause, until the attempt applies or the attempts run out.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from ..errors import RegistryError

T = TypeVar("T")

VERSION_ATTEMPTS = 50
"""Registrations of one name racing for its next number."""

CHANGE_ATTEMPTS = 50
"""Updates and deletions of one version racing each other."""

ALIAS_ATTEMPTS = 100
"""Moves of one alias racing each other (deploy jobs may flip it from many places at once)."""


class Contended(Exception):
    """What a store's attempt read changed before its write applied: plan again from a fresh read."""


def pause(attempt: int) -> None:
    """A random pause that grows with the attempt, so racing writers spread out."""
    time.sleep(random.uniform(0, 0.002 * (attempt + 1)))


def retrying(attempt: Callable[[], T], *, attempts: int, exhausted: Callable[[], RegistryError],
             sleep: Callable[[int], None] = pause) -> T:
    """``attempt()`` until it returns without :class:`Contended`; after ``attempts`` contended
    attempts, the refusal ``exhausted()`` returns (a :class:`~..errors.Conflict`)."""
    for number in range(attempts):
        try:
            return attempt()
        except Contended:
            if number + 1 < attempts:
                sleep(number)
    raise exhausted()
