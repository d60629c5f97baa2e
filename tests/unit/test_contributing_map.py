"""The architecture map in CONTRIBUTING.md is true: it names every package, and every import of
``model_service`` in the code is one the map allows.

The map is the Markdown table under ``## Architecture map``. Its ``package`` column names a package
folder relative to ``src/model_service`` (``domain/ports``) or a top-level module (``config.py``);
its ``may import`` column is a comma-separated list of such names in backticks, or ``—``.

The rules, as CONTRIBUTING.md states them:

- a package may import its own modules and its sub-packages' (a top-level module follows its row
  only);
- a listed package allows that package's own modules, not its sub-packages;
- every module may import the root ``__init__.py`` (``__version__``);
- imports count wherever they are (module level, functions, ``TYPE_CHECKING``); the standard
  library and third-party packages are not checked.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]  # tests/unit/ → the repository
PACKAGE = "model_service"
SOURCE = ROOT / "src" / PACKAGE
CONTRIBUTING = ROOT / "CONTRIBUTING.md"
MAP_HEADING = "## Architecture map"
ROOT_INIT = "__init__.py"  # the map's name for src/model_service/__init__.py
NOTHING = {"—", "-", "–"}


# ---- the map -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    name: str  # "domain/ports" or "config.py"
    may_import: frozenset[str]
    line: int  # in CONTRIBUTING.md, for messages


def _cells(line: str) -> list[str]:
    """The cells of a Markdown table row; ``\\|`` inside a cell is not a separator."""
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def _names(cell: str, where: str) -> frozenset[str]:
    if cell in NOTHING:
        return frozenset()
    names = re.findall(r"`([^`]+)`", cell)
    leftover = re.sub(r"`[^`]+`", "", cell).replace(",", "").strip()
    if not names or leftover:
        raise AssertionError(f"{where}: 'may import' must be `a`, `b/c`, `d.py` (comma-separated, in backticks) "
                             f"or —, not {cell!r}")
    return frozenset(name.strip().strip("/") for name in names)


def read_map(path: Path = CONTRIBUTING) -> dict[str, Row]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert MAP_HEADING in lines, f"{path.name} has no '{MAP_HEADING}' section"
    start = lines.index(MAP_HEADING) + 1
    table: list[tuple[int, str]] = []
    for number, line in enumerate(lines[start:], start + 1):
        if line.startswith("|"):
            table.append((number, line))
        elif table or line.startswith("#"):
            break  # the end of the first table (or of the section)
    assert len(table) > 2, f"{path.name}: no table under '{MAP_HEADING}'"
    header = [cell.lower() for cell in _cells(table[0][1])]
    assert "package" in header and "may import" in header, (
        f"{path.name}:{table[0][0]}: the map's header needs 'package' and 'may import' columns, has {header}")
    package_column, import_column = header.index("package"), header.index("may import")
    rows: dict[str, Row] = {}
    for number, line in table[2:]:  # past the header and its |---| line
        cells = _cells(line)
        where = f"{path.name}:{number}"
        found = re.findall(r"`([^`]+)`", cells[package_column])
        assert found, f"{where}: the package column must name the package in backticks: {cells[package_column]!r}"
        name = found[0].strip().strip("/")
        assert name not in rows, f"{where}: `{name}` has two rows (also line {rows[name].line})"
        rows[name] = Row(name, _names(cells[import_column], where), number)
    return rows


# ---- the code ------------------------------------------------------------------------------------


def package_folders() -> set[str]:
    """Every folder under src/model_service with an __init__.py, as 'domain/ports'."""
    return {init.parent.relative_to(SOURCE).as_posix() for init in SOURCE.rglob("__init__.py")
            if "__pycache__" not in init.parts and init.parent != SOURCE}


def top_level_modules() -> set[str]:
    return {module.name for module in SOURCE.glob("*.py")}


def _is_module(dotted: list[str]) -> bool:
    """Whether model_service.<dotted> is a module or a package on disk."""
    path = SOURCE.joinpath(*dotted)
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def unit_of(dotted: list[str], packages: set[str]) -> str:
    """The map's name for the module model_service.<dotted>: the root __init__.py, a top-level
    module (config.py), or the deepest package folder that holds it."""
    if not dotted:
        return ROOT_INIT
    if len(dotted) == 1 and (SOURCE / f"{dotted[0]}.py").is_file():
        return f"{dotted[0]}.py"
    for length in range(len(dotted), 0, -1):
        candidate = "/".join(dotted[:length])
        if candidate in packages:
            return candidate
    return ".".join(dotted)  # nothing of the package: a row no map has, so the import is reported


@dataclass(frozen=True)
class Import:
    module: str  # the importing file, relative to the repository
    line: int
    target: str  # the imported module, dotted: model_service.stores
    source_unit: str  # the importer's row
    target_unit: str  # the imported module's row


def imports_of(path: Path, packages: set[str]) -> list[Import]:
    relative = path.relative_to(SOURCE)
    parts = list(relative.with_suffix("").parts)
    package = parts[:-1]  # the importer's package, relative to model_service (an __init__'s own)
    # a top-level module has its own row (__init__.py, config.py, …)
    source_unit = relative.name if len(parts) == 1 else unit_of(package, packages)
    found: list[Import] = []

    def add(node: ast.stmt, dotted: list[str]) -> None:
        target = ".".join([PACKAGE, *dotted])
        found.append(Import(str(path.relative_to(ROOT)), node.lineno, target, source_unit,
                            unit_of(dotted, packages)))

    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                head, *rest = alias.name.split(".")
                if head == PACKAGE:
                    add(node, rest)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level - 1 > len(package):
                    raise AssertionError(f"{path}:{node.lineno}: a relative import above {PACKAGE}")
                module = package[: len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == PACKAGE:
                module = node.module.split(".")[1:]
            else:
                continue  # the standard library or a third-party package
            for alias in node.names:
                submodule = [*module, alias.name]
                add(node, submodule if alias.name != "*" and _is_module(submodule) else module)
    return found


def all_imports() -> list[Import]:
    packages = package_folders()
    return [found for path in sorted(SOURCE.rglob("*.py")) if "__pycache__" not in path.parts
            for found in imports_of(path, packages)]


def allowed(found: Import, rows: dict[str, Row]) -> bool:
    source, target = found.source_unit, found.target_unit
    if target == ROOT_INIT:
        return True  # __version__
    if not source.endswith(".py") and (target == source or target.startswith(source + "/")):
        return True  # its own modules and its sub-packages'
    return target in rows[source].may_import


# ---- the tests -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rows() -> dict[str, Row]:
    return read_map()


def test_the_map_finds_the_repository() -> None:
    assert (ROOT / "pyproject.toml").is_file() and SOURCE.is_dir() and CONTRIBUTING.is_file(), ROOT


def test_every_package_folder_has_a_row(rows: dict[str, Row]) -> None:
    missing = sorted(package_folders() - set(rows))
    assert not missing, (f"package folders with no row in {CONTRIBUTING.name}'s architecture map: "
                         f"{', '.join(missing)} — add a row saying what each holds and what it may import")


def test_every_package_row_is_a_package_folder(rows: dict[str, Row]) -> None:
    stale = sorted(name for name in rows if not name.endswith(".py") and name not in package_folders())
    assert not stale, (f"rows of {CONTRIBUTING.name}'s architecture map with no package folder "
                       f"(a directory with an __init__.py) under src/{PACKAGE}: {', '.join(stale)}")


def test_every_top_level_module_has_a_row_and_back(rows: dict[str, Row]) -> None:
    named = {name for name in rows if name.endswith(".py")}
    assert named == top_level_modules(), (
        f"top-level modules of src/{PACKAGE} without a row: {sorted(top_level_modules() - named)}; "
        f"rows naming no module there: {sorted(named - top_level_modules())}")


def test_may_import_names_rows_of_the_map(rows: dict[str, Row]) -> None:
    unknown = sorted(f"`{row.name}` (line {row.line}) lists `{name}`"
                     for row in rows.values() for name in row.may_import if name not in rows)
    assert not unknown, f"'may import' entries that are not rows of the map: {'; '.join(unknown)}"


def test_the_map_reads_as_intended(rows: dict[str, Row]) -> None:
    """The parser against a few rows whose meaning is plain from the table."""
    assert rows["domain"].may_import == frozenset()
    assert rows["client"].may_import == frozenset()
    assert "client" in rows["cli"].may_import and "server" in rows["cli"].may_import


def test_imports_follow_the_map(rows: dict[str, Row]) -> None:
    imports = all_imports()
    assert imports, f"no import of {PACKAGE} found under {SOURCE}"
    messages: list[str] = []
    unmapped: dict[str, int] = {}
    for found in dict.fromkeys(imports):  # one message per import statement and target
        row = rows.get(found.source_unit)
        if row is None:
            unmapped[found.source_unit] = unmapped.get(found.source_unit, 0) + 1
        elif not allowed(found, rows):
            may = ", ".join(f"`{name}`" for name in sorted(row.may_import)) or "nothing"
            own = "" if found.source_unit.endswith(".py") else f" besides `{found.source_unit}` and its sub-packages"
            messages.append(f"{found.module}:{found.line} imports {found.target} (`{found.target_unit}`), but the map "
                            f"(CONTRIBUTING.md:{row.line}) lets `{found.source_unit}` import {may}{own}")
    messages += [f"`{unit}` has no row in the map: its {count} imports of {PACKAGE} cannot be checked"
                 for unit, count in sorted(unmapped.items())]
    assert not messages, "imports the architecture map does not allow:\n  " + "\n  ".join(messages)
