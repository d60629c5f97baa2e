"""``model-service scan --stale``: re-scan the model files whose stored verdict is stale, on the
configured stores, without the server (and safe beside running servers)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click

from .settings import settings_from_env


def _now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _warnings_logged(log_format: str) -> Iterator[None]:
    """The re-scan's WARNING lines (a verdict that got worse) on stderr in ``LOG_FORMAT``, for the
    command's run only."""
    from ..server.logs import make_formatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(make_formatter(log_format))
    logger = logging.getLogger("model_service.operations")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


@click.command("scan")
@click.option("--stale", is_flag=True, help="Re-scan the files whose stored verdict is stale: judged by another "
              "scanner version than this one, or never scanned")
@click.option("--retry-transient", is_flag=True, help="With --stale: also the files left 'unscanned' by a scan that "
              "timed out, hit the memory cap or failed to run")
@click.option("--limit", type=click.IntRange(min=1), default=None, metavar="N",
              help="Re-scan at most N files (distinct blobs; every version of each is updated)")
@click.option("--dry-run", is_flag=True, help="Only list the versions that would be re-scanned")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON")
def scan(stale: bool, retry_transient: bool, limit: int | None, dry_run: bool, as_json: bool) -> None:
    """Re-scan model files, so that a scanner fix reaches old uploads.

    \b
    Examples:
      model-service scan --stale --dry-run
      model-service scan --stale --limit 100 --json

    Each file (blob) is read once into a local temporary file and scanned once; its new verdict is
    recorded on every version that has it, each with a 'scanned' event and an audit record by
    'rescan', unless another re-scan recorded one meanwhile. A verdict that got worse is logged as
    a WARNING. Exit status 1 if a verdict got worse or a file could not be re-scanned, 0 otherwise.
    """
    if not stale:
        raise click.UsageError("Say what to re-scan: --stale (the files whose verdict is stale)")
    settings = settings_from_env()
    from ..domain.errors import RegistryError
    from ..operations.rescan import rescan
    from ..server.app import build_registry

    try:
        registry = build_registry(settings)  # the stores, and the scanner the settings describe
    except RegistryError as exc:
        raise click.ClickException(exc.message) from None
    try:
        if registry.scanner is None:
            raise click.ClickException("Model file scanning is off (SCAN_MODELS=false): there is no scanner to "
                                       "re-scan with")
        with _warnings_logged(settings.log_format):
            report = rescan(registry.metadata, registry.blobs, registry.scanner, clock=_now, dry_run=dry_run,
                            limit=limit, retry_transient=retry_transient, temp_dir=settings.scan_temp_dir)
    except RegistryError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        registry.metadata.close()
        registry.blobs.close()
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        for line in report.lines():
            click.echo(line)
    if not report.ok:
        sys.exit(1)
