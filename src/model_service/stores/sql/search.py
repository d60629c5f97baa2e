"""The filter tree (``domain.query``) in SQL: SQLAlchemy Core expressions over the models table
and its per-key search tables, for SQLite and PostgreSQL alike.

Every condition is answered by an index: columns by their own indexes; metrics, hyperparameters
and tags by their tables' ``(key, value)`` indexes, which yield the matching versions' ``seq``
(the integer row key); ``q`` by the trigram text index. A comparison is false for a version that
lacks the value (a missing metric, no file); ``IS NULL`` finds those.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
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
    union,
    union_all,
)
from sqlalchemy import column as sql_column

from ...domain.query import (
    And,
    Comparison,
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
TOTAL = "total_matches"
NEGATIVE = 7  # the size rank of a complement (NOT, !=, NOT IN, …)
MIN_INDEXED_TEXT = 3  # the trigram index answers substrings of three characters or more
ESCAPE = "\\"

Leaf = Comparison | InList | Like | IsNull
"""A condition on one quantity (a column, a metric, a hyperparameter, the tags)."""
Rows = Select | CompoundSelect
"""A set of ``seq``: a SELECT, or a UNION/EXCEPT of them."""


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


@dataclass(frozen=True, slots=True)
class _Leaf:
    """One condition as rows of one table: ``condition`` on ``table`` holds for the versions of
    its positive form (listed once each unless ``unique`` is False), ``negated`` for the
    complement. The text index has no table (``table=None``): only its set, ``text_rows``."""

    table: Any
    condition: ColumnElement[bool]
    negated: bool = False
    unique: bool = True
    text_rows: Select | None = None

    def rows(self) -> Select:
        if self.text_rows is not None:
            return self.text_rows
        query = select(self.table.c.seq).where(self.condition)
        return query if self.unique else query.distinct()

    def members(self) -> Select:
        """The rows as a membership list (duplicates do not matter there)."""
        if self.text_rows is not None:
            return self.text_rows
        return select(self.table.c.seq).where(self.condition)


def _keyed(source: Any, key: str, condition: ColumnElement[bool] | None = None, *, negated: bool = False) -> _Leaf:
    """``key = … [AND condition]`` on a search table: one key's index range."""
    keyed = source.c.key == key
    return _Leaf(source, keyed if condition is None else and_(keyed, condition), negated)


def _size_rank(node: Node) -> int:
    """A guess at how many versions a condition matches, without statistics: text search and
    equality few, then IN, LIKE, ranges; nested structure more; complements most."""
    if isinstance(node, TextSearch):
        return 0
    if isinstance(node, IsNull) and node.field.kind != "field":  # no value: a complement
        return 5 if node.negated else NEGATIVE
    if isinstance(node, Not) or getattr(node, "negated", False) or (isinstance(node, Comparison) and node.op == "!="):
        return NEGATIVE
    if isinstance(node, (And, Or)):
        return 6
    if isinstance(node, Comparison):
        return 1 if node.op == "=" else 4
    return {InList: 2, Like: 3}.get(type(node), 5)


def _is_leaf(node: Node) -> TypeGuard[Leaf | TextSearch]:
    return not isinstance(node, (And, Or, Not))


def _everything() -> Select:
    return select(models.c.seq)


def _complement(rows: Rows) -> CompoundSelect:
    """Every version not in ``rows``."""
    return _everything().except_(_operand(rows))


def _operand(rows: Rows) -> Select:
    """A set usable inside another compound (SQLite does not nest compounds directly)."""
    return select(rows.subquery().c.seq) if isinstance(rows, CompoundSelect) else rows


def _is_column(node: Node) -> TypeGuard[Leaf]:
    """A condition on one of the version's own columns."""
    return isinstance(node, (Comparison, InList, Like, IsNull)) and node.field.kind == "field"


def _combine(operation: Any, sets: list[Rows]) -> Rows:
    """One set from several (a UNION); each operand wrapped so compounds can nest."""
    if len(sets) == 1:
        return sets[0]
    return select(operation(*(_operand(s) for s in sets)).subquery().c.seq)


def _param_condition(op: str, value: Value) -> ColumnElement[bool]:
    """A hyperparameter's typed value compared with a literal of the same type."""
    if isinstance(value, bool):
        return and_(model_params.c.kind == "bool", _compare(model_params.c.num, op, 1.0 if value else 0.0))
    if isinstance(value, float):
        return and_(model_params.c.kind == "number", _compare(model_params.c.num, op, value))
    return and_(model_params.c.kind == "string", _compare(model_params.c.text, op, value))


def _field_value(value: Value) -> Any:
    return (value.major, value.minor) if isinstance(value, Version) else value


@dataclass(frozen=True, slots=True)
class _Term:
    column: Any
    descending: bool
    nulls_last: bool

    def clause(self) -> Any:
        term = self.column.desc() if self.descending else self.column.asc()
        return nulls_last(term) if self.nulls_last else term


