#!/usr/bin/env python3
"""Run every benchmark (bench_files.py, bench_api.py, search.py, then backends.py) and print one summary.

Each script runs as its own time-bounded child process (its own server, nginx and temporary
folder, all cleaned up); their full reports are printed as they finish, then a summary of every
row with its target. Results are also saved as JSON and text under bench/results/ (git-ignored).

    .venv/bin/python bench/run_all.py            # or: make bench
    .venv/bin/python bench/run_all.py --size 256MiB --duration 5 --only api --profile

Exit status: 0 when every script ran (whatever the figures), 1 with --strict and a target
missed, 2 when a script failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import install_signal_handlers
from _results import Row, render_table

HERE = Path(__file__).resolve().parent


def run_script(name: str, args: list[str], timeout: float) -> dict | None:
    """Run one benchmark script; on timeout or interrupt it gets SIGTERM (so it cleans up) first."""
    with tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".json", delete=False) as tmp:
        json_path = Path(tmp.name)
    cmd = [sys.executable, str(HERE / f"{name}.py"), *args, "--json", str(json_path)]
    print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
    proc = subprocess.Popen(cmd)
    try:
        proc.wait(timeout=timeout)
    except (subprocess.TimeoutExpired, KeyboardInterrupt) as exc:
        proc.send_signal(signal.SIGTERM)  # the script stops its server and nginx, removes its folder
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if isinstance(exc, KeyboardInterrupt):
            json_path.unlink(missing_ok=True)
            raise
        print(f"=== {name}: stopped after {timeout:.0f}s", flush=True)
    try:
        if proc.returncode != 0:
            print(f"=== {name}: failed (exit {proc.returncode})", flush=True)
            return None
        return json.loads(json_path.read_text())
    except (OSError, ValueError):
        return None
    finally:
        json_path.unlink(missing_ok=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1GiB", help="file size for bench_files (default 1GiB)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions per file measurement (default 3)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (default 10)")
    parser.add_argument("--models", type=int, default=1000, help="models seeded for bench_api (default 1000)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra service setting passed to both scripts (repeatable)")
    parser.add_argument("--profile", action="store_true", help="bench_api: add py-spy profiles (extra runs)")
    parser.add_argument("--versions", type=int, default=100_000,
                        help="versions loaded for search.py (default 100000)")
    parser.add_argument("--backend-versions", type=int, default=20_000,
                        help="versions loaded per backend pair for backends.py (default 20000)")
    parser.add_argument("--only", choices=("files", "api", "search", "backends"), help="run one script only")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--save", default=str(HERE / "results"),
                        help="folder for the results (default bench/results; '' to not save)")
    return parser


def _plan(args: argparse.Namespace) -> list[tuple[str, list[str], float]]:
    """The scripts to run: (name, arguments, time limit in seconds)."""
    env_args = [a for item in args.env for a in ("--env", item)]
    plan: list[tuple[str, list[str], float]] = []
    if args.only in (None, "files"):
        plan.append(("bench_files", ["--size", args.size, "--runs", str(args.runs), *env_args], 1500))
    if args.only in (None, "api"):
        api = ["--models", str(args.models), "--duration", f"{args.duration:g}", *env_args]
        if args.profile:
            api.append("--profile")
        plan.append(("bench_api", api, 300 + 12 * args.duration + args.models * 0.1))
    if args.only in (None, "search"):
        plan.append(("search", ["--versions", str(args.versions)], 300 + args.versions * 0.003))
    if args.only in (None, "backends"):
        plan.append(("backends", ["--size", args.size, "--versions", str(args.backend_versions)],
                     600 + args.backend_versions * 0.01))
    return plan


def _summary_rows(results: dict[str, dict | None]) -> list[Row]:
    """Each script's rows with a target (and the extra multipart row); a script that did not
    complete is one failed row."""
    rows: list[Row] = []
    for name, result in results.items():
        if result is None:
            rows.append(Row(f"{name}: did not complete", "", None, status="FAIL"))
            continue
        for data in result["rows"]:
            if data["status"] == "info" and not data["metric"].startswith(("upload", "get-by-id, 1 connection: thr")):
                continue
            rows.append(Row(**data))
    return rows


def _save(folder: Path, args: argparse.Namespace, results: dict[str, dict | None], summary: str) -> None:
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (folder / f"{stamp}.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
        (folder / f"{stamp}-summary.txt").write_text(summary + "\n")
        print(f"saved: {folder / stamp}.json")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    install_signal_handlers()
    plan = _plan(args)

    started = time.monotonic()
    results: dict[str, dict | None] = {}
    try:
        for name, script_args, timeout in plan:
            results[name] = run_script(name, script_args, timeout)
    except KeyboardInterrupt:
        print("\nrun_all: interrupted", file=sys.stderr)
        return 130
    elapsed = time.monotonic() - started

    rows = _summary_rows(results)
    load = os.getloadavg()
    summary = render_table(f"SUMMARY (all benchmarks, {elapsed:.0f}s; load average now {load[0]:.2f})", rows)
    print("\n" + summary)
    missed = [r.metric for r in rows if r.status == "MISS"]
    failed = [r.metric for r in rows if r.status == "FAIL"]
    print(f"targets: {sum(r.status == 'PASS' for r in rows)} PASS, {len(missed)} MISS, {len(failed)} FAIL")

    if args.save:
        _save(Path(args.save), args, results, summary)

    if failed:
        return 2
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
