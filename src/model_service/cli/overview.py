"""``model-service compare | stats | health``: the registry as a whole, over HTTP."""

from __future__ import annotations

from typing import Any

import click
from rich.text import Text

from . import render
from .registry import REF
from .remote import EPILOG, CommandFailed, ExitCode, Remote, remote_command


@click.command("compare", epilog=EPILOG)
@click.argument("refs", nargs=-1, required=True, type=REF, metavar="REF REF...")
@remote_command
def compare(remote: Remote, refs: tuple[Any, ...]) -> None:
    """Metrics and hyperparameters of 2 to 10 versions side by side; the best value of each
    metric is starred (highest, or lowest for losses, errors and latencies).

    \b
    Example:
      model-service compare fraud_model@production fraud_model/v1.3 fraud_model
    """
    if not 2 <= len(refs) <= 10:
        raise click.UsageError(f"compare takes 2 to 10 versions, not {len(refs)}")
    result = remote.client.compare(list(refs))
    if remote.as_json:
        render.echo_json(result)
        return
    models = result.get("models") or []
    ids = [m["id"] for m in models]
    headers = ["", *(f"{m.get('name')} {m.get('version')}" for m in models)]
    best = {metric: set((entry or {}).get("model_ids") or []) for metric, entry in (result.get("best") or {}).items()}
    differing = set((result.get("differences") or {}).get("hyperparameters") or [])
    rows: list[list[Any]] = [["id", *ids], ["algorithm", *(m.get("algorithm") for m in models)],
                             ["status", *(m.get("status") for m in models)]]
    for metric, values in (result.get("metrics") or {}).items():
        rows.append([metric, *(_starred(values.get(i), i in best.get(metric, ())) for i in ids)])
    for parameter, values in (result.get("hyperparameters") or {}).items():
        if parameter in differing:
            rows.append([parameter, *(values.get(i) for i in ids)])
    render.table(headers, rows)
    same = len(result.get("hyperparameters") or {}) - len(differing)
    if same:
        click.echo(f"{same} hyperparameter(s) equal in every version not shown (--json has them)", err=True)


def _starred(value: Any, is_best: bool) -> Text:
    shown = render.text(value)
    return Text(f"{shown} *", style="bold green") if is_best else Text(shown)


@click.command("stats", epilog=EPILOG)
@remote_command
def stats(remote: Remote) -> None:
    """Registry figures: versions by algorithm and status, downloads, storage, recent activity.

    --json prints GET /api/v1/models/statistics as the server returns it.
    """
    figures = remote.client.statistics()
    if remote.as_json:
        render.echo_json(figures)
        return
    platform = remote.client.platform_statistics()  # its storage figures are in bytes, not rounded GB
    storage = platform.get("storage_stats") or {}
    recent = figures.get("recent_activity") or {}
    today = platform.get("recent_activity") or {}
    render.fields([
        ("model versions", figures.get("total_models")),
        ("by status", figures.get("status_distribution")),
        ("by algorithm", figures.get("algorithms")),
        ("downloads", figures.get("total_downloads")),
        ("storage", f"{render.size(storage.get('total_size_bytes'))} "
                    f"(a file: {render.size(storage.get('average_model_size_bytes'))} on average)"),
        ("added", f"{today.get('models_created_today')} today, {recent.get('models_added_last_7_days')} "
                  "in the last 7 days"),
        ("downloaded", f"{today.get('models_downloaded_today')} today, {recent.get('downloads_last_24_hours')} "
                       "in the last 24 hours"),
    ])


@click.command("health", epilog=EPILOG)
@click.option("--detailed", is_flag=True, help="Check every backend: database, file store, disk space, integrity")
@remote_command
def health(remote: Remote, detailed: bool) -> None:
    """Whether the server answers (exit 0) and, with --detailed, whether each backend is healthy
    (exit 6 if one is not, with the report still printed)."""
    report = remote.client.health(detailed=detailed)
    healthy = report.get("status") == "healthy"
    if remote.as_json:
        render.echo_json(report)
    else:
        rows: list[tuple[str, Any]] = [("status", _state(report.get("status"))),
                                       ("service", f"{report.get('service')} {report.get('version')}"),
                                       ("server", remote.shown_url)]
        if "uptime_seconds" in report:
            rows.append(("uptime", f"{report['uptime_seconds']} s"))
        rows += [(name, _state(state)) for name, state in (report.get("checks") or {}).items()]
        if report.get("metrics"):
            rows.append(("figures", report["metrics"]))
        render.fields(rows)
    if not healthy:
        issues = ", ".join(report.get("issues") or []) or report.get("status")
        raise CommandFailed(f"the server at {remote.shown_url} is unhealthy: {issues}", ExitCode.UNAVAILABLE)


def _state(value: Any) -> Text:
    shown = render.text(value)
    return Text(shown, style="green" if shown == "healthy" else "bold red")


COMMANDS = (compare, stats, health)
