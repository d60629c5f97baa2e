"""The filter tree (``domain.query``) as MongoDB query documents, and sorts as ``$sort`` stages.

Every condition runs in the server; nothing is filtered in Python. The semantics are the SQL
store's, condition by condition:

* A comparison never matches a version lacking the value (a missing metric, no file, a
  ``NULL`` column): ``!=`` and ``NOT IN`` add ``$exists``/``$nin: [null]`` where MongoDB's own
  ``$ne``/``$nin`` would match missing fields. ``NOT`` (``$nor``) is the complement.
* Hyperparameters compare typed, through the flattened ``p`` map: a string is never equal to a
  number, a boolean never to 1 (each comparison carries ``$type``, which also keeps test doubles
  that compare like Python honest).
* Tags are an array, and MongoDB's array semantics are the SQL store's: ``tags = 'x'`` means
  "has tag x", ``tags != 'x'`` "has no tag x" (tagless versions included), ``IS NULL`` "no tags".
* ``LIKE`` becomes an anchored ``$regex`` with every other character escaped: ``%`` any run,
  ``_`` one character, ``\\`` makes the next character literal; ``ILIKE`` adds the ``i`` option.
  ``NOT LIKE`` is ``$not`` of the regex on strings only (``NULL`` never matches, as in SQL).
* ``q`` (:class:`TextSearch`) is an unanchored ``$regex`` of the escaped, lower-cased text on
  ``search_text`` (kept in lower case): a case-insensitive substring, as the contract says.
  The seed's ``$text`` index cannot do this (it matches whole stemmed words), so it is kept for
  the seed's tools but not used here.

Sorts: versions lacking a sort value come last in either direction. When a sort key can be
missing (a metric, a hyperparameter, ``size_bytes``, ``accuracy``, ``format``) the search is an
aggregation that adds a 0/1 "missing" key before each such value; otherwise a plain ``find``
whose sort an index can serve. Ties are broken by ``seq`` (insertion order) in the direction
of the last key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bson.regex import Regex

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
    SortKey,
    TextSearch,
    Value,
)
from ...domain.versions import Version
from .documents import escape_key, object_id

Leaf = Comparison | InList | Like | IsNull
"""A condition on one quantity (a column, a metric, a hyperparameter, the tags)."""
NOTHING: dict[str, Any] = {"_id": {"$in": []}}
EVERYTHING: dict[str, Any] = {}

COLUMNS = {
    "id": "_id",
    "name": "name",
    "algorithm": "algorithm",
    "status": "status",
    "created_by": "created_by",
    "description": "description",
    "format": "format",
    "parent_model_id": "parent_model_id",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "download_count": "download_count",
    "size_bytes": "file_metadata.size_bytes",
    "accuracy": "accuracy",
}
NULLABLE_COLUMNS = frozenset({"format", "parent_model_id", "size_bytes", "accuracy"})
_OPS = {"=": "$eq", "!=": "$ne", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}
TIE = "seq"


# ---- LIKE and text --------------------------------------------------------------------------------

def literal(text: str) -> str:
    """``text`` as a regular expression matching exactly it (the same in PCRE and Python)."""
    return "".join(c if c.isalnum() or c == "_" else "\\" + c for c in text)


def like_regex(pattern: str, case_sensitive: bool = True) -> tuple[str, str]:
    """A SQL ``LIKE`` pattern (escape character ``\\``) as a regular expression and its options."""
    tokens: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            tokens.append(literal(pattern[index + 1]))
            index += 2
            continue
        tokens.append(".*" if char == "%" else "." if char == "_" else literal(char))
        index += 1
    start = 0
    while start < len(tokens) and tokens[start] == ".*":
        start += 1
    end = len(tokens)
    while end > start and tokens[end - 1] == ".*":
        end -= 1
    # "(?!.)" with the s option: the end of the string ("$" would also match before a final newline)
    regex = ("^" if start == 0 else "") + "".join(tokens[start:end]) + ("(?!.)" if end == len(tokens) else "")
    return regex, "s" if case_sensitive else "is"


def _like(path: str, node: Like, *, strings_only_when_negated: bool = True) -> dict[str, Any]:
    regex, options = like_regex(node.pattern, node.case_sensitive)
    if not node.negated:
        return {path: {"$regex": regex, "$options": options}}
    condition: dict[str, Any] = {"$not": Regex(regex, options)}
    if strings_only_when_negated:
        condition = {"$type": "string", **condition}
    return {path: condition}


# ---- the tree ------------------------------------------------------------------------------------------

def translate(node: Node | None) -> dict[str, Any]:
    """The query document selecting the versions that match ``node`` (None: every version)."""
    if node is None:
        return EVERYTHING
    if isinstance(node, And):
        return {"$and": [translate(item) for item in node.items]}
    if isinstance(node, Or):
        return {"$or": [translate(item) for item in node.items]}
    if isinstance(node, Not):
        return {"$nor": [translate(node.item)]}
    if isinstance(node, TextSearch):
        text = node.text.strip()
        return {"search_text": {"$regex": literal(text.lower())}} if text else EVERYTHING
    kind = node.field.kind
    if kind == "tags":
        return _tags(node)
    if kind == "metric":
        return _metric(node)
    if kind == "param":
        return _param(node)
    if node.field.name == "version":
        return _version(node)
    if node.field.name == "id":
        return _id(node)
    return _column(node)


def _column(node: Leaf) -> dict[str, Any]:
    path = COLUMNS[node.field.name]
    if isinstance(node, Comparison):
        if node.op == "=":
            return {path: node.value}
        if node.op == "!=":  # SQL: NULL != x is not true
            return {path: {"$nin": [node.value, None]}}
        return {path: {_OPS[node.op]: node.value}}
    if isinstance(node, InList):
        values = list(node.values)
        return {path: {"$nin": [*values, None]}} if node.negated else {path: {"$in": values}}
    if isinstance(node, Like):
        return _like(path, node)
    return {path: {"$ne": None}} if node.negated else {path: None}


def _as_version(value: Value) -> Version:
    """The value of a condition on ``version``: a Version, as the filter language makes it."""
    if not isinstance(value, Version):
        raise Malformed(f"version takes a version like 'v1.2', not {str(value)[:40]!r}", code="invalid_filter")
    return value


def _version(node: Leaf) -> dict[str, Any]:
    def equal(value: Value) -> dict[str, Any]:
        version = _as_version(value)
        return {"version_major": version.major, "version_minor": version.minor}

    assert not isinstance(node, Like)  # the query tree refuses LIKE on a version
    if isinstance(node, IsNull):  # every version has a number
        return EVERYTHING if node.negated else NOTHING
    if isinstance(node, InList):
        return {"$nor" if node.negated else "$or": [equal(v) for v in node.values]}
    value = _as_version(node.value)
    if node.op == "=":
        return equal(value)
    if node.op == "!=":
        return {"$nor": [equal(value)]}
    strict = {"<": "$lt", "<=": "$lt", ">": "$gt", ">=": "$gt"}[node.op]
    return {"$or": [{"version_major": {strict: value.major}},
                    {"version_major": value.major, "version_minor": {_OPS[node.op]: value.minor}}]}


def _id(node: Leaf) -> dict[str, Any]:
    """Ids are ObjectIds: equality by ObjectId (the ``_id`` index); order and LIKE on the hex text."""
    as_text = {"$toString": "$_id"}
    if isinstance(node, IsNull):
        return EVERYTHING if node.negated else NOTHING
    if isinstance(node, InList):
        ids = [oid for oid in map(object_id, node.values) if oid is not None]
        return {"_id": {"$nin" if node.negated else "$in": ids}}
    if isinstance(node, Like):
        regex, options = like_regex(node.pattern, node.case_sensitive)
        matches = {"$regexMatch": {"input": as_text, "regex": regex, "options": options}}
        return {"$expr": {"$not": [matches]} if node.negated else matches}
    oid = object_id(node.value)
    if node.op == "=":
        return NOTHING if oid is None else {"_id": oid}
    if node.op == "!=":
        return EVERYTHING if oid is None else {"_id": {"$ne": oid}}
    return {"$expr": {_OPS[node.op]: [as_text, node.value]}}


def metric_path(name: str) -> str:
    return "metrics." + escape_key(name)


def _metric(node: Leaf) -> dict[str, Any]:
    assert not isinstance(node, Like)  # the query tree refuses LIKE on a number
    path = metric_path(node.field.name)
    if isinstance(node, Comparison):
        if node.op == "!=":
            return {path: {"$exists": True, "$ne": node.value}}
        return {path: {_OPS[node.op]: node.value}}
    if isinstance(node, InList):
        values = list(node.values)
        return {path: {"$exists": True, "$nin": values}} if node.negated else {path: {"$in": values}}
    return {path: {"$exists": node.negated}}


def _bson_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return "string" if isinstance(value, str) else "number"


def _param(node: Leaf) -> dict[str, Any]:
    path = "p." + escape_key(node.field.name)
    if isinstance(node, Comparison):
        return {path: {_OPS[node.op]: node.value, "$type": _bson_type(node.value)}}
    if isinstance(node, InList):
        by_type: dict[str, list[Any]] = {}
        for value in node.values:
            by_type.setdefault(_bson_type(value), []).append(value)
        matches = [{path: {"$in": values, "$type": type_}} for type_, values in by_type.items()]
        if node.negated:  # has the key (any value, null too), none of the listed
            return {"$and": [{path: {"$exists": True}}, {"$nor": matches}]}
        return matches[0] if len(matches) == 1 else {"$or": matches}
    if isinstance(node, Like):
        return _like(path, node)
    return {path: {"$ne": None}} if node.negated else {path: None}


def _tags(node: Leaf) -> dict[str, Any]:
    if isinstance(node, Comparison):
        return {"tags": node.value} if node.op == "=" else {"tags": {"$ne": node.value}}
    if isinstance(node, InList):
        return {"tags": {"$nin" if node.negated else "$in": list(node.values)}}
    if isinstance(node, Like):  # NOT LIKE: no tag matches (tagless versions too)
        return _like("tags", node, strings_only_when_negated=False)
    return {"tags.0": {"$exists": node.negated}}


# ---- sorting -------------------------------------------------------------------------------------------

def sort_terms(sort: Sequence[SortKey]) -> list[tuple[str, int, bool]]:
    """``(path, direction, may be missing)`` for each sort key, then the tie-breaker."""
    terms: list[tuple[str, int, bool]] = []
    for key in sort:
        direction = -1 if key.descending else 1
        terms.extend((path, direction, nullable) for path, nullable in _sort_paths(key.field))
    terms.append((TIE, -1 if (sort and sort[-1].descending) or not sort else 1, False))
    seen: set[str] = set()
    unique = []
    for term in terms:  # a key given twice sorts by its first mention
        if term[0] not in seen:
            seen.add(term[0])
            unique.append(term)
    return unique


def _sort_paths(ref: FieldRef) -> list[tuple[str, bool]]:
    if ref.kind == "metric":
        return [(metric_path(ref.name), True)]
    if ref.kind == "param":  # numbers (and booleans) before text, as the SQL store's two columns
        key = escape_key(ref.name)
        return [("pn." + key, True), ("pt." + key, True)]
    if ref.name == "version":
        return [("version_major", False), ("version_minor", False)]
    return [(COLUMNS[ref.name], ref.name in NULLABLE_COLUMNS)]


def needs_pipeline(terms: list[tuple[str, int, bool]]) -> bool:
    return any(nullable for _path, _direction, nullable in terms)


def missing_flags(terms: list[tuple[str, int, bool]]) -> tuple[dict[str, Any], dict[str, int]]:
    """The ``$addFields`` that flag missing values (1) and the ``$sort`` that puts them last."""
    added: dict[str, Any] = {}
    order: dict[str, int] = {}
    for index, (path, direction, nullable) in enumerate(terms):
        if nullable:
            flag = f"_missing{index}"
            added[flag] = {"$cond": [{"$eq": [{"$ifNull": ["$" + path, None]}, None]}, 1, 0]}
            order[flag] = 1
        order[path] = direction
    return added, order
