"""Retention (``model-service cleanup``): which versions go, by age and by rules per name prefix.

* ``archived_older_than``: the seed's ``cleanup_old_models`` — archived versions created more
  than that long ago.
* Rules, one per name prefix: ``keep_newest`` N versions of each name, and/or the ``keep_best``
  N by a metric (highest first, or lowest with ``higher_is_better: false``); every other version
  of a name under the prefix goes. A name follows the rule with its longest matching prefix.
  A version without the metric is never among the best.

A version that an alias points at is never deleted: the plan lists it as kept, and the deletion
itself refuses it if an alias moved to it since (``unless_aliased``: checked in the store, in
the deletion's own transaction). Deletion is the registry's normal one: a ``deleted`` event, an
audit record by ``retention``, the file's blob released with its last reference.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..domain.audit import Action, Auditor, describe_with_file
from ..domain.callers import Caller
from ..domain.errors import Conflict, Invalid, NotFound, RegistryError
from ..domain.models import ModelVersion, Status
from ..domain.ports import MetadataStore
from ..domain.query import FIELDS, And, Comparison, FieldRef, Like, Node, SearchQuery, SortKey, ValueType

ACTOR = "retention"
PAGE = 500
_NAME = FieldRef("field", "name", FIELDS["name"])
_STATUS = FieldRef("field", "status", FIELDS["status"])
_CREATED = FieldRef("field", "created_at", FIELDS["created_at"])
_BY_NAME_NEWEST = (SortKey(_NAME), SortKey(FieldRef("field", "version", ValueType.VERSION), descending=True))
_OLDEST_FIRST = (SortKey(_CREATED),)


@dataclass(frozen=True, slots=True)
class Rule:
    """Keep, of each name starting with ``prefix`` (``""``: every name), its newest
    ``keep_newest`` versions and its best ``keep_best`` by ``metric``; delete the rest."""

    prefix: str
    keep_newest: int | None = None
    keep_best: int | None = None
    metric: str | None = None
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        where = f"retention rule for prefix '{self.prefix}'"
        if self.keep_newest is None and self.keep_best is None:
            raise Invalid(f"{where}: give keep_newest, keep_best or both", code="invalid_rule")
        for key in ("keep_newest", "keep_best"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise Invalid(f"{where}: {key} must be a whole number ≥ 0", code="invalid_rule")
        if self.keep_best is not None and not self.metric:
            raise Invalid(f"{where}: keep_best needs a metric", code="invalid_rule")
        if self.metric is not None and self.keep_best is None:
            raise Invalid(f"{where}: a metric is used only with keep_best", code="invalid_rule")

    def describe(self) -> str:
        parts = []
        if self.keep_newest is not None:
            parts.append(f"newest {self.keep_newest}")
        if self.keep_best is not None:
            parts.append(f"best {self.keep_best} by {'' if self.higher_is_better else 'lowest '}{self.metric}")
        return f"prefix '{self.prefix}': keep {' + '.join(parts)}"

    def kept(self, versions: list[ModelVersion]) -> set[str]:
        """The ids this rule keeps of one name's versions (newest first)."""
        keep: set[str] = set()
        if self.keep_newest is not None:
            keep.update(model.id for model in versions[:self.keep_newest])
        metric = self.metric  # set whenever keep_best is (``__post_init__``)
        if self.keep_best is not None and self.keep_best > 0 and metric is not None:
            measured = [m for m in versions if isinstance(m.metrics.get(metric), (int, float))]
            # best first; among equals the newer (``versions`` is newest first and the sort is stable)
            measured.sort(key=lambda m: m.metrics[metric], reverse=self.higher_is_better)
            keep.update(model.id for model in measured[:self.keep_best])
        return keep


@dataclass(frozen=True, slots=True)
class Policy:
    archived_older_than: timedelta | None = None
    rules: tuple[Rule, ...] = ()

    def __post_init__(self) -> None:
        prefixes = [rule.prefix for rule in self.rules]
        duplicated = sorted({p for p in prefixes if prefixes.count(p) > 1})
        if duplicated:
            raise Invalid(f"Several retention rules for prefix {', '.join(repr(p) for p in duplicated)}",
                          code="invalid_rule")
        if self.archived_older_than is None and not self.rules:
            raise Invalid("Nothing to clean up: give --archived-older-than, a rule or a rules file",
                          code="invalid_rule")

    def rule_for(self, name: str) -> Rule | None:
        """The rule with the longest prefix of ``name``."""
        matching = [rule for rule in self.rules if name.startswith(rule.prefix)]
        return max(matching, key=lambda rule: len(rule.prefix)) if matching else None


