"""``model-service push | pull | ls | show | versions | status | rm | alias``: the registry, over HTTP.

Every command is a thin layer over the SDK (``model_service.client``): parse the command line,
one or two SDK calls, print a table for people or ``--json`` for scripts. Connection options, the
error line and the exit statuses are in :mod:`.remote`; the output in :mod:`.render`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from . import render
from .metadata import SCALARS, merge, pairs, read_document
from .remote import EPILOG, Remote, remote_command

STATUSES = ("active", "deprecated", "archived")
SDK_ARGUMENTS = frozenset({"source", "filename", "checksum", "progress"})  # push()'s, beside the metadata
PAGE_SIZE = 100  # versions per request when listing (the server caps it at its MAX_PAGE_SIZE)


class ModelReference(click.ParamType):
    """``ID``, ``NAME`` (its latest version), ``NAME@ALIAS`` or ``NAME/VERSION``, checked before
    anything is sent: a malformed one is a usage error."""

    name = "REF"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from model_service.client import ModelRef

        try:
            return ModelRef.parse(value)
        except (TypeError, ValueError) as exc:
            self.fail(str(exc), param, ctx)


REF = ModelReference()


progress_option = click.option(
    "--progress/--no-progress", "show_progress", default=None,
    help="Show a progress bar on stderr [default: when stderr is a terminal, without --json]")


def _label(model: dict[str, Any]) -> str:
    return f"{model.get('name')} {model.get('version')}"


# ---- push, pull -------------------------------------------------------------------------------------------

@click.command("push", epilog=EPILOG)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("-m", "--metadata", "metadata_file", metavar="FILE",
              help="Metadata as JSON (*.json) or YAML (*.yaml, *.yml, or anything else); '-' reads stdin")
@click.option("--name", help="Model name; an existing name gets its next version [default: a generated name]")
@click.option("--algorithm", help="xgboost, random_forest, … (required, here or in --metadata)")
@click.option("--metric", "metrics", multiple=True, metavar="KEY=NUMBER", help="A metric; repeat for several")
@click.option("--param", "hyperparameters", multiple=True, metavar="KEY=VALUE",
              help="A hyperparameter (JSON values such as 6, 0.1, true are typed); repeat for several")
@click.option("--dataset", "dataset_info", multiple=True, metavar="KEY=VALUE", help="A dataset_info entry")
@click.option("--tag", "tags", multiple=True, help="A tag; repeat for several")
@click.option("--description")
@click.option("--format", "file_format", help="File format (joblib, onnx, …) [default: from the file's name]")
@click.option("--status", type=click.Choice(STATUSES), help="[default: active]")
@click.option("--created-by", help="Who made it [default: the caller]")
@click.option("--breaking-changes", is_flag=True, help="Start a new major version (v1.3 → v2.0)")
@progress_option
@remote_command
def push(remote: Remote, file: Path, metadata_file: str | None, name: str | None, algorithm: str | None,
         metrics: tuple[str, ...], hyperparameters: tuple[str, ...], dataset_info: tuple[str, ...],
         tags: tuple[str, ...], description: str | None, file_format: str | None, status: str | None,
         created_by: str | None, breaking_changes: bool, show_progress: bool | None) -> None:
    """Register a model with its FILE: metadata from --metadata and the flags (flags win).

    The file is streamed with its sha256, which the server checks before keeping anything.

    \b
    Examples:
      model-service push model.joblib --name churn --algorithm random_forest \\
          --metric accuracy=0.93 --param n_estimators=150 --tag churn
      model-service push model.onnx -m model.yaml --tag candidate
    """
    document = read_document(metadata_file) if metadata_file else {}
    values = dict(zip(SCALARS, (name, algorithm, description, file_format, status, created_by), strict=True))
    metadata = merge(document, scalars=values, metrics=pairs(metrics, "--metric", numbers=True),
                     hyperparameters=pairs(hyperparameters, "--param"), dataset_info=pairs(dataset_info, "--dataset"),
                     tags=tags, breaking_changes=breaking_changes)
    clashing = sorted(SDK_ARGUMENTS & metadata.keys())
    if clashing:  # the SDK's own arguments, not registration fields: refused here rather than misread
        raise click.BadParameter(f"{', '.join(map(repr, clashing))} is not a metadata field", param_hint="--metadata")
    with render.transfer_progress(f"push {file.name}", file.stat().st_size,
                                  visible=render.progress_wanted(show_progress, remote.as_json)) as progress:
        result = remote.client.push(file, progress=progress, **metadata)
    if remote.as_json:
        render.echo_json(result)
        return
    model = result.get("model") or result
    stored = model.get("file_metadata") or {}
    click.echo(f"Pushed {_label(model)} ({model.get('id')}): {stored.get('filename') or file.name}, "
               f"{render.size(stored.get('size_bytes'))}, {stored.get('checksum', '-')}, "
               f"scan {render.verdict(stored.get('scan')).plain}")


@click.command("pull", epilog=EPILOG)
@click.argument("ref", type=REF)
@click.option("-o", "--output", type=click.Path(dir_okay=True), default=None, metavar="PATH",
              help="File to write; or a folder (existing, or ending in '/') to write the server's file name "
                   "<name><extension> into [default: .]")
@progress_option
@remote_command
def pull(remote: Remote, ref: Any, output: str | None, show_progress: bool | None) -> None:
    """Download the file of REF: ID, NAME (latest), NAME@ALIAS or NAME/VERSION.

    The download resumes after a broken connection and is verified against the server's
    sha256 before it replaces PATH; a bad or partial file is never left behind.

    \b
    Examples:
      model-service pull fraud_model@production -o models/
      model-service pull fraud_model/v1.2 -o fraud.joblib
    """
    model = remote.client.get_model(ref)  # one resolution: an alias moving meanwhile cannot mix versions
    stored = model.get("file_metadata") or {}
    with render.transfer_progress(f"pull {_label(model)}", stored.get("size_bytes"),
                                  visible=render.progress_wanted(show_progress, remote.as_json)) as progress:
        path = remote.client.download(model["id"], output, progress=progress)
    if remote.as_json:
        render.echo_json({"path": str(path), "id": model["id"], "name": model.get("name"),
                          "version": model.get("version"), "checksum": stored.get("checksum"),
                          "size_bytes": stored.get("size_bytes")})
        return
    click.echo(f"Pulled {_label(model)} ({model['id']}) to {path} ({render.size(stored.get('size_bytes'))}, "
               f"{stored.get('checksum', '-')} verified)")


# ---- ls, show, versions ----------------------------------------------------------------------------------

def _metrics(model: dict[str, Any], most: int = 3) -> str:
    metrics = model.get("metrics") or {}
    shown = " ".join(f"{key}={render.text(value)}" for key, value in list(metrics.items())[:most])
    return shown + (" …" if len(metrics) > most else "") if shown else "-"


def _size_of(model: dict[str, Any]) -> str:
    stored = model.get("file_metadata") or {}
    return render.size(stored.get("size_bytes")) if stored else "-"


@click.command("ls", epilog=EPILOG)
@click.option("--name", help="Exactly this name")
@click.option("--algorithm", help="Exactly this algorithm")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--tag", "tags", multiple=True, help="Has this tag (repeat: any of them)")
@click.option("--all-tags", "tags_all", multiple=True, metavar="TAG", help="Has this tag (repeat: all of them)")
@click.option("-q", "--query", "q", help="Text in the name, algorithm, description or a tag")
@click.option("--min-accuracy", type=float, help="On the accuracy-like metric (test_accuracy, accuracy, …)")
@click.option("--created-by")
@click.option("--created-after", metavar="TIME", help="ISO 8601 date or time (inclusive)")
@click.option("--created-before", metavar="TIME", help="ISO 8601 date or time (exclusive)")
@click.option("--filter", "filter_text", metavar="EXPR",
              help="e.g. \"metrics.f1_score >= 0.9 AND (algorithm = 'xgboost' OR tags = 'production')\"")
@click.option("--sort", metavar="KEYS", help="Comma-separated, '-' for descending: -metrics.f1_score,name")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Show at most this many (pages are fetched as needed)")
@click.option("--all", "everything", is_flag=True, help="Show every match, however many")
@remote_command
def ls(remote: Remote, name: str | None, algorithm: str | None, status: str | None, tags: tuple[str, ...],
       tags_all: tuple[str, ...], q: str | None, min_accuracy: float | None, created_by: str | None,
       created_after: str | None, created_before: str | None, filter_text: str | None, sort: str | None,
       limit: int, everything: bool) -> None:
    """List model versions, newest first unless --sort: the server's search filters, ANDed.

    \b
    Examples:
      model-service ls --algorithm xgboost --tag production
      model-service ls --filter "metrics.f1_score >= 0.9" --sort -metrics.f1_score --limit 5
      model-service ls --all --json | jq -r '.[].id'
    """
    filters = {"name": name, "algorithm": algorithm, "status": status, "tags": ",".join(tags) or None,
               "tags_all": ",".join(tags_all) or None, "q": q, "min_accuracy": min_accuracy,
               "created_by": created_by, "created_after": created_after, "created_before": created_before,
               "filter": filter_text, "sort": sort}
    filters = {key: value for key, value in filters.items() if value is not None}
    if not everything:  # pages no longer than what is shown: --limit 5 costs one small request
        filters["page_size"] = min(limit, PAGE_SIZE)
    found, total = _walk(remote.client.search(**filters), None if everything else limit)
    if remote.as_json:
        render.echo_json(found)
        return
    if not found:
        click.echo("No model versions match.", err=True)
        return
    render.table(["ID", "NAME", "VERSION", "ALGORITHM", "STATUS", "METRICS", "SIZE>", "CREATED"],
                 [(m["id"], m.get("name"), m.get("version"), m.get("algorithm"), m.get("status"), _metrics(m),
                   _size_of(m), render.moment(m.get("created_at"))) for m in found])
    if total > len(found):
        click.echo(f"{len(found)} of {total} versions: --limit N or --all for more", err=True)


def _walk(pager: Any, limit: int | None) -> tuple[list[dict[str, Any]], int]:
    """Up to ``limit`` items of the pager (every one if None), and the server's count of matches.
    The count comes with the first page, which the walk reuses. (The pager's own ``limit`` would
    cap that count too, so the walk stops here instead.)"""
    total = pager.total
    found: list[dict[str, Any]] = []
    for item in pager:
        found.append(item)
        if limit is not None and len(found) >= limit:
            break
    return found, total


@click.command("show", epilog=EPILOG)
@click.argument("ref", type=REF)
@remote_command
def show(remote: Remote, ref: Any) -> None:
    """One version and its file: metadata, aliases, checksum, size and the file's scan verdict.

    REF is ID, NAME (latest), NAME@ALIAS or NAME/VERSION.
    """
    model = remote.client.get_model(ref)
    aliases = sorted(entry["alias"] for entry in remote.client.aliases(model["name"]).get("aliases") or []
                     if entry.get("model_id") == model["id"])
    if remote.as_json:
        render.echo_json({**model, "aliases": aliases})
        return
    rows: list[tuple[str, Any]] = [
        ("id", model.get("id")), ("name", model.get("name")), ("version", model.get("version")),
        ("aliases", aliases), ("algorithm", model.get("algorithm")), ("status", model.get("status")),
        ("description", model.get("description")), ("tags", model.get("tags")),
        ("metrics", model.get("metrics")), ("hyperparameters", model.get("hyperparameters")),
        ("dataset", model.get("dataset_info")), ("parent", model.get("parent_model_id")),
        ("created", f"{render.moment(model.get('created_at'))} by {model.get('created_by')}"),
        ("updated", render.moment(model.get("updated_at"))), ("downloads", model.get("download_count")),
    ]
    stored = model.get("file_metadata")
    if stored:
        scan = stored.get("scan") or {}
        rows += [("file", stored.get("filename")), ("format", stored.get("format")),
                 ("size", f"{render.size(stored.get('size_bytes'))} ({stored.get('size_bytes')} bytes)"),
                 ("checksum", stored.get("checksum")), ("uploaded", render.moment(stored.get("uploaded_at"))),
                 ("scan", render.verdict(scan))]
        if scan.get("detail"):
            rows.append(("scan detail", scan["detail"]))
        if scan.get("globals"):
            rows.append(("scan found", [f"{g.get('module')}.{g.get('name')} ({g.get('safety')})"
                                        for g in scan["globals"]]))
    else:
        rows.append(("file", "none uploaded"))
    render.fields(rows)


@click.command("versions", epilog=EPILOG)
@click.argument("name")
@remote_command
def versions(remote: Remote, name: str) -> None:
    """Every version of NAME, newest first, with the aliases that point at each."""
    found = remote.client.versions(name)
    if remote.as_json:
        render.echo_json(found)
        return
    by_version: dict[str, list[str]] = {}
    for alias, version in sorted((found.get("aliases") or {}).items()):
        by_version.setdefault(version, []).append(alias)
    render.table(["VERSION", "ID", "STATUS", "ALIASES", "ALGORITHM", "METRICS", "SIZE>", "CREATED"],
                 [(m.get("version"), m["id"], m.get("status"), by_version.get(m.get("version"), []),
                   m.get("algorithm"), _metrics(m), _size_of(m), render.moment(m.get("created_at")))
                  for m in found.get("versions") or []])


# ---- status, rm ------------------------------------------------------------------------------------------

@click.command("status", epilog=EPILOG)
@click.argument("ref", type=REF)
@click.argument("status", type=click.Choice(STATUSES))
@remote_command
def status(remote: Remote, ref: Any, status: str) -> None:
    """Move REF through its lifecycle: active → deprecated → archived (recorded with who and when).

    REF is ID, NAME/VERSION, NAME@ALIAS or NAME (latest).
    """
    result = remote.client.set_status(ref, status)
    if remote.as_json:
        render.echo_json(result)
        return
    model = result.get("model") or result
    click.echo(f"{_label(model)} ({model.get('id')}) is now {model.get('status')}")


@click.command("rm", epilog=EPILOG)
@click.argument("ref", type=REF)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation")
@remote_command
def rm(remote: Remote, ref: Any, yes: bool) -> None:
    """Delete one version (and its file, once no other version shares it). Asks first unless --yes.

    REF is ID, NAME/VERSION, NAME@ALIAS or NAME (latest): it is resolved once, and the version
    shown in the question is the one deleted.
    """
    model = remote.client.get_model(ref)
    if not yes:
        click.confirm(f"Delete {_label(model)} ({model['id']})?", abort=True, err=True)
    result = remote.client.delete_model(model["id"])
    if remote.as_json:
        render.echo_json(result)
        return
    click.echo(f"Deleted {_label(model)} ({model['id']})")


# ---- alias set | rm ----------------------------------------------------------------------------------------

@click.group("alias", epilog=EPILOG)
def alias() -> None:
    """Point an alias (production, champion, …) at a version of a name, or remove it."""


@alias.command("set", epilog=EPILOG)
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.argument("version")
@click.option("--expected", metavar="VERSION",
              help="Move only if the alias points at VERSION now ('none': only if it is not set); else exit 4")
@remote_command
def alias_set(remote: Remote, name: str, alias_name: str, version: str, expected: str | None) -> None:
    """Point NAME@ALIAS at VERSION (v1.2 or latest), atomically.

    \b
    Example, promote v1.3 only if production is still on v1.2:
      model-service alias set fraud_model production v1.3 --expected v1.2
    """
    if expected is not None and expected.lower() == "none":
        result = remote.client.set_alias(name, alias_name, version, only_if_unset=True)
    else:
        result = remote.client.set_alias(name, alias_name, version, expected_version=expected)
    if remote.as_json:
        render.echo_json(result)
        return
    was = result.get("previous_version")
    click.echo(f"{name}@{alias_name} → {result.get('version')} ({result.get('model_id')})"
               + (f", was {was}" if was else ", new"))


@alias.command("rm", epilog=EPILOG)
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.option("--expected", metavar="VERSION", help="Remove only if the alias points at VERSION now; else exit 4")
@remote_command
def alias_rm(remote: Remote, name: str, alias_name: str, expected: str | None) -> None:
    """Remove NAME@ALIAS (the version it pointed at stays)."""
    result = remote.client.delete_alias(name, alias_name, expected_version=expected)
    if remote.as_json:
        render.echo_json(result)
        return
    was = result.get("previous_version")
    click.echo(f"Removed {name}@{alias_name}" + (f" (was {was})" if was else ""))


COMMANDS = (push, pull, ls, show, versions, status, rm, alias)
