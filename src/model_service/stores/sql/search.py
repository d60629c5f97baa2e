"""The filter tree (``domain.query``) in SQL: SQLAlchemy Core expressions over the models table
and its per-key search tables, for SQLite and PostgreSQL alike.

Every condition is answered by an index: columns by their own indexes, metrics, hyperparameters
and tags by ``id IN (SELECT model_id FROM <table> WHERE key = … AND value …)`` on the tables'
``(key, value)`` indexes, and ``q`` by the trigram text index. A comparison is false for a
version that lacks the value (a missing metric, no file); ``IS NULL`` finds those.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    false,
    func,
    literal_column,
    not_,
    nulls_last,
    or_,
    select,
    table,
    true,
    tuple_,
)
from sqlalchemy import column as sql_column

from ...domain.errors import Malformed
from ...domain.query import (
    And,
    Comparison,
    FieldRef,
    InList,
    IsNull,
    Like,
    Node,
    Not,
    Or,
    SearchQuery,
    SortKey,
    TextSearch,
    Value,
)
from ...domain.versions import Version
from .schema import model_metrics, model_params, model_tags, models, search_text

_COLUMNS = {
    "id": models.c.id,
    "name": models.c.name,
    "algorithm": models.c.algorithm,
    "status": models.c.status,
    "created_by": models.c.created_by,
    "description": models.c.description,
    "format": models.c.format,
    "parent_model_id": models.c.parent_model_id,
    "created_at": models.c.created_at,
    "updated_at": models.c.updated_at,
    "download_count": models.c.download_count,
    "size_bytes": models.c.file_size,
    "accuracy": models.c.accuracy,
}
_VERSION = tuple_(models.c.version_major, models.c.version_minor)
_FTS = table("models_fts", sql_column("rowid"))
MIN_INDEXED_TEXT = 3  # the trigram index answers substrings of three characters or more
ESCAPE = "\\"


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    return {
        "=": column == value,
        "!=": column != value,
        "<": column < value,
        "<=": column <= value,
        ">": column > value,
        ">=": column >= value,
    }[op]


def _like(column: Any, node: Like) -> ColumnElement[bool]:
    if node.case_sensitive:
        return column.like(node.pattern, escape=ESCAPE)
    return column.ilike(node.pattern, escape=ESCAPE)


def _having(source: Any, key_column: Any, key: str, condition: ColumnElement[bool] | None = None):
    """``models.id IN (SELECT model_id FROM source WHERE key = … [AND condition])``."""
    query = select(source.c.model_id).where(key_column == key)
    if condition is not None:
        query = query.where(condition)
    return models.c.id.in_(query)


def _param_condition(op: str, value: Value) -> ColumnElement[bool]:
    """A hyperparameter's typed value compared with a literal of the same type."""
    if isinstance(value, bool):
        return and_(model_params.c.kind == "bool", _compare(model_params.c.num, op, 1.0 if value else 0.0))
    if isinstance(value, float):
        return and_(model_params.c.kind == "number", _compare(model_params.c.num, op, value))
    return and_(model_params.c.kind == "string", _compare(model_params.c.text, op, value))


def _field_value(ref: FieldRef, value: Value) -> Any:
    return (value.major, value.minor) if isinstance(value, Version) else value


