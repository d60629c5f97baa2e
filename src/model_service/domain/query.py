"""Search queries as one typed tree: filters, sort keys, the page, and the seed's simple parameters.

A filter expression (parsed by :mod:`.filters`) and the seed's simple query parameters
(:class:`SimpleFilters`) both become this tree (:class:`Comparison`, :class:`InList`,
:class:`Like`, :class:`IsNull`, :class:`And`, :class:`Or`, :class:`Not`, :class:`TextSearch`);
each metadata store translates it into its own query language. Nothing here touches a database,
and no store filters in Python after fetching.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .errors import Invalid, Malformed
from .versions import Version


class ValueType(enum.Enum):
    STRING = "string"
    NUMBER = "number"
    DATETIME = "datetime"
    VERSION = "version"
    ANY = "any"  # hyperparameters: numbers, strings or booleans


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A filterable, sortable quantity: a column (``kind="field"``), one metric, one
    hyperparameter (nested keys joined with dots), or the version's tags."""

    kind: str  # "field" | "metric" | "param" | "tags"
    name: str
    type: ValueType

    def __str__(self) -> str:
        prefix = {"metric": "metrics.", "param": "hyperparameters."}.get(self.kind, "")
        return prefix + self.name


# The version's own columns: name → type. ``accuracy`` is the accuracy-like metric
# (naming.ACCURACY_METRICS: test_accuracy, then accuracy, …), kept as a column by the stores.
FIELDS: dict[str, ValueType] = {
    "id": ValueType.STRING,
    "name": ValueType.STRING,
    "version": ValueType.VERSION,
    "algorithm": ValueType.STRING,
    "status": ValueType.STRING,
    "created_by": ValueType.STRING,
    "description": ValueType.STRING,
    "format": ValueType.STRING,
    "parent_model_id": ValueType.STRING,
    "created_at": ValueType.DATETIME,
    "updated_at": ValueType.DATETIME,
    "download_count": ValueType.NUMBER,
    "size_bytes": ValueType.NUMBER,
    "accuracy": ValueType.NUMBER,
}
SORTABLE = frozenset(FIELDS) - {"description", "parent_model_id"}
TAGS = FieldRef("tags", "tags", ValueType.STRING)

Value = str | float | bool | datetime | Version


# ---- the tree ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Comparison:
    field: FieldRef
    op: str  # = != < <= > >=
    value: Value


@dataclass(frozen=True, slots=True)
class InList:
    field: FieldRef
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Like:
    """SQL ``LIKE`` pattern (``%`` any run, ``_`` one character); ``ILIKE`` ignores case. Only
    on text: a string field, or a hyperparameter (matched where its value is a string)."""

    field: FieldRef
    pattern: str
    case_sensitive: bool = True
    negated: bool = False

    def __post_init__(self) -> None:
        if self.field.type not in (ValueType.STRING, ValueType.ANY):
            raise Malformed(f"LIKE needs a text field; {self.field} is a {self.field.type.value}",
                            code="invalid_filter")


@dataclass(frozen=True, slots=True)
class IsNull:
    """The field has no value: a metric or hyperparameter the version does not have, a version
    without a file (``size_bytes``), a version without tags."""

    field: FieldRef
    negated: bool = False


@dataclass(frozen=True, slots=True)
class TextSearch:
    """Case-insensitive substring of the name, algorithm, description or a tag (the seed's ``q``)."""

    text: str


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


Node = Comparison | InList | Like | IsNull | TextSearch | And | Or | Not


@dataclass(frozen=True, slots=True)
class SortKey:
    field: FieldRef
    descending: bool = False


DEFAULT_SORT = (SortKey(FieldRef("field", "created_at", ValueType.DATETIME), descending=True),)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to find (``where``; None: everything), in which order, and which page of it.

    Stores order by ``sort``, then by insertion order in the direction of the last sort key, so
    pages are stable; versions lacking a sort key's value (a missing metric) come last in either
    direction.
    """

    where: Node | None = None
    sort: tuple[SortKey, ...] = DEFAULT_SORT
    offset: int = 0
    limit: int = 20

    def __post_init__(self) -> None:
        if self.offset < 0 or self.limit < 1:
            raise Malformed("A page starts at 1 and holds at least one version", code="invalid_page")


def all_of(*nodes: Node | None) -> Node | None:
    """The conjunction of the given nodes (None ones left out); None when there are none."""
    items = tuple(n for n in nodes if n is not None)
    if not items:
        return None
    return items[0] if len(items) == 1 else And(items)


def parse_datetime(value: str) -> datetime | None:
    """ISO 8601 date or date-time; without a zone it is UTC. None if it is not one, or lies
    beyond the calendar once in UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip())  # "Z" for UTC too, since Python 3.11
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def as_utc(value: datetime, what: str) -> datetime:
    """A request's time in UTC, or a 422 naming the parameter (a zone can push it off the calendar)."""
    parsed = parse_datetime(value.isoformat())
    if parsed is None:
        raise Invalid(f"{what} is not a time that exists in UTC", code="invalid_time",
                      details={"parameter": what, "value": value.isoformat()})
    return parsed


@dataclass(frozen=True, slots=True)
class SimpleFilters:
    """The seed's query parameters (and a few more), each an exact, documented condition."""

    algorithm: str | None = None
    status: str | None = None
    name: str | None = None
    created_by: str | None = None
    tags: tuple[str, ...] = ()  # any of
    tags_all: tuple[str, ...] = ()  # all of
    q: str | None = None
    min_accuracy: float | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    extra: tuple[Node, ...] = field(default_factory=tuple)

    def to_node(self) -> Node | None:
        def column(name: str) -> FieldRef:
            return FieldRef("field", name, FIELDS[name])

        nodes: list[Node] = []
        for name in ("algorithm", "status", "name", "created_by"):
            value = getattr(self, name)
            if value is not None:
                nodes.append(Comparison(column(name), "=", value))
        if self.tags:
            nodes.append(InList(TAGS, tuple(self.tags)))
        nodes.extend(Comparison(TAGS, "=", tag) for tag in self.tags_all)
        if self.q:
            if any(ord(c) < 32 for c in self.q):
                raise Invalid("q may not contain control characters", code="invalid_query", details={"parameter": "q"})
            nodes.append(TextSearch(self.q))
        if self.min_accuracy is not None:
            nodes.append(Comparison(column("accuracy"), ">=", float(self.min_accuracy)))
        if self.created_after is not None:
            nodes.append(Comparison(column("created_at"), ">=", self.created_after))
        if self.created_before is not None:
            nodes.append(Comparison(column("created_at"), "<", self.created_before))
        return all_of(*nodes, *self.extra)