@dataclass(frozen=True, slots=True)
class Candidate:
    model: ModelVersion
    reason: str
    aliases: tuple[str, ...] = ()
    """Set: the version is kept, these aliases point at it."""

    def to_json(self) -> dict[str, Any]:
        model = self.model
        return {"model_id": model.id, "name": model.name, "version": str(model.version),
                "status": model.status.value, "created_at": model.created_at.isoformat(),
                "size_bytes": None if model.file is None else model.file.size_bytes,
                "reason": self.reason, **({"aliases": list(self.aliases)} if self.aliases else {})}


@dataclass
class RetentionReport:
    dry_run: bool
    doomed: list[Candidate] = field(default_factory=list)
    """What goes (deleted, or in a dry run what would be)."""
    kept: list[Candidate] = field(default_factory=list)
    """What would go but an alias points at it."""
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "deleted" if not self.dry_run else "would_delete":
                [c.to_json() for c in self.doomed], "kept_for_aliases": [c.to_json() for c in self.kept],
                "errors": self.errors, "seconds": round(self.seconds, 3)}


# ---- rules from a file or from flags ------------------------------------------------------------

_DURATION = re.compile(r"\s*(\d+)\s*([wdhms])\s*", re.IGNORECASE)
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str, what: str = "duration") -> timedelta:
    """``90d``, ``2w``, ``12h``, ``30m``, ``45s`` (one number and one unit)."""
    match = _DURATION.fullmatch(str(text))
    if not match:
        raise Invalid(f"{what} '{text}': use a number and a unit: 90d, 2w, 12h, 30m, 45s", code="invalid_duration")
    return timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})


def load_policy(document: Any, *, archived_older_than: timedelta | None = None,
                rules: tuple[Rule, ...] = ()) -> Policy:
    """A policy from a parsed rules file (None: none) plus what flags give; flags win for
    ``archived_older_than`` and add their rules to the file's."""
    from_file = parse_rules(document) if document is not None else ()
    age = archived_older_than
    if age is None and isinstance(document, Mapping) and document.get("archived_older_than") is not None:
        age = parse_duration(document["archived_older_than"], "archived_older_than")
    return Policy(archived_older_than=age, rules=(*from_file, *rules))


def parse_rules(document: Any) -> tuple[Rule, ...]:
    """Rules from a parsed YAML or JSON document: a list of rules, or ``{"rules": [...],
    "archived_older_than": "90d"}``; each ``{prefix, keep_newest, keep_best, metric,
    higher_is_better}``."""
    if isinstance(document, Mapping):
        unknown = set(document) - {"rules", "archived_older_than"}
        if unknown:
            raise Invalid(f"Unknown keys in the rules file: {', '.join(sorted(map(str, unknown)))}",
                          code="invalid_rule")
        document = document.get("rules") or []
    if not isinstance(document, list):
        raise Invalid("A rules file holds a list of rules, or {rules: [...]}", code="invalid_rule")
    rules = []
    allowed = {"prefix", "keep_newest", "keep_best", "metric", "higher_is_better"}
    for item in document:
        if not isinstance(item, Mapping) or "prefix" not in item:
            raise Invalid(f"Each rule is a mapping with a prefix, not {json.dumps(item, default=str)[:80]}",
                          code="invalid_rule")
        unknown = set(item) - allowed
        if unknown:
            raise Invalid(f"Unknown keys in the rule for prefix '{item['prefix']}': "
                          f"{', '.join(sorted(map(str, unknown)))} (allowed: {', '.join(sorted(allowed))})",
                          code="invalid_rule")
        if not isinstance(item["prefix"], str) or not isinstance(item.get("higher_is_better", True), bool):
            raise Invalid("A rule's prefix is text and higher_is_better true or false", code="invalid_rule")
        rules.append(Rule(**item))
    return tuple(rules)