class SqlSearch:
    """Builds the statements of one search for one dialect."""

    def __init__(self, dialect: str):
        self.dialect = dialect

    # ---- WHERE ----------------------------------------------------------------------------

    def where(self, node: Node | None) -> ColumnElement[bool]:
        if node is None:
            return true()
        if isinstance(node, And):
            return and_(*(self.where(item) for item in node.items))
        if isinstance(node, Or):
            return or_(*(self.where(item) for item in node.items))
        if isinstance(node, Not):
            return not_(self.where(node.item))
        if isinstance(node, TextSearch):
            return self._text(node.text)
        ref = node.field
        if ref.kind == "tags":
            return self._tags(node)
        if ref.kind == "metric":
            return self._metric(node)
        if ref.kind == "param":
            return self._param(node)
        return self._column(node)

    def _column(self, node: Comparison | InList | Like | IsNull) -> ColumnElement[bool]:
        ref = node.field
        column = _VERSION if ref.name == "version" else _COLUMNS[ref.name]
        if isinstance(node, Comparison):
            return _compare(column, node.op, _field_value(ref, node.value))
        if isinstance(node, InList):
            values = [_field_value(ref, v) for v in node.values]
            return column.not_in(values) if node.negated else column.in_(values)
        if isinstance(node, Like):
            condition = _like(column, node)
            return not_(condition) if node.negated else condition
        if ref.name == "version":
            return false() if not node.negated else true()
        return column.is_not(None) if node.negated else column.is_(None)

    def _metric(self, node: Comparison | InList | IsNull) -> ColumnElement[bool]:
        key = node.field.name
        value = model_metrics.c.value
        if isinstance(node, Comparison):
            return _having(model_metrics, model_metrics.c.key, key, _compare(value, node.op, node.value))
        if isinstance(node, InList):
            values = list(node.values)
            return _having(model_metrics, model_metrics.c.key, key,
                           value.not_in(values) if node.negated else value.in_(values))
        has = _having(model_metrics, model_metrics.c.key, key)
        return has if node.negated else not_(has)

    def _param(self, node: Comparison | InList | Like | IsNull) -> ColumnElement[bool]:
        key = node.field.name
        if isinstance(node, Comparison):
            return _having(model_params, model_params.c.key, key, _param_condition(node.op, node.value))
        if isinstance(node, InList):
            matches = or_(*(_param_condition("=", v) for v in node.values))
            return _having(model_params, model_params.c.key, key, not_(matches) if node.negated else matches)
        if isinstance(node, Like):
            condition = _like(model_params.c.text, node)
            return _having(model_params, model_params.c.key, key,
                           and_(model_params.c.kind == "string", not_(condition) if node.negated else condition))
        has = _having(model_params, model_params.c.key, key, model_params.c.kind != "null")
        return has if node.negated else not_(has)

    def _tags(self, node: Comparison | InList | Like | IsNull) -> ColumnElement[bool]:
        tag = model_tags.c.tag
        if isinstance(node, Comparison):
            has = models.c.id.in_(select(model_tags.c.model_id).where(tag == node.value))
            return not_(has) if node.op == "!=" else has
        if isinstance(node, InList):
            has = models.c.id.in_(select(model_tags.c.model_id).where(tag.in_(list(node.values))))
        elif isinstance(node, Like):
            has = models.c.id.in_(select(model_tags.c.model_id).where(_like(tag, node)))
        else:
            has = models.c.id.in_(select(model_tags.c.model_id))
            return has if node.negated else not_(has)
        return not_(has) if node.negated else has

    def _text(self, text: str) -> ColumnElement[bool]:
        text = text.strip()
        if not text:
            return true()
        if self.dialect == "sqlite" and len(text) >= MIN_INDEXED_TEXT:
            phrase = '"' + text.replace('"', '""') + '"'
            matching = select(_FTS.c.rowid).where(literal_column("models_fts").op("MATCH")(phrase))
            rows = select(search_text.c.model_id).where(search_text.c.id.in_(matching))
        else:
            pattern = "%" + text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_") + "%"
            rows = select(search_text.c.model_id).where(search_text.c.text.ilike(pattern, escape=ESCAPE))
        return models.c.id.in_(rows)

    # ---- ORDER BY and the statements --------------------------------------------------------

    def _ordered(self, statement: Select, sort: Sequence[SortKey]) -> Select:
        order: list[Any] = []
        for index, key in enumerate(sort):
            ref = key.field
            if ref.kind == "metric":
                joined = model_metrics.alias(f"sort{index}")
                statement = statement.outerjoin(
                    joined, and_(joined.c.model_id == models.c.id, joined.c.key == ref.name))
                columns = [joined.c.value]
            elif ref.kind == "param":
                joined = model_params.alias(f"sort{index}")
                statement = statement.outerjoin(
                    joined, and_(joined.c.model_id == models.c.id, joined.c.key == ref.name))
                columns = [joined.c.num, joined.c.text]
            elif ref.name == "version":
                columns = [models.c.version_major, models.c.version_minor]
            else:
                columns = [_COLUMNS[ref.name]]
            for column in columns:
                order.append(nulls_last(column.desc() if key.descending else column.asc()))
        last_descending = sort[-1].descending if sort else True
        order.append(models.c.id.desc() if last_descending else models.c.id.asc())
        return statement.order_by(*order)

    def page(self, query: SearchQuery) -> Select:
        statement = select(models).where(self.where(query.where))
        return self._ordered(statement, query.sort).offset(query.offset).limit(query.limit)

    def count(self, query: SearchQuery) -> Select:
        return select(func.count()).select_from(models).where(self.where(query.where))


def check_page(offset: int, limit: int) -> None:
    if offset < 0 or limit < 1:
        raise Malformed("A page starts at 1 and holds at least one version", code="invalid_page")
