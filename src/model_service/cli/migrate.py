"""``model-service migrate``: copy the whole registry from one pair of stores to another.

Also the helpers the other commands that open stores of their own by URL use (``export``,
``import``): :func:`split_urls` and :func:`open_stores`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace

import click

from .settings import redact_url, settings_from_env


@click.command("migrate")
@click.option("--from", "source", metavar="DB_URL[,BLOB_URL]",
              help="Where to copy from; default the service's own DATABASE_URL and BLOB_STORE_URL.")
@click.option("--to", "target", required=True, metavar="DB_URL[,BLOB_URL]",
              help="Where to copy to; without BLOB_URL the files stay where they are (only checked).")
def migrate(source: str | None, target: str) -> None:
    """Copy every model version, event, alias, file, API key and audit record to other stores.

    Files are hashed on arrival and kept only if they match their sha256. Safe to run again:
    what is already there is skipped, so after an interruption the same command completes the
    copy. The target's schema is created or upgraded first. Exit status 1 if anything could
    not be copied (each listed in the summary).

    \b
    Example, from the embedded default to PostgreSQL and S3:
      model-service migrate --to postgresql://reg@db/registry,s3://models-bucket/registry
    """
    settings = settings_from_env()
    from ..domain.errors import RegistryError
    from ..operations.transfer import copy_registry

    source_db, source_blobs = split_urls(source) if source else (settings.resolved_database_url,
                                                                  settings.resolved_blob_store_url)
    target_db, target_blobs = split_urls(target)
    source_blobs = source_blobs or settings.resolved_blob_store_url
    same_blobs = target_blobs is None or target_blobs == source_blobs
    target_blobs = target_blobs or source_blobs
    if target_db == source_db:
        raise click.ClickException("--from and --to name the same metadata database")

    try:
        with ExitStack() as stack:
            source_side = stack.enter_context(open_stores(settings, source_db, source_blobs, migrate_schema=False))
            target_side = stack.enter_context(open_stores(settings, target_db, target_blobs, migrate_schema=True))
            click.echo(f"copying {redact_url(source_db)} + {redact_url(source_blobs)}\n"
                       f"     to {redact_url(target_db)} + {redact_url(target_blobs)}"
                       + (" (files stay where they are)" if same_blobs else ""), err=True)
            summary = copy_registry(source_side, target_side, same_blobs=same_blobs, progress=_progress)
    except RegistryError as exc:
        raise click.ClickException(f"{exc.message} (run the same command again to resume)") from None
    click.echo("\n".join(summary.lines()))
    if not summary.ok:
        sys.exit(1)


def split_urls(value: str) -> tuple[str, str | None]:
    """``DB_URL[,BLOB_URL]`` → the two URLs (the second None when not given)."""
    db_url, _, blob_url = value.partition(",")
    if not db_url.strip():
        raise click.BadParameter(f"'{value}': expected DB_URL[,BLOB_URL]")
    return db_url.strip(), blob_url.strip() or None


@contextmanager
def open_stores(settings, db_url: str, blob_url: str, *, migrate_schema: bool) -> Iterator:
    """The metadata store at ``db_url`` (its schema checked, or with ``migrate_schema`` created or
    upgraded) and the blob store at ``blob_url``, as :class:`~..operations.transfer.Stores`; both
    closed on exit. A ``gridfs://`` blob store lives beside that side's MongoDB, if it has one."""
    from ..operations.transfer import Stores
    from ..stores import BackendOptions, build_blob_store, build_metadata_store, scheme_of

    options = BackendOptions.from_settings(settings)
    if scheme_of(db_url) in ("mongodb", "mongodb+srv"):
        options = replace(options, mongodb_url=db_url)
    with ExitStack() as stack:
        metadata = build_metadata_store(db_url, options)
        stack.callback(metadata.close)
        metadata.prepare(migrate=migrate_schema)
        blobs = build_blob_store(blob_url, options)
        stack.callback(blobs.close)
        yield Stores(metadata, blobs)


def _progress(summary) -> None:
    click.echo(f"  {summary.records_copied + summary.records_present} records, "
               f"{summary.blobs_copied} files copied, {len(summary.failures)} failures, "
               f"{summary.seconds:.0f} s", err=True)
