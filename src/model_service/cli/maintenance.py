"""``model-service gc``, ``fsck`` and ``cleanup``: maintenance of the configured stores, without
the server (and safe beside running servers: see README, "Maintenance")."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click

from .settings import settings_from_env


def _now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _registry() -> Iterator:
    """The registry on DATABASE_URL and BLOB_STORE_URL (schema brought up to date where the
    service would do it at start-up); store errors become a clean exit."""
    settings = settings_from_env()
    from ..domain.errors import RegistryError
    from ..domain.registry import Registry
    from ..stores import BackendOptions, build_blob_store, build_metadata_store

    with ExitStack() as opened:  # closed last to first, once the error below is raised
        try:
            options = BackendOptions.from_settings(settings)
            metadata = build_metadata_store(settings.resolved_database_url, options)
            opened.callback(metadata.close)
            metadata.prepare(migrate=settings.should_migrate)
            blobs = build_blob_store(settings.resolved_blob_store_url, options)
            opened.callback(blobs.close)
            yield Registry(metadata, blobs, max_file_size=settings.max_file_size, clock=_now)
        except RegistryError as exc:
            raise click.ClickException(exc.message) from None


def _duration(value: str | None, option: str):
    if value is None:
        return None
    from ..domain.errors import Invalid
    from ..operations.retention import parse_duration

    try:
        return parse_duration(value, option)
    except Invalid as exc:
        raise click.BadParameter(exc.message, param_hint=option) from None


def _emit(report, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        for line in report.lines():
            click.echo(line)


# ---- gc -------------------------------------------------------------------------------------------

@click.command("gc")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed")
@click.option("--temp-older-than", default="24h", show_default=True, metavar="DURATION",
              help="Remove temporary uploads last written longer ago than this (uploads in flight are younger)")
@click.option("--orphans-older-than", default="0s", show_default=True, metavar="DURATION",
              help="Remove only unreferenced blobs written longer ago than this")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON")
def gc(dry_run: bool, temp_older_than: str, orphans_older_than: str, as_json: bool) -> None:
    """Remove blobs no version references, stale temporary uploads and unfinished multipart
    uploads, and report the bytes reclaimed.

    Safe while the service runs: each blob is deleted under the same lock that uploads and
    deletions of its content hold, after checking again that no version references it.
    Exit status 1 if something could not be removed.
    """
    from ..operations.gc import collect

    temp_age, orphan_age = _duration(temp_older_than, "--temp-older-than"), _duration(orphans_older_than,
                                                                                        "--orphans-older-than")
    with _registry() as registry:
        report = collect(registry.metadata, registry.blobs, now=_now(), dry_run=dry_run, temp_older_than=temp_age,
                         orphans_older_than=orphan_age)
    _emit(report, as_json)
    if not report.ok:
        sys.exit(1)


# ---- fsck -----------------------------------------------------------------------------------------

@click.command("fsck")
@click.option("--repair", is_flag=True,
              help="Fix what can be fixed without loss: delete orphan blobs, remove stale temporary uploads, mark "
                   "versions whose file is gone or damaged 'corrupted'")
@click.option("--drop-damaged", is_flag=True,
              help="With --repair: also delete blobs whose bytes are not what their sha256 says (once their "
                   "versions are marked), so that the right content can be uploaded again")
@click.option("--quick", is_flag=True, help="Check sizes only; do not re-hash every blob")
@click.option("--temp-older-than", default="24h", show_default=True, metavar="DURATION",
              help="Report temporary uploads last written longer ago than this")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON")
def fsck(repair: bool, drop_damaged: bool, quick: bool, temp_older_than: str, as_json: bool) -> None:
    """Check every blob and every reference, in both directions.

    Re-hashes every blob (streamed) and reports versions whose blob is missing, blobs whose
    size or sha256 is wrong, blobs no version references and stale temporary uploads. Exit
    status 1 if it found any problem (repaired or not: run it again to confirm), 0 if clean.
    """
    from ..operations.fsck import scrub

    if drop_damaged and not repair:
        raise click.UsageError("--drop-damaged is a repair: give --repair too")
    age = _duration(temp_older_than, "--temp-older-than")
    with _registry() as registry:
        report = scrub(registry.metadata, registry.blobs, now=_now(), repair=repair, rehash=not quick,
                       temp_older_than=age, drop_damaged=drop_damaged, clock=_now)
    _emit(report, as_json)
    if not report.ok:
        sys.exit(1)


# ---- cleanup (retention) ----------------------------------------------------------------------------

@click.command("cleanup")
@click.option("--archived-older-than", default=None, metavar="DURATION",
              help="Delete archived versions created longer ago than this (90d, 12w, …): the seed's cleanup")
@click.option("--prefix", default=None, help="A rule for the names starting with this ('' for every name)")
@click.option("--keep-newest", type=click.IntRange(min=0), default=None, help="With --prefix: keep each name's "
              "newest N versions")
@click.option("--keep-best", type=click.IntRange(min=0), default=None, help="With --prefix: keep each name's "
              "best N versions by --metric")
@click.option("--metric", default=None, help="The metric of --keep-best (highest is best)")
@click.option("--lower-is-better", is_flag=True, help="For --keep-best: the lowest value is best (a loss)")
@click.option("--rules", "rules_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Rules from a YAML or JSON file")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted")
@click.option("--json", "as_json", is_flag=True, help="The list as JSON")
def cleanup(archived_older_than: str | None, prefix: str | None, keep_newest: int | None, keep_best: int | None,
            metric: str | None, lower_is_better: bool, rules_file: Path | None, dry_run: bool,
            as_json: bool) -> None:
    """Delete versions by age and by retention rules; never one that an alias points at.

    \b
    Examples:
      model-service cleanup --archived-older-than 90d --dry-run
      model-service cleanup --prefix fraud_ --keep-newest 5 --keep-best 3 --metric accuracy
      model-service cleanup --rules retention.yaml --dry-run --json

    Each deletion is the registry's own (a 'deleted' event, an audit record by 'retention', the
    file's blob released with its last reference). Exit status 1 if a deletion failed.
    """
    from ..domain.errors import Invalid
    from ..operations.retention import Rule, apply, load_policy

    try:
        flag_rules: tuple[Rule, ...] = ()
        if prefix is not None:
            flag_rules = (Rule(prefix, keep_newest=keep_newest, keep_best=keep_best, metric=metric,
                               higher_is_better=not lower_is_better),)
        elif keep_newest is not None or keep_best is not None or metric is not None:
            raise click.UsageError("--keep-newest, --keep-best and --metric belong to a rule: give --prefix "
                                   "(--prefix '' for every name)")
        policy = load_policy(_read_rules(rules_file), archived_older_than=_duration(archived_older_than,
                                                                                    "--archived-older-than"),
                             rules=flag_rules)
    except Invalid as exc:
        raise click.UsageError(exc.message) from None
    with _registry() as registry:
        report = apply(registry, policy, now=_now(), dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        _table(report)
    if not report.ok:
        sys.exit(1)


def _read_rules(path: Path | None):
    if path is None:
        return None
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="--rules") from None


def _table(report) -> None:
    verb = "would delete" if report.dry_run else "deleted"
    rows = [("ACTION", "NAME", "VERSION", "ID", "STATUS", "CREATED", "SIZE", "WHY")]
    for action, candidates in ((verb, report.doomed), ("kept", report.kept)):
        for c in candidates:
            model = c.model
            why = c.reason if not c.aliases else f"{c.reason}; alias {', '.join(c.aliases)} points at it"
            rows.append((action, model.name, str(model.version), model.id, model.status.value,
                         f"{model.created_at:%Y-%m-%d}", "-" if model.file is None else _size(model.file.size_bytes),
                         why))
    if len(rows) > 1:
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
            click.echo("  ".join([*cells, row[-1]]).rstrip())
    total = sum(c.model.file.size_bytes for c in report.doomed if c.model.file is not None)
    click.echo(f"{verb} {len(report.doomed)} version(s) ({_size(total)} of files), kept {len(report.kept)} "
               f"for their aliases" + (f", {len(report.errors)} failed" if report.errors else ""), err=True)
    for error in report.errors:
        click.echo(f"error: {error}", err=True)


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
