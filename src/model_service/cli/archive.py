"""``model-service export`` / ``import``: the whole registry to one archive file, and back.

The archive's layout is described in :mod:`model_service.operations.archive`.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import ExitStack
from pathlib import Path

import click

from .keys import _cli_actor as cli_actor  # the actor of the keys commands: cli:<user>
from .migrate import open_stores, split_urls
from .settings import redact_url, settings_from_env


@click.command("export")
@click.argument("path")
@click.option("--zstd", "compress", is_flag=True,
              help="Compress with Zstandard (the default when PATH ends with .zst or .tzst).")
@click.option("--from", "source", metavar="DB_URL[,BLOB_URL]",
              help="What to export; default the service's own DATABASE_URL and BLOB_STORE_URL.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def export_archive(path: str, compress: bool, source: str | None, as_json: bool) -> None:
    """Write every model version, event, alias, file, API key (its hash) and audit record to PATH.

    One tar archive (.tar.zst: compressed), streamed: memory stays flat however large the
    registry. It is written to PATH.partial and renamed to PATH once complete. A file missing
    from the blob store or not matching its sha256 is listed (its version's metadata is exported
    all the same) and makes the exit status 1. PATH '-' writes to standard output.

    \b
    Examples:
      model-service export registry-2026-03-01.tar.zst
      model-service export - --zstd | aws s3 cp - s3://backups/registry.tar.zst
    """
    settings = settings_from_env()
    from ..domain.errors import RegistryError
    from ..operations.archive import archive_is_compressed, export_registry

    db_url, blob_url = split_urls(source) if source else (settings.resolved_database_url, None)
    blob_url = blob_url or settings.resolved_blob_store_url
    compress = compress or archive_is_compressed(path)
    to_stdout = path == "-"
    partial = None if to_stdout else Path(f"{path}.partial")
    try:
        with ExitStack() as stack:
            stores = stack.enter_context(open_stores(settings, db_url, blob_url, migrate_schema=False))
            click.echo(f"exporting {redact_url(db_url)} + {redact_url(blob_url)} to {path}"
                       + (" (zstd)" if compress else ""), err=True)
            out = sys.stdout.buffer if partial is None else stack.enter_context(open(partial, "wb"))
            summary = export_registry(stores, out, compress=compress, progress=_exported,
                                      origin={"metadata": redact_url(db_url), "blobs": redact_url(blob_url)})
            if partial is not None:
                out.flush()
                os.fsync(out.fileno())
        if partial is not None:
            os.replace(partial, path)
    except RegistryError as exc:
        _remove(partial)
        raise click.ClickException(f"{exc.message} (nothing was written to {path})") from None
    except OSError as exc:
        _remove(partial)
        raise click.ClickException(f"Could not export to {path}: {exc.strerror or exc}") from None
    except BaseException:
        _remove(partial)
        raise
    _report(summary, as_json, err=to_stdout)


@click.command("import")
@click.argument("path")
@click.option("--to", "target", metavar="DB_URL[,BLOB_URL]",
              help="Where to restore to; default the service's own DATABASE_URL and BLOB_STORE_URL.")
@click.option("--with-keys", is_flag=True,
              help="Also import the archive's API keys: their hashes then authenticate on the target.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def import_archive(path: str, target: str | None, with_keys: bool, as_json: bool) -> None:
    """Restore an archive written by `model-service export` into any pair of stores.

    Every file is hashed as it is read and kept only if it matches its sha256; a version whose
    file is damaged or missing is left out and listed. Nothing but files is written until the
    whole archive has been read and checked, so a truncated archive is refused with no version,
    event, alias, key or audit record written. The target's schema is created or upgraded
    first. Safe to run again: what is already there is skipped. Exit status 1 if anything was
    left out. PATH '-' reads standard input.

    Nothing in the archive is trusted: every file is scanned again with this service's scanner
    settings (SCAN_MODELS, ...) and keeps the new verdict; under REJECT_UNSAFE_MODELS=true a
    version whose file is unsafe is refused, as its upload would be. API keys are imported only
    with --with-keys. Audit records are imported marked as such (details.imported: the archive's
    sha256, who imported it, when), and the import is itself an audit record (registry.import).

    \b
    Example, into PostgreSQL and S3:
      model-service import registry-2026-03-01.tar.zst \\
          --to postgresql://reg@db/registry,s3://models-bucket/registry
    """
    settings = settings_from_env()
    from ..domain.errors import RegistryError, Unavailable
    from ..operations.archive_import import import_registry
    from ..operations.archive_policy import ImportPolicy
    from ..scanner.service import build_scanner

    db_url, blob_url = split_urls(target) if target else (settings.resolved_database_url, None)
    blob_url = blob_url or settings.resolved_blob_store_url
    policy = ImportPolicy(scanner=build_scanner(settings), actor=cli_actor(),
                          reject_unsafe=settings.reject_unsafe_models, with_keys=with_keys)
    if with_keys:
        click.echo("WARNING: --with-keys: the archive's API key hashes will authenticate on the target, with "
                   "their scopes (admin included): whoever holds a key that hashes to one of them gets in. "
                   "Import keys only from an archive you made yourself and kept safe.", err=True)
    try:
        with ExitStack() as stack:
            source = sys.stdin.buffer if path == "-" else stack.enter_context(open(path, "rb"))
            stores = stack.enter_context(open_stores(settings, db_url, blob_url, migrate_schema=True))
            click.echo(f"importing {path} into {redact_url(db_url)} + {redact_url(blob_url)}"
                       + ("" if policy.scanner is not None else " (SCAN_MODELS=false: every file unscanned)"), err=True)
            summary = import_registry(source, stores, policy, progress=_imported)
    except Unavailable as exc:
        raise click.ClickException(f"{exc.message} (run the same command again to resume)") from None
    except RegistryError as exc:
        raise click.ClickException(exc.message) from None
    except OSError as exc:
        raise click.ClickException(f"Could not read {path}: {exc.strerror or exc}") from None
    _report(summary, as_json)


def _report(summary, as_json: bool, *, err: bool = False) -> None:
    click.echo(json.dumps(summary.to_json(), indent=2) if as_json else "\n".join(summary.lines()), err=err)
    if not summary.ok:
        sys.exit(1)


def _exported(summary) -> None:
    click.echo(f"  {summary.records} records, {summary.blobs} files, {len(summary.problems)} problems, "
               f"{summary.seconds:.0f} s", err=True)


def _imported(summary) -> None:
    click.echo(f"  {summary.records_copied + summary.records_present} records, {summary.blobs_copied} files "
               f"stored, {len(summary.failures)} problems, {summary.seconds:.0f} s", err=True)


def _remove(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)
