"""The benchmarks' results: a row per measurement, our figure beside the baseline measured in the
same run, judged against its target; printed as a table and saved as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Row:
    """One line of a result table: our figure beside the baseline of the same run."""

    metric: str
    unit: str
    ours: float | None
    baseline: float | None = None
    baseline_label: str = ""
    target: str = "-"
    status: str = "info"          # PASS, MISS, info, FAIL (could not measure)
    ratio: float | None = None
    runs: list[float] = field(default_factory=list)
    baseline_runs: list[float] = field(default_factory=list)
    note: str = ""

    def __post_init__(self) -> None:
        if self.ratio is None and self.ours is not None and self.baseline:
            self.ratio = self.ours / self.baseline


def judge_ratio(row: Row, minimum: float) -> Row:
    row.target = f">= {minimum:.2f}x {row.baseline_label.split()[0] if row.baseline_label else 'baseline'}"
    row.status = "FAIL" if row.ratio is None else ("PASS" if row.ratio >= minimum else "MISS")
    return row


def judge_at_least(row: Row, minimum: float, text: str | None = None) -> Row:
    row.target = text or f">= {minimum:g} {row.unit}"
    row.status = "FAIL" if row.ours is None else ("PASS" if row.ours >= minimum else "MISS")
    return row


def judge_below(row: Row, maximum: float, text: str | None = None) -> Row:
    row.target = text or f"< {maximum:g} {row.unit}"
    row.status = "FAIL" if row.ours is None else ("PASS" if row.ours < maximum else "MISS")
    return row


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit in ("req/s", "reg/s"):
        return f"{value:,.0f}"
    if unit == "ms":
        return f"{value:.2f}" if value >= 1 else f"{value:.3f}"
    if unit in ("MB", "MiB/s"):
        return f"{value:,.1f}"
    return f"{value:g}"


def _fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    if ratio >= 100:
        return f"{ratio:,.0f}x"
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.3f}x"


def render_table(title: str, rows: list[Row]) -> str:
    header = ["measurement", "ours", "baseline (same run)", "ratio", "target", "result"]
    lines = []
    for row in rows:
        base_unit = "req/s" if row.unit == "reg/s" else row.unit  # baselines serve GETs
        base = "-" if row.baseline is None else f"{_fmt(row.baseline, row.unit)} {base_unit} ({row.baseline_label})"
        lines.append([
            row.metric,
            f"{_fmt(row.ours, row.unit)} {row.unit}",
            base,
            _fmt_ratio(row.ratio),
            row.target,
            row.status,
        ])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    def fmt_line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in (0, 2, 4, 5) else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()
    rule = "-" * len(fmt_line(header))
    out = [title, rule, fmt_line(header), rule, *(fmt_line(line) for line in lines), rule]
    return "\n".join(out)


def render_runs(rows: list[Row]) -> str:
    """The individual repetitions behind each median, for the record."""
    out = []
    for row in rows:
        if len(row.runs) > 1 or len(row.baseline_runs) > 1:
            ours = ", ".join(_fmt(v, row.unit) for v in row.runs)
            base = ", ".join(_fmt(v, row.unit) for v in row.baseline_runs)
            out.append(f"  {row.metric}: ours [{ours}]" + (f"  baseline [{base}]" if base else ""))
    return "\n".join(out)


def write_json(path: str | None, script: str, rows: list[Row], extra: dict[str, Any]) -> None:
    if not path:
        return
    Path(path).write_text(json.dumps({"script": script, "rows": [asdict(r) for r in rows], **extra}, indent=2))
