"""The filter and sort language, parsed into the query tree (:mod:`.query`).

A filter expression such as ::

    metrics.f1_score >= 0.9 AND (algorithm = 'xgboost' OR tags = 'production')

is parsed here into the typed tree of :mod:`.query`; a malformed one is :class:`Malformed`
(400), saying where it failed.

Grammar (keywords are case-insensitive)::

    expr       := or
    or         := and ("OR" and)*
    and        := unary ("AND" unary)*
    unary      := "NOT" unary | "(" expr ")" | predicate
    predicate  := field op value
                | field ["NOT"] "IN" "(" value ("," value)* ")"
                | field ["NOT"] ("LIKE" | "ILIKE") string
                | field "IS" ["NOT"] "NULL"
    op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    field      := name ("." (name | `quoted name`))*
    value      := 'string' | "string" | number | TRUE | FALSE
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .errors import Invalid, Malformed
from .query import (
    FIELDS,
    SORTABLE,
    TAGS,
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
    Value,
    ValueType,
    parse_datetime,
)
from .versions import Version

MAX_FILTER_LENGTH = 4096
MAX_PREDICATES = 64
MAX_DEPTH = 64  # nested parentheses and NOTs, as written
MAX_TREE_DEPTH = 10  # alternations of AND, OR and NOT that remain once same-kind nesting is merged
MAX_IN_VALUES = 100
MAX_SORT_KEYS = 4


# ---- errors ------------------------------------------------------------------------------------

def _error(message: str, text: str, position: int, code: str = "invalid_filter") -> Malformed:
    near = text[position:position + 20]
    return Malformed(f"{message} at position {position}" + (f" (near '{near}')" if near else " (at the end)"),
                     code=code, details={"position": position, "near": near, "expression": text[:200]})


# ---- tokens ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # name | quoted | string | number | op | ( | ) | , | . | end
    text: str
    position: int
    value: object = None


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_\-]*)
  | (?P<quoted>`(?:[^`]|``)*`)
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<punct>[(),.])
    """,
    re.VERBOSE,
)
KEYWORDS = {"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL", "TRUE", "FALSE"}


def _tokens(text: str) -> Iterator[_Token]:
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            if text[position] in "'\"`":
                raise _error("Unterminated quote", text, position)
            raise _error(f"Unexpected character '{text[position]}'", text, position)
        kind = match.lastgroup or "space"  # every alternative of the pattern is a named group
        chunk = match.group()
        if kind == "number" and position and (text[position - 1].isalnum() or text[position - 1] in "_."):
            # "v1.2" or "a.1": a number cannot follow a name directly
            raise _error("Unexpected number", text, position)
        if kind == "string":
            quote = chunk[0]
            if "\x00" in chunk:
                raise _error("A string may not contain a NUL character", text, position)
            yield _Token("string", chunk, position, chunk[1:-1].replace(quote * 2, quote))
        elif kind == "quoted":
            yield _Token("quoted", chunk, position, chunk[1:-1].replace("``", "`"))
        elif kind == "number":
            yield _Token("number", chunk, position, float(chunk))
        elif kind == "punct":
            yield _Token(chunk, chunk, position)
        elif kind != "space":
            yield _Token(kind, chunk, position)
        position = match.end()
    yield _Token("end", "", len(text))


# ---- parser --------------------------------------------------------------------------------------