class SqlSearch:
    """Builds the statements of one search for one dialect.

    The tree becomes set algebra over the integer row key: every leaf is the set of ``seq``
    values an index yields (``SELECT seq FROM model_metrics WHERE key = … AND value …``); AND
    reads one operand's index range and tests membership in the others' sets (``seq IN (…)``),
    OR is UNION, NOT is EXCEPT. The database then combines index-only sets instead of visiting
    each candidate row, which is what makes broad filters cheap. Conditions on the version's own
    columns, ANDed at the top, stay plain WHERE terms so a sort index can drive.
    """

    def __init__(self, dialect: str):
        self.dialect = dialect

    # ---- WHERE ----------------------------------------------------------------------------

    def where(self, node: Node | None) -> ColumnElement[bool]:
        """The condition on ``models`` for ``node``."""
        direct, sets = self._split(node)
        if sets is not None:
            direct.append(self.probe(models.c.seq).in_(sets))
        return and_(true(), *direct)

    def _split(self, node: Node | None) -> tuple[list[ColumnElement[bool]], Rows | None]:
        """``node`` as plain conditions on the version's columns (ANDed at the top: the columns'
        indexes answer them, and can drive the sort) and one set of ``seq`` for the rest (None
        when there is no rest)."""
        if node is None:
            return [], None
        items = node.items if isinstance(node, And) else (node,)
        direct = [self._column(item) for item in items if _is_column(item)]
        rest = [item for item in items if not _is_column(item)]
        return direct, (self._intersection(rest) if rest else None)

    def rows(self, node: Node) -> Rows:
        """The set of ``seq`` of the versions matching ``node``.

        AND reads one operand's rows (the driver) and keeps those that are members of each
        other operand (:meth:`member`); OR is UNION; NOT is EXCEPT. The driver is the broadest
        positive leaf: reading an index range costs little per row, while each membership test
        first builds a temporary index of its operand's rows, so the smaller sets should be the
        ones built. (INTERSECT would build temporary indexes of both sides.)"""
        if isinstance(node, And):
            return self._intersection(node.items)
        if isinstance(node, Or):
            return _combine(union, [self.rows(item) for item in node.items])
        if isinstance(node, Not):
            return _complement(self.rows(node.item))
        leaf = self._leaf(node)
        return _complement(leaf.rows()) if leaf.negated else leaf.rows()

    def _intersection(self, items: Sequence[Node]) -> Rows:
        if len(items) == 1:
            return self.rows(items[0])
        ranked = sorted(items, key=_size_rank)
        leaves = [(item, leaf) for item in ranked if (leaf := self._positive_leaf(item)) is not None]
        likely_smaller = [pair for pair in leaves if _size_rank(pair[0]) < NEGATIVE]
        chosen = likely_smaller or leaves
        driver, leaf = chosen[-1] if chosen else (None, None)
        if driver is None:  # no positive leaf: an AND, OR or NOT drives, else every version
            driver = next((item for item in ranked if _size_rank(item) < NEGATIVE), None)
        others = [item for item in ranked if item is not driver]
        if leaf is not None and leaf.table is not None:  # one flat SELECT on the leaf's index
            seq = leaf.table.c.seq
            rows = select(seq).where(leaf.condition, *(self.member(item, seq) for item in others))
            return rows if leaf.unique else rows.distinct()
        if driver is None:
            return _everything().where(*(self.member(item, models.c.seq) for item in others))
        driven = _operand(self.rows(driver)).subquery()
        return select(driven.c.seq).where(*(self.member(item, driven.c.seq) for item in others))

    def probe(self, seq: Any) -> Any:
        """``seq`` as the left side of a membership test. On SQLite, ``seq + 0``: its planner
        would otherwise turn ``seq IN (rows)`` into one row-key lookup per listed row, which
        costs about twice as much as reading the driving index range and probing the list that
        has to be built anyway (measured at 100k versions: 7 against 14 ms, 13 against 33 ms)."""
        return seq + 0 if self.dialect == "sqlite" else seq

    def _positive_leaf(self, node: Node) -> _Leaf | None:
        """``node``'s leaf if it is one whose rows are the matches themselves (not a complement)."""
        if not _is_leaf(node):
            return None
        leaf = self._leaf(node)
        return None if leaf.negated else leaf

    def member(self, node: Node, seq: Any) -> ColumnElement[bool]:
        """The condition "``seq`` is a version matching ``node``", as membership tests in the
        rows of its leaves: ``seq IN (rows)``, ``NOT IN`` for complements, the positive
        operands of an OR as one ``IN`` over their rows together."""
        if isinstance(node, And):
            return and_(*(self.member(item, seq) for item in node.items))
        if isinstance(node, Not):
            return not_(self.member(node.item, seq))
        if isinstance(node, Or):
            lists, rest = [], []
            for item in node.items:
                leaf = self._positive_leaf(item)
                if leaf is None:
                    rest.append(self.member(item, seq))
                else:
                    lists.append(leaf.members())
            if lists:
                rest.insert(0, self.probe(seq).in_(lists[0] if len(lists) == 1 else union_all(*map(_operand, lists))))
            return or_(*rest)
        leaf = self._leaf(node)
        probe = self.probe(seq)
        return probe.not_in(leaf.members()) if leaf.negated else probe.in_(leaf.members())

    def _leaf(self, node: Leaf | TextSearch) -> _Leaf:
        if isinstance(node, TextSearch):
            return _Leaf(None, true(), text_rows=self._text(node.text))
        kind = node.field.kind
        if kind == "tags":
            return self._tags(node)
        if kind == "metric":
            return self._metric(node)
        if kind == "param":
            return self._param(node)
        return _Leaf(models, self._column(node))

    def _column(self, node: Leaf) -> ColumnElement[bool]:
        ref = node.field
        column = _VERSION if ref.name == "version" else _COLUMNS[ref.name]
        if isinstance(node, Comparison):
            return _compare(column, node.op, _field_value(node.value))
        if isinstance(node, InList):
            values = [_field_value(v) for v in node.values]
            return column.not_in(values) if node.negated else column.in_(values)
        if isinstance(node, Like):
            condition = _like(column, node)
            return not_(condition) if node.negated else condition
        if ref.name == "version":
            return false() if not node.negated else true()
        return column.is_not(None) if node.negated else column.is_(None)

    def _metric(self, node: Leaf) -> _Leaf:
        assert not isinstance(node, Like)  # the query tree refuses LIKE on a number
        key = node.field.name
        value = model_metrics.c.value
        if isinstance(node, Comparison):
            return _keyed(model_metrics, key, _compare(value, node.op, node.value))
        if isinstance(node, InList):
            values = list(node.values)
            return _keyed(model_metrics, key, value.not_in(values) if node.negated else value.in_(values))
        return _keyed(model_metrics, key, negated=not node.negated)

    def _param(self, node: Leaf) -> _Leaf:
        key = node.field.name
        if isinstance(node, Comparison):
            return _keyed(model_params, key, _param_condition(node.op, node.value))
        if isinstance(node, InList):
            matches = or_(*(_param_condition("=", v) for v in node.values))
            return _keyed(model_params, key, not_(matches) if node.negated else matches)
        if isinstance(node, Like):
            condition = _like(model_params.c.text, node)
            return _keyed(model_params, key,
                          and_(model_params.c.kind == "string", not_(condition) if node.negated else condition))
        return _keyed(model_params, key, model_params.c.kind != "null", negated=not node.negated)

    def _tags(self, node: Leaf) -> _Leaf:
        tag = model_tags.c.tag
        if isinstance(node, Comparison):
            return _Leaf(model_tags, tag == node.value, negated=node.op == "!=")
        if isinstance(node, InList):  # several tags of one version may match
            return _Leaf(model_tags, tag.in_(list(node.values)), negated=node.negated, unique=False)
        if isinstance(node, Like):
            return _Leaf(model_tags, _like(tag, node), negated=node.negated, unique=False)
        return _Leaf(model_tags, true(), negated=not node.negated, unique=False)  # IS NULL: no tags at all

    def _text(self, text: str) -> Select:
        text = text.strip()
        if not text:
            return _everything()
        if self.dialect == "sqlite" and len(text) >= MIN_INDEXED_TEXT:
            phrase = '"' + text.replace('"', '""') + '"'  # one phrase: a substring, any case
            return select(_FTS.c.rowid.label("seq")).where(literal_column("models_fts").op("MATCH")(phrase))
        pattern = "%" + text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_") + "%"
        if self.dialect == "postgresql":  # the text is stored folded by lower() (migration 0004)
            return select(search_text.c.seq).where(search_text.c.text.like(func.lower(pattern), escape=ESCAPE))
        return select(search_text.c.seq).where(search_text.c.text.ilike(pattern, escape=ESCAPE))

    # ---- ORDER BY and the statements --------------------------------------------------------

    def _sort_terms(self, statement: Select, sort: Sequence[SortKey], row_key: Any) -> tuple[Select, list[_Term]]:
        """The statement with the joins the sort needs, and the sort's terms, ties last."""
        terms: list[_Term] = []
        for index, key in enumerate(sort):
            ref = key.field
            if ref.kind in ("metric", "param"):
                table_ = model_metrics if ref.kind == "metric" else model_params
                joined = table_.alias(f"sort{index}")
                statement = statement.outerjoin(joined, and_(joined.c.seq == row_key, joined.c.key == ref.name))
                columns = [joined.c.value] if ref.kind == "metric" else [joined.c.num, joined.c.text]
                # an outer join: versions without the key have NULL here and go last
                terms.extend(_Term(column, key.descending, nulls_last=True) for column in columns)
            else:
                columns = ([models.c.version_major, models.c.version_minor] if ref.name == "version"
                           else [_COLUMNS[ref.name]])
                # NULLS LAST only on nullable columns: on a NOT NULL column it would only keep the
                # database from reading the order straight off an index.
                terms.extend(_Term(column, key.descending, bool(column.nullable)) for column in columns)
        terms.append(_Term(row_key, sort[-1].descending if sort else True, nulls_last=False))
        return statement, terms

    def page_along_metric(self, query: SearchQuery) -> Select | None:
        """For a sort by one metric: the page read straight off the metric's index in order,
        checking each version against the filter until the page is full — a few hundred index
        entries instead of sorting every match. It only sees versions that have the metric, so
        a page it returns short must be asked again of :meth:`page`. None: not applicable."""
        if len(query.sort) != 1 or query.sort[0].field.kind != "metric":
            return None
        key = query.sort[0]
        metric = model_metrics.alias("by_metric")
        direct, sets = self._split(query.where)
        keys = select(metric.c.seq.label("row_seq"), metric.c.value.label("k0")).where(metric.c.key == key.field.name)
        if sets is not None:
            if direct:
                sets = select(models.c.seq).where(*direct, self.probe(models.c.seq).in_(sets))
            matches = sets.cte("matches").prefix_with("MATERIALIZED")
            total = select(func.count()).select_from(matches)
            keys = keys.where(metric.c.seq.in_(select(matches.c.seq)))
        else:
            condition = and_(true(), *direct)
            total = select(func.count()).select_from(models).where(condition)
            if direct:
                keys = keys.join(models, models.c.seq == metric.c.seq).where(condition)
        terms = [_Term(metric.c.value, key.descending, False), _Term(metric.c.seq, key.descending, False)]
        return self._fetch(keys, terms, query, total)

    def page(self, query: SearchQuery) -> Select:
        """One page of rows, each with the total number of matches as ``total_matches``.

        The set of matches is computed once (a materialized CTE) and serves both the count and
        the page: for a broad filter, building that set is most of the work. The order is
        found on keys alone (row key and sort values) and only the page's rows are then read
        whole, so a sort over many matches never moves their full records around.
        """
        direct, sets = self._split(query.where)
        if sets is None:  # conditions on columns only: their indexes drive both the count and the page
            condition = and_(true(), *direct)
            total = select(func.count()).select_from(models).where(condition)
            keys, terms = self._sort_terms(select(models.c.seq.label("row_seq")).where(condition), query.sort,
                                           models.c.seq)
        else:
            if direct:
                sets = select(models.c.seq).where(*direct, self.probe(models.c.seq).in_(sets))
            matches = sets.cte("matches").prefix_with("MATERIALIZED")
            total = select(func.count()).select_from(matches)
            if any(key.field.kind == "field" for key in query.sort):  # sort values from the rows
                keys = select(models.c.seq.label("row_seq")).where(models.c.seq.in_(select(matches.c.seq)))
                keys, terms = self._sort_terms(keys, query.sort, models.c.seq)
            else:  # metrics and hyperparameters only: the matches and their index rows suffice
                keys = select(matches.c.seq.label("row_seq"))
                keys, terms = self._sort_terms(keys, query.sort, matches.c.seq)
        keys = keys.add_columns(*(term.column.label(f"k{i}") for i, term in enumerate(terms[:-1])))
        return self._fetch(keys, terms, query, total)

    @staticmethod
    def _fetch(keys: Select, terms: list[_Term], query: SearchQuery, total: Select) -> Select:
        """The page of ``keys`` (row key and sort values ``k0``…) in ``terms`` order, and then
        those rows whole, with the total."""
        ordered = keys.order_by(*(term.clause() for term in terms)).offset(query.offset).limit(query.limit)
        page_keys = ordered.cte("page_keys")
        final_terms = [_Term(page_keys.c[f"k{i}"], t.descending, t.nulls_last) for i, t in enumerate(terms[:-1])]
        final_terms.append(_Term(page_keys.c.row_seq, terms[-1].descending, nulls_last=False))
        return (select(models, total.scalar_subquery().label(TOTAL))
                .join(page_keys, page_keys.c.row_seq == models.c.seq)
                .order_by(*(term.clause() for term in final_terms)))

    def count(self, query: SearchQuery) -> Select:
        """The number of matches alone (for a page past the end, which has no row to carry it)."""
        direct, sets = self._split(query.where)
        if sets is not None and not direct:  # counted from the index sets alone
            return select(func.count()).select_from(sets.subquery())
        return select(func.count()).select_from(models).where(self.where(query.where))
