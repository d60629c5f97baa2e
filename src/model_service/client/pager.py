"""Lists that walk every page of the answer, lazily."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

# fetch(page) → (the page's items, the answer's ``pagination`` {page, limit, total, pages})
Fetch = Callable[[int], tuple[list[T], dict[str, Any]]]


class Pager(Generic[T]):
    """Every item of a paged list. A page is requested only when iteration reaches it, so
    ``next(iter(pager))`` costs one request whatever the total; iterating again starts again from
    the first page (with fresh requests).

    Pages are numbered, and the list is newest first: a version registered while the pages are
    walked pushes the others one place down, which would show one of them twice. Items are
    therefore told apart by ``id`` and never yielded twice in one walk.

    ``limit`` stops the walk after that many items.
    """

    def __init__(self, fetch: Fetch[T], *, start: int = 1, limit: int | None = None):
        if start < 1:
            raise ValueError("pages are numbered from 1")
        if limit is not None and limit < 0:
            raise ValueError("limit cannot be negative")
        self._fetch = fetch
        self._start = start
        self._limit = limit
        self._first: tuple[list[T], dict[str, Any]] | None = None

    def pages(self) -> Iterator[list[T]]:
        """The pages themselves, as lists, each fetched when it is reached."""
        page = self._start
        while True:
            if page == self._start and self._first is not None:
                items, pagination = self._first
                self._first = None  # a cached first page serves one walk only: the next one asks afresh
            else:
                items, pagination = self._fetch(page)
            if items:
                yield items
            if not items or page >= int(pagination.get("pages") or 0):
                return
            page += 1

    def __iter__(self) -> Iterator[T]:
        seen: set[Any] = set()
        count = 0
        if self._limit == 0:
            return
        for items in self.pages():
            for item in items:
                key = item.get("id") if isinstance(item, dict) else None
                if key is not None:
                    if key in seen:
                        continue
                    seen.add(key)
                yield item
                count += 1
                if self._limit is not None and count >= self._limit:
                    return

    @property
    def total(self) -> int:
        """How many items match, as the server counts them (fetches the first page if needed;
        the next walk reuses it)."""
        if self._first is None:
            self._first = self._fetch(self._start)
        total = int(self._first[1].get("total") or 0)
        return total if self._limit is None else min(total, self._limit)

    def first(self) -> T | None:
        """The first item, or None: one request."""
        return next(iter(self), None)

    def to_list(self) -> list[T]:
        return list(self)

    def __repr__(self) -> str:
        return f"<Pager from page {self._start}{'' if self._limit is None else f', at most {self._limit} items'}>"