class _Parser:
    def __init__(self, text: str):
        if len(text) > MAX_FILTER_LENGTH:
            raise Malformed(f"A filter is at most {MAX_FILTER_LENGTH} characters", code="invalid_filter",
                            details={"max_length": MAX_FILTER_LENGTH})
        self.text = text
        self.tokens = list(_tokens(text))
        self.index = 0
        self.predicates = 0
        self.depth = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def keyword(self, *words: str) -> bool:
        token = self.token
        return token.kind == "name" and token.text.upper() in words

    def take(self) -> _Token:
        token = self.token
        self.index += 1
        return token

    def expect(self, kind: str, what: str) -> _Token:
        if self.token.kind != kind:
            raise _error(f"Expected {what}", self.text, self.token.position)
        return self.take()

    def parse(self) -> Node:
        if self.token.kind == "end":
            raise _error("The filter is empty", self.text, 0)
        node = self.or_()
        if self.token.kind != "end":
            raise _error("Expected AND, OR or the end of the filter", self.text, self.token.position)
        if _tree_depth(node) > MAX_TREE_DEPTH:
            raise Malformed(f"The filter alternates AND, OR and NOT more than {MAX_TREE_DEPTH} levels deep",
                            code="invalid_filter", details={"max_depth": MAX_TREE_DEPTH, "expression": self.text[:200]})
        return node

    def or_(self) -> Node:
        items = [self.and_()]
        while self.keyword("OR"):
            self.take()
            items.append(self.and_())
        return _flat(Or, items)

    def and_(self) -> Node:
        items = [self.unary()]
        while self.keyword("AND"):
            self.take()
            items.append(self.unary())
        return _flat(And, items)

    def unary(self) -> Node:
        if self.keyword("NOT") or self.token.kind == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise _error(f"A filter nests parentheses and NOT at most {MAX_DEPTH} deep", self.text,
                             self.token.position)
            try:
                if self.keyword("NOT"):
                    self.take()
                    item = self.unary()
                    return item.item if isinstance(item, Not) else Not(item)  # NOT NOT x is x
                self.take()
                node = self.or_()
                self.expect(")", "')'")
                return node
            finally:
                self.depth -= 1
        return self.predicate()

    def predicate(self) -> Node:
        self.predicates += 1
        if self.predicates > MAX_PREDICATES:
            raise _error(f"A filter has at most {MAX_PREDICATES} conditions", self.text, self.token.position)
        start = self.token.position
        ref = self.field()
        if self.keyword("IS"):
            self.take()
            negated = self.keyword("NOT")
            if negated:
                self.take()
            if not self.keyword("NULL"):
                raise _error("Expected NULL", self.text, self.token.position)
            self.take()
            return IsNull(ref, negated)
        negated = self.keyword("NOT")
        if negated:
            self.take()
            if not self.keyword("IN", "LIKE", "ILIKE"):
                raise _error("Expected IN, LIKE or ILIKE after NOT", self.text, self.token.position)
        if self.keyword("IN"):
            self.take()
            return InList(ref, self.value_list(ref), negated)
        if self.keyword("LIKE", "ILIKE"):
            case_sensitive = self.take().text.upper() == "LIKE"
            token = self.expect("string", "a quoted pattern")
            try:
                return Like(ref, str(token.value), case_sensitive, negated)
            except Malformed as exc:  # the tree's own rule, said where it failed
                raise _error(exc.message, self.text, start) from None
        if self.token.kind != "op":
            raise _error("Expected a comparison (=, !=, <, <=, >, >=), IN, LIKE or IS", self.text,
                         self.token.position)
        op = {"==": "=", "<>": "!="}.get(self.token.text, self.token.text)
        self.take()
        if ref.kind == "tags" and op not in ("=", "!="):
            raise _error("Tags compare with = or != only", self.text, start)
        return Comparison(ref, op, self.value(ref))

    def field(self) -> FieldRef:
        token = self.token
        if token.kind != "name" or token.text.upper() in KEYWORDS:
            raise _error("Expected a field name", self.text, token.position)
        self.take()
        parts = [token.text]
        while self.token.kind == ".":
            self.take()
            part = self.token
            if part.kind not in ("name", "quoted") or not part.text:
                raise _error("Expected a key after '.'", self.text, part.position)
            self.take()
            parts.append(str(part.value) if part.kind == "quoted" else part.text)
        return resolve_field(parts, self.text, token.position)

    def value_list(self, ref: FieldRef) -> tuple[Value, ...]:
        self.expect("(", "'(' after IN")
        values = [self.value(ref)]
        while self.token.kind == ",":
            self.take()
            values.append(self.value(ref))
        self.expect(")", "')' or ','")
        if len(values) > MAX_IN_VALUES:
            raise _error(f"IN takes at most {MAX_IN_VALUES} values", self.text, self.token.position)
        return tuple(values)

    def value(self, ref: FieldRef) -> Value:
        token = self.token
        if token.kind == "string":
            raw: object = token.value
        elif token.kind == "number":
            raw = token.value
        elif self.keyword("TRUE", "FALSE"):
            raw = token.text.upper() == "TRUE"
        else:
            raise _error("Expected a value (a quoted string, a number, TRUE or FALSE)", self.text, token.position)
        self.take()
        return coerce(ref, raw, self.text, token.position)


