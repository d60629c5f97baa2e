"""Output of the registry commands: rich tables for people, JSON for scripts, progress bars on stderr.

On a terminal, tables have rules and colour; elsewhere (a pipe, a file, a test runner) they are
plain columns separated by spaces, never wrapped or cut, so ``awk`` and ``grep`` can read them.
Progress bars go to stderr, so stdout stays the result alone.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click
from rich import box
from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

ProgressCallback = Callable[[int, "int | None"], None]


def echo_json(data: Any) -> None:
    """``data`` as indented JSON on stdout (times and other non-JSON values as strings)."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def stdout_is_terminal() -> bool:
    return Console().is_terminal


def emit(renderable: RenderableType) -> None:
    """Print a rich renderable on stdout: styled on a terminal, plain and unwrapped elsewhere."""
    console = Console(highlight=False)
    if console.is_terminal:
        console.print(renderable)
        return
    buffer = io.StringIO()
    Console(file=buffer, width=10_000, color_system=None, highlight=False).print(renderable)
    click.echo("\n".join(line.rstrip() for line in buffer.getvalue().splitlines()))


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None) -> None:
    """A table; a column named with a trailing ``>`` is right-aligned (numbers)."""
    terminal = stdout_is_terminal()
    grid = Table(box=box.SIMPLE_HEAD if terminal else None, pad_edge=False, show_edge=False,
                 header_style="bold" if terminal else "", title=title if terminal else None)
    for column in columns:
        header = column.rstrip(">")
        grid.add_column(header, justify="right" if column.endswith(">") else "left", no_wrap=not terminal)
    for row in rows:
        grid.add_row(*(cell if isinstance(cell, Text) else Text(text(cell)) for cell in row))
    if title and not terminal:
        click.echo(title)
    emit(grid)


def fields(pairs: Sequence[tuple[str, Any]], *, title: str | None = None) -> None:
    """``label  value`` lines, labels aligned (one record, shown to a person)."""
    terminal = stdout_is_terminal()
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold" if terminal else "", no_wrap=True)
    grid.add_column()
    for label, value in pairs:
        grid.add_row(Text(label), value if isinstance(value, Text) else Text(text(value)))
    if title:
        emit(Text(title, style="bold") if terminal else Text(title))
    emit(grid)


def text(value: Any) -> str:
    """A cell: ``-`` for nothing, lists joined with commas, dicts as ``key=value``."""
    if value is None or value == "" or value == [] or value == {}:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return ", ".join(text(item) for item in value)
    if isinstance(value, dict):
        return " ".join(f"{key}={text(item)}" for key, item in value.items())
    return str(value)


def size(value: int | None) -> str:
    """Bytes as people read them: ``1.2 MB`` (powers of 1024, like the server's ``model_size``)."""
    if value is None:
        return "-"
    amount = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if amount < 1024 or unit == "TB":
            return f"{int(amount)} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")


def moment(value: str | None) -> str:
    """An ISO 8601 time from the API as ``2026-03-01 10:15`` (its own zone, UTC from the server)."""
    if not value:
        return "-"
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return value


def verdict(scan: dict[str, Any] | None) -> Text:
    """A file's scan verdict, coloured on a terminal (red unsafe, yellow suspicious)."""
    name = (scan or {}).get("verdict") or "unscanned"
    style = {"safe": "green", "suspicious": "yellow", "unsafe": "bold red"}.get(name, "")
    return Text(name, style=style)


def progress_wanted(choice: bool | None, as_json: bool) -> bool:
    """``--progress`` / ``--no-progress`` if given; else a bar only for a person watching stderr."""
    if choice is not None:
        return choice
    return not as_json and Console(stderr=True).is_terminal


@contextmanager
def transfer_progress(description: str, total: int | None, *, visible: bool) -> Iterator[ProgressCallback]:
    """A progress bar on stderr for one transfer; yields the SDK's ``progress(done, total)`` callback.

    Hidden (but still fed) when ``visible`` is false, so the callback path is the same either way."""
    console = Console(stderr=True, highlight=False)
    if not console.is_terminal:  # shown anyway (--progress): one line, as wide as it needs
        console = Console(stderr=True, highlight=False, width=200)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                        TimeRemainingColumn(), console=console, disable=not visible)
    with progress:
        task = progress.add_task(description, total=total)

        def update(done: int, known_total: int | None) -> None:
            progress.update(task, completed=done, total=known_total if known_total is not None else total)

        yield update
