"""Every module of ``model_service`` imports on its own, in a fresh interpreter.

Importing them all in one interpreter proves nothing about any single one: a module imported
earlier leaves its dependencies in ``sys.modules`` and hides the cycle (or the missing import) a
later one has. So each module gets its own interpreter, two at a time (the machines have two
cores), each with a time limit. The modules are found on disk, never listed here: a module that
is added, moved or renamed is checked as it is.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import model_service

PACKAGE_DIR = Path(model_service.__file__).resolve().parent
SOURCE_ROOT = PACKAGE_DIR.parent

# Modules that cannot be imported on their own by design, each with the reason.
NOT_IMPORTABLE_ALONE = {
    # Alembic's environment script: at import it reads the connection handed over by
    # model_service.stores.sql.migrate and runs the migrations (context.config exists only
    # while Alembic runs a command). Alembic loads it by path, never by import.
    "model_service.stores.sql.migrations.env",
}

WORKERS = 2
TIMEOUT_SECONDS = 60
# importlib, not an import statement: the migration scripts' names (0001_models_and_events) are
# not identifiers.
PROGRAM = "import importlib, sys; importlib.import_module(sys.argv[1])"


def discover_modules() -> list[str]:
    """Every module and package under ``model_service``, as dotted names."""
    names = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(SOURCE_ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(not (SOURCE_ROOT.joinpath(*parts[:i]) / "__init__.py").is_file() for i in range(1, len(parts))):
            continue  # a script in a folder that is not a package (none today): not importable by name
        names.append(".".join(parts))
    return names


def import_alone(module: str, cwd: Path) -> str | None:
    """None if ``module`` imports in a fresh interpreter, else what went wrong."""
    env = dict(os.environ)
    # The sources this test process imported, whatever the interpreter's own path says.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SOURCE_ROOT), env.get("PYTHONPATH")]))
    try:
        result = subprocess.run([sys.executable, "-c", PROGRAM, module], cwd=cwd, env=env, capture_output=True,
                                text=True, timeout=TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        return f"did not finish importing within {TIMEOUT_SECONDS} s"
    if result.returncode == 0:
        return None
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}, nothing on stderr"


def test_discovery_finds_the_modules_of_each_layer() -> None:
    modules = discover_modules()
    assert "model_service" in modules
    assert "model_service.cli.main" in modules
    assert set(modules) >= NOT_IMPORTABLE_ALONE, "an exclusion names a module that no longer exists"
    assert any(name.startswith("model_service.stores.sql.migrations.versions.0") for name in modules)


def test_every_module_imports_alone_in_a_fresh_interpreter(tmp_path: Path) -> None:
    modules = [name for name in discover_modules() if name not in NOT_IMPORTABLE_ALONE]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        outcomes = dict(zip(modules, pool.map(lambda name: import_alone(name, tmp_path), modules), strict=True))
    failures = {name: error for name, error in outcomes.items() if error is not None}
    elapsed = time.monotonic() - started
    if failures:
        pytest.fail(f"{len(failures)} of {len(modules)} modules do not import alone ({elapsed:.0f} s):\n"
                    + "\n".join(f"  {name}: {error}" for name, error in failures.items()), pytrace=False)