# ---- planning ---------------------------------------------------------------------------------------

def plan(metadata: MetadataStore, policy: Policy, *, now: datetime) -> RetentionReport:
    """What the policy deletes now and what it keeps for aliases (nothing is changed)."""
    report = RetentionReport(dry_run=True)
    aliased: dict[str, list[str]] = {}
    for alias in metadata.all_aliases():
        aliased.setdefault(alias.model_id, []).append(f"{alias.name}@{alias.alias}")
    chosen: dict[str, Candidate] = {}
    if policy.archived_older_than is not None:
        cutoff = now - policy.archived_older_than
        where = And((Comparison(_STATUS, "=", Status.ARCHIVED.value), Comparison(_CREATED, "<", cutoff)))
        for model in _all(metadata, where, _OLDEST_FIRST):
            chosen[model.id] = Candidate(model, f"archived, created {model.created_at:%Y-%m-%d} "
                                                f"(before {cutoff:%Y-%m-%d})")
    for rule in policy.rules:
        for name, versions in _names(metadata, rule.prefix):
            if policy.rule_for(name) is not rule:
                continue  # a longer prefix's rule decides for this name
            keep = rule.kept(versions)
            for model in versions:
                if model.id not in keep and model.id not in chosen:
                    chosen[model.id] = Candidate(model, rule.describe())
    for candidate in sorted(chosen.values(), key=lambda c: (c.model.name, c.model.version)):
        holders = aliased.get(candidate.model.id)
        if holders:
            report.kept.append(Candidate(candidate.model, candidate.reason, tuple(sorted(holders))))
        else:
            report.doomed.append(candidate)
    return report


def _all(metadata: MetadataStore, where: Node | None, sort: tuple[SortKey, ...]) -> Iterator[ModelVersion]:
    offset = 0
    while True:
        page = metadata.search(SearchQuery(where=where, sort=sort, offset=offset, limit=PAGE)).items
        yield from page
        if len(page) < PAGE:
            return
        offset += PAGE


def _names(metadata: MetadataStore, prefix: str) -> Iterator[tuple[str, list[ModelVersion]]]:
    """Each name starting with ``prefix`` and its versions, newest first."""
    where = Like(_NAME, _like_prefix(prefix)) if prefix else None
    versions: list[ModelVersion] = []  # of one name: versions[0].name
    for model in _all(metadata, where, _BY_NAME_NEWEST):
        if versions and model.name != versions[0].name:
            yield versions[0].name, versions
            versions = []
        versions.append(model)
    if versions:
        yield versions[0].name, versions


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


# ---- applying -----------------------------------------------------------------------------------------

def apply(registry: Any, policy: Policy, *, now: datetime, dry_run: bool = False) -> RetentionReport:
    """Plan, then (unless ``dry_run``) delete each version through ``registry.delete`` (a
    :class:`~.registry.Registry`), refusing any an alias points at by then."""
    started = time.monotonic()
    report = plan(registry.metadata, policy, now=now)
    report.dry_run = dry_run
    if not dry_run:
        auditor = Auditor(registry.metadata, clock=registry.clock)
        audit = auditor.hook(Caller(actor=ACTOR), Action.DELETE, describe_with_file)
        planned, report.doomed = report.doomed, []
        for candidate in planned:
            try:
                registry.delete(candidate.model.id, ACTOR, audit=audit, unless_aliased=True)
                report.doomed.append(candidate)
            except Conflict as exc:
                if exc.code != "version_aliased":
                    report.errors.append(f"{_what(candidate.model)}: {exc.message}")
                    continue
                aliases = tuple(f"{candidate.model.name}@{a}" for a in exc.details.get("aliases", ()))
                report.kept.append(Candidate(candidate.model, candidate.reason, aliases))
            except NotFound:
                pass  # deleted meanwhile: gone, as planned, but not by this run
            except RegistryError as exc:
                report.errors.append(f"{_what(candidate.model)}: {exc.message}")
    report.seconds = time.monotonic() - started
    return report


def _what(model: ModelVersion) -> str:
    return f"{model.name} {model.version} ({model.id})"
