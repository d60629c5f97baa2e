"""``model-service push``'s metadata: a JSON or YAML document, then the flags on top of it."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

SCALARS = ("name", "algorithm", "description", "format", "status", "created_by")


def read_document(path: str) -> dict[str, Any]:
    """The metadata file (``-`` for stdin): JSON if it ends in ``.json``, else YAML (which also
    reads JSON). It must hold one mapping."""
    hint = "--metadata"
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.BadParameter(f"'{path}' is not UTF-8 text", param_hint=hint) from None
    except OSError as exc:
        raise click.BadParameter(f"'{path}': {exc.strerror or exc}", param_hint=hint) from None
    if path.lower().endswith(".json"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"'{path}' is not valid JSON: {exc}", param_hint=hint) from None
    else:
        import yaml

        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise click.BadParameter(f"'{path}' is not valid YAML: {' '.join(str(exc).split())}",
                                     param_hint=hint) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise click.BadParameter(f"'{path}' must hold a mapping (name: …, algorithm: …), not a "
                                 f"{type(document).__name__}", param_hint=hint)
    return _jsonable(document)


def _jsonable(value: Any) -> Any:
    """YAML's dates and times as ISO 8601 strings, and its non-string keys as strings: what JSON holds."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def pairs(values: tuple[str, ...], option: str, *, numbers: bool = False) -> dict[str, Any]:
    """``KEY=VALUE`` flags as a dict. With ``numbers``, each value must be a number (metrics);
    otherwise a value that is JSON (``6``, ``0.1``, ``true``, ``[64, 32]``) is taken as such and
    anything else as a string."""
    parsed: dict[str, Any] = {}
    for item in values:
        key, equals, raw = item.partition("=")
        key = key.strip()
        if not equals or not key:
            raise click.BadParameter(f"'{item}': expected KEY=VALUE", param_hint=option)
        if numbers:
            try:
                parsed[key] = float(raw)
            except ValueError:
                raise click.BadParameter(f"'{item}': the value must be a number", param_hint=option) from None
            continue
        try:
            parsed[key] = json.loads(raw)
        except ValueError:
            parsed[key] = raw
    return parsed


def merge(document: dict[str, Any], *, scalars: dict[str, Any], metrics: dict[str, Any],
          hyperparameters: dict[str, Any], dataset_info: dict[str, Any], tags: tuple[str, ...],
          breaking_changes: bool) -> dict[str, Any]:
    """The flags over the document: a scalar flag replaces the document's value, ``--metric``,
    ``--param`` and ``--dataset`` add or replace keys of its mappings, ``--tag`` adds tags."""
    metadata = dict(document)
    metadata.update({key: value for key, value in scalars.items() if value is not None})
    for key, extra in (("metrics", metrics), ("hyperparameters", hyperparameters), ("dataset_info", dataset_info)):
        if extra:
            base = metadata.get(key) or {}
            if not isinstance(base, dict):
                raise click.BadParameter(f"'{key}' in the metadata file must be a mapping", param_hint="--metadata")
            metadata[key] = {**base, **extra}
    if tags:
        base_tags = metadata.get("tags") or []
        if not isinstance(base_tags, list):
            raise click.BadParameter("'tags' in the metadata file must be a list", param_hint="--metadata")
        metadata["tags"] = list(dict.fromkeys([*base_tags, *tags]))
    if breaking_changes:
        metadata["breaking_changes"] = True
    return metadata