def resolve_field(parts: Sequence[str], text: str = "", position: int = 0) -> FieldRef:
    """``["metrics", "f1"]`` → the metric f1; ``["algorithm"]`` → the column; unknown → 400."""
    head = parts[0]
    if head == "metrics" and len(parts) == 2:
        return FieldRef("metric", parts[1], ValueType.NUMBER)
    if head in ("hyperparameters", "params") and len(parts) >= 2:
        return FieldRef("param", ".".join(parts[1:]), ValueType.ANY)
    if len(parts) == 1 and head in ("tags", "tag"):
        return TAGS
    if len(parts) == 1 and head in FIELDS:
        return FieldRef("field", head, FIELDS[head])
    name = ".".join(parts)
    known = ", ".join(sorted(FIELDS)) + ", tags, metrics.<name>, hyperparameters.<name>"
    raise Malformed(f"Unknown field '{name}' at position {position}: use one of {known}", code="invalid_filter",
                    details={"position": position, "field": name, "expression": text[:200]})


def coerce(ref: FieldRef, raw: object, text: str = "", position: int = 0) -> Value:
    """A literal as the field's type, or a 400 saying what the field takes."""
    expected = ref.type
    if expected is ValueType.ANY:
        return raw  # type: ignore[return-value]
    if expected is ValueType.NUMBER:
        if isinstance(raw, float) and not isinstance(raw, bool) and math.isfinite(raw):
            return raw
    elif expected is ValueType.STRING:
        if isinstance(raw, str):
            return raw
    elif expected is ValueType.DATETIME:
        if isinstance(raw, str):
            parsed = parse_datetime(raw)
            if parsed is not None:
                return parsed
    elif expected is ValueType.VERSION and isinstance(raw, str):
        with contextlib.suppress(Invalid):
            return Version.parse(raw)
    described = {ValueType.NUMBER: "a number", ValueType.STRING: "a quoted string",
                 ValueType.DATETIME: "a quoted ISO 8601 date or time",
                 ValueType.VERSION: "a quoted version like 'v1.2'"}
    raise _error(f"{ref} takes {described[expected]}", text, position)


def _tree_depth(node: Node) -> int:
    if isinstance(node, (And, Or)):
        return 1 + max(_tree_depth(item) for item in node.items)
    if isinstance(node, Not):
        return 1 + _tree_depth(node.item)
    return 0


def _flat(kind: type[And] | type[Or], items: list[Node]) -> Node:
    """One AND (or OR) of the items, those of the same kind merged in: ``(a AND b) AND c`` is
    ``a AND b AND c``, so the tree stays as shallow as the expression's meaning."""
    if len(items) == 1:
        return items[0]
    flat: list[Node] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(flat))


def parse_filter(text: str) -> Node:
    """Parse a filter expression; :class:`Malformed` (400) says where it failed."""
    return _Parser(text).parse()


def parse_sort(text: str) -> tuple[SortKey, ...]:
    """``-metrics.f1_score,name`` → sort keys (``-`` descending, ``+`` or nothing ascending)."""
    keys = []
    for position, item in _split_sort(text):
        descending = item.startswith("-")
        name = item.lstrip("+-").strip()
        if not name:
            raise Malformed(f"Empty sort key at position {position}", code="invalid_sort",
                            details={"position": position, "sort": text[:200]})
        parts = [p.strip("`") for p in re.split(r"\.(?=(?:[^`]*`[^`]*`)*[^`]*$)", name)]
        try:
            ref = resolve_field(parts, text, position)
        except Malformed as exc:
            raise Malformed(exc.message.replace("field", "sort field", 1), code="invalid_sort",
                            details=exc.details) from None
        if ref.kind == "tags" or (ref.kind == "field" and ref.name not in SORTABLE):
            raise Malformed(f"Cannot sort by {ref}", code="invalid_sort", details={"sort": text[:200]})
        keys.append(SortKey(ref, descending))
    if not keys:
        raise Malformed("The sort is empty", code="invalid_sort", details={"sort": text[:200]})
    if len(keys) > MAX_SORT_KEYS:
        raise Malformed(f"Sort by at most {MAX_SORT_KEYS} keys", code="invalid_sort", details={"sort": text[:200]})
    return tuple(keys)


def _split_sort(text: str) -> Iterator[tuple[int, str]]:
    position = 0
    for item in text.split(","):
        yield position + len(item) - len(item.lstrip()), item.strip()
        position += len(item) + 1


