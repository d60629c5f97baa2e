"""Checkers of the container and cluster files against the project itself.

Docker is not run here, so each file is parsed and everything it names is looked up in the code:
environment variables in the settings class (or in the library that reads them), ports against the
default ``PORT``, probe and health-check paths among the real app's routes, commands among the
``model-service`` Click commands, images for a pinned tag, users for a non-root numeric id.

Each checker returns a list of problems (empty: the file is right), so that the tests can show
that a deliberately broken copy is reported. This module has what is known of the project and the
Dockerfile's checker; compose_checks.py and k8s_checks.py check the other files with its helpers.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import click
import dockerfile
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "deploy" / "k8s"
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.postgres.yml")
SERVICE_IMAGE = "tensorfleet/model-service"

# Variables the service's containers may set that are not settings: who reads each. A module
# named here must contain the name in its source (checked by a test); None: the interpreter or
# tool itself (Python, pip, the shell).
EXTERNAL_VARIABLES: dict[str, str | None] = {
    "AWS_ACCESS_KEY_ID": "botocore",  # S3 credentials, read by boto3's credential chain
    "AWS_SECRET_ACCESS_KEY": "botocore",
    "AWS_DEFAULT_REGION": "botocore",
    "MODEL_SERVICE_URL": "model_service.client",  # the CLI (readiness probe) and SDK
    "MODEL_SERVICE_API_KEY": "model_service.client",
    "PATH": None,
    "PYTHONUNBUFFERED": None,
    "PYTHONDONTWRITEBYTECODE": None,
    "PIP_NO_CACHE_DIR": None,
    "PIP_DISABLE_PIP_VERSION_CHECK": None,
}

# URL schemes whose host is a server (s3://bucket and gridfs://bucket name buckets)
NETWORK_SCHEMES = {"http", "https", "postgresql", "postgres", "mongodb", "redis", "rediss"}


# ---- what the project is ---------------------------------------------------------------------


@dataclass
class Project:
    """What the deployment files are checked against, read from the code."""

    settings: frozenset[str]  # environment variable names of the Settings class
    default_port: int
    default_grace: float
    get: Callable[[str], int]  # the status of a GET of a path, answered by the real app in process
    scripts: Mapping[str, str]  # console scripts of pyproject.toml
    cli: click.Group
    version: str
    requires_python: SpecifierSet
    health_detailed_path: str  # the path `model-service health --detailed` requests

    @property
    def variables(self) -> frozenset[str]:
        return self.settings | frozenset(EXTERNAL_VARIABLES)


@contextmanager
def load_project(data_dir: Path) -> Iterator[Project]:
    """The project, with its app running in process (embedded default stores under ``data_dir``)."""
    import httpx
    from fastapi.testclient import TestClient

    from model_service import __version__
    from model_service.cli.main import main
    from model_service.client import ModelServiceClient
    from model_service.config import Settings, load_settings
    from model_service.server.app import create_app

    prefix = Settings.model_config.get("env_prefix", "")
    names = frozenset((prefix + name).upper() for name in Settings.model_fields)
    app = create_app(load_settings(data_dir=data_dir, database_url=None, blob_store_url=None, mongodb_url=None,
                                   redis_url=None, enable_auth=False))  # the embedded default, open
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())

    requested: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        requested.append(request.url.path)
        return httpx.Response(200, json={"status": "healthy", "checks": {}})

    with ModelServiceClient("http://probe.invalid", transport=httpx.MockTransport(record), retries=0) as client:
        client.health(detailed=True)
    with TestClient(app) as http:  # its lifespan closes the stores at the end
        yield Project(
            settings=names,
            default_port=Settings.model_fields["port"].default,
            default_grace=Settings.model_fields["shutdown_grace_seconds"].default,
            get=lambda path: http.get(path).status_code,
            scripts=pyproject["project"]["scripts"],
            cli=main,
            version=__version__,
            requires_python=SpecifierSet(pyproject["project"]["requires-python"]),
            health_detailed_path=requested[0],
        )


def command_problem(project: Project, argv: Sequence[str]) -> str | None:
    """Why ``argv`` is not a command line of ``model-service`` (None if it is one)."""
    if not argv:
        return "no command"
    program, *args = argv
    if project.scripts.get(program) != "model_service.cli.main:main":
        return f"'{program}' is not the project's console script (pyproject.toml [project.scripts])"
    command: click.Command = project.cli
    context = click.Context(project.cli, info_name=program)
    words = list(args)
    path = [program]
    while isinstance(command, click.Group):
        if not words or words[0].startswith("-"):
            return f"'{' '.join(path)}' needs a subcommand"
        name = words.pop(0)
        sub = command.get_command(context, name)
        if sub is None:
            return f"'{' '.join([*path, name])}' is not a command"
        path.append(name)
        command, context = sub, click.Context(sub, info_name=name, parent=context)
    try:
        command.make_context(" ".join(path), words, parent=context.parent)
    except click.ClickException as exc:
        return f"'{shlex.join(argv)}': {exc.format_message()}"
    return None


def image_problem(image: str, where: str) -> str | None:
    _, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
    if "@sha256:" in image:
        return None
    if not tag:
        return f"{where}: image '{image}' has no tag (pin one)"
    if tag == "latest":
        return f"{where}: image '{image}' uses 'latest' (pin a version)"
    return None


def variable_problems(project: Project, names: Iterable[str], where: str) -> list[str]:
    return [f"{where}: {name} is not a setting of the service (config.py) nor a variable it is known to read"
            for name in names if name not in project.variables]


def settings_problem(values: Mapping[str, str], where: str) -> str | None:
    """Whether these settings' values would be accepted at start-up."""
    from model_service.config import Settings, SettingsError, load_settings

    ignore_empty = Settings.model_config.get("env_ignore_empty", False)  # as the environment would give them
    fields = {name: value for name, value in values.items()
              if name.lower() in Settings.model_fields and not (ignore_empty and value == "")}
    try:
        load_settings(**{name.lower(): value for name, value in fields.items()})
    except SettingsError as exc:
        return f"{where}: {exc}"
    return None


def route_problem(project: Project, path: str, where: str) -> str | None:
    """A probe's path must answer 200 on the real app (auth off, embedded stores)."""
    status = project.get(path)
    if status != 200:
        return f"{where}: GET {path} answers {status} on the app, not 200"
    return None


def int_setting(value: str | None, default: int) -> int:
    """A setting's number as the service reads it; ``default`` when unset (or invalid)."""
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default  # reported by settings_problem


def float_setting(value: str | None, default: float) -> float:
    """A setting's number as the service reads it; ``default`` when unset (or invalid)."""
    try:
        return float(value) if value is not None else default
    except ValueError:
        return default  # reported by settings_problem


def seconds(value: str | int | float) -> float:
    """``40s``, ``1m30s``, ``45`` → seconds."""
    if isinstance(value, int | float):
        return float(value)
    total, matched = 0.0, False
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)?", value):
        matched = True
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6, "": 1}[unit]
    if not matched:
        raise ValueError(value)
    return total


# ---- Dockerfile --------------------------------------------------------------------------------


@dataclass
class Image:
    """What the Dockerfile's final stage gives a container."""

    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    uid: int | None = None
    exposed: list[int] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    healthcheck: list[str] | None = None
    stages: list[str] = field(default_factory=list)


def _words(command: dockerfile.Command) -> list[str]:
    return list(command.value) if command.json else shlex.split(" ".join(command.value))


def read_dockerfile(path: Path) -> tuple[Image, list[str]]:
    """The final stage, and the problems found while reading it."""
    try:
        commands = dockerfile.parse_file(str(path))
    except dockerfile.GoParseError as exc:
        return Image(), [f"{path.name}: does not parse: {exc}"]
    reader = _DockerfileReader(path.name)
    for command in commands:
        reader.read(command)
    return reader.finish()


class _DockerfileReader:
    """Follows a Dockerfile's instructions one by one; ``image`` is the stage being read."""

    def __init__(self, where: str):
        self.where = where
        self.problems: list[str] = []
        self.args: dict[str, str] = {}
        self.image = Image()
        self.stage_names: list[str] = []
        self.copies_from: list[str] = []

    def read(self, command: dockerfile.Command) -> None:
        instruction = getattr(self, f"_{command.cmd.lower()}", None)
        if instruction is not None:
            instruction(command)

    def finish(self) -> tuple[Image, list[str]]:
        if len(self.image.stages) < 2 or not any(name in self.stage_names for name in self.copies_from):
            self.problems.append(f"{self.where}: not a multi-stage build (the final stage should copy from a build "
                                 "stage)")
        return self.image, self.problems

    def _arg(self, command: dockerfile.Command) -> None:
        if self.image.stages:  # an ARG inside a stage is that stage's, not one FROM lines read
            return
        for item in command.value:
            name, _, default = item.partition("=")
            self.args[name] = default

    def _from(self, command: dockerfile.Command) -> None:
        base = re.sub(r"\$\{?(\w+)\}?", lambda m: self.args.get(m.group(1), ""), command.value[0])
        self.image = Image(stages=[*self.image.stages, base])
        if base not in self.stage_names and (problem := image_problem(base, f"{self.where}: FROM")):
            self.problems.append(problem)
        if len(command.value) >= 3 and command.value[1].upper() == "AS":
            self.stage_names.append(command.value[2])

    def _env(self, command: dockerfile.Command) -> None:
        values = list(command.value)
        self.image.env.update(zip(values[::2], values[1::2], strict=True))

    def _user(self, command: dockerfile.Command) -> None:
        self.image.user = command.value[0]
        first = self.image.user.split(":")[0]
        self.image.uid = int(first) if first.isdigit() else None

    def _expose(self, command: dockerfile.Command) -> None:
        self.image.exposed += [int(port.split("/")[0]) for port in command.value]

    def _volume(self, command: dockerfile.Command) -> None:
        self.image.volumes += list(command.value)

    def _healthcheck(self, command: dockerfile.Command) -> None:
        self.image.healthcheck = None if command.value[0].upper() == "NONE" else _words(command)[1:]

    def _entrypoint(self, command: dockerfile.Command) -> None:
        self.image.entrypoint = _words(command)

    def _cmd(self, command: dockerfile.Command) -> None:
        self.image.cmd = _words(command)

    def _copy(self, command: dockerfile.Command) -> None:
        self.copies_from += [flag.split("=", 1)[1] for flag in command.flags if flag.startswith("--from=")]

    def _stopsignal(self, command: dockerfile.Command) -> None:
        if command.value[0] not in ("SIGTERM", "15"):
            self.problems.append(f"{self.where}: STOPSIGNAL {command.value[0]}: the graceful stop is on SIGTERM")


def check_dockerfile(project: Project, path: Path, context: Path = ROOT) -> list[str]:
    image, problems = read_dockerfile(path)
    where = path.name
    base = image.stages[-1] if image.stages else ""
    match = re.match(r"python:(\d+\.\d+)", base)
    if not match or match.group(1) + ".0" not in project.requires_python:
        problems.append(f"{where}: the final image '{base}' is not a Python that pyproject.toml's "
                        f"requires-python ({project.requires_python}) allows")
    if image.uid is None or image.uid == 0:
        problems.append(f"{where}: USER {image.user} is not a non-root numeric user id (Kubernetes' runAsNonRoot "
                        "can only check a number)")
    problems += variable_problems(project, image.env, f"{where}: ENV")
    if image.env.get("HOST") != "0.0.0.0":
        problems.append(f"{where}: ENV HOST={image.env.get('HOST')}: a container must listen on 0.0.0.0")
    port = int_setting(image.env.get("PORT"), project.default_port)
    if image.exposed != [port] or port != project.default_port:
        problems.append(f"{where}: EXPOSE {image.exposed} does not match PORT {project.default_port}")
    data_dir = image.env.get("DATA_DIR")
    if not data_dir or data_dir not in image.volumes:
        problems.append(f"{where}: DATA_DIR ({data_dir}) is not a VOLUME")
    if problem := settings_problem(image.env, f"{where}: ENV"):
        problems.append(problem)
    if problem := command_problem(project, image.entrypoint + image.cmd):
        problems.append(f"{where}: ENTRYPOINT + CMD: {problem}")
    elif (image.entrypoint + image.cmd)[1:2] != ["serve"]:
        problems.append(f"{where}: the container does not run `model-service serve`")
    problems += healthcheck_problems(project, image, where)
    problems += context_problems(context, path)
    return problems


def healthcheck_problems(project: Project, image: Image, where: str) -> list[str]:
    if not image.healthcheck:
        return [f"{where}: no HEALTHCHECK"]
    text = " ".join(image.healthcheck)
    if image.healthcheck[0] not in ("python", "python3"):
        return [f"{where}: HEALTHCHECK runs '{image.healthcheck[0]}', not python (the slim image has no curl)"]
    urls = re.findall(r"http://(?:127\.0\.0\.1|localhost):([^/'\"]+)(/[^'\" ]*)", text)
    if not urls:
        return [f"{where}: HEALTHCHECK requests no local URL"]
    problems = []
    for port, path in urls:
        if path != "/health":
            problems.append(f"{where}: HEALTHCHECK requests {path}, not /health (liveness, touches no backend)")
        if problem := route_problem(project, path, f"{where}: HEALTHCHECK"):
            problems.append(problem)
        number = port
        if not port.isdigit():  # taken from $PORT, with the default as a fallback
            fallback = re.search(r"environ\.get\(\s*['\"]PORT['\"]\s*,\s*['\"](\d+)['\"]", text)
            number = fallback.group(1) if fallback else port
        if number != str(int_setting(image.env.get("PORT"), project.default_port)):
            problems.append(f"{where}: HEALTHCHECK port {number} is not the service's port {project.default_port}")
    return problems


def context_problems(context: Path, path: Path) -> list[str]:
    """Every COPY source exists in the build context and is not excluded by the .dockerignore
    beside the Dockerfile."""
    ignore = path.parent / ".dockerignore"
    patterns = [line.strip() for line in ignore.read_text().splitlines()
                if line.strip() and not line.startswith("#")] if ignore.exists() else []
    problems = []
    for command in dockerfile.parse_file(str(path)):
        if command.cmd.upper() not in ("COPY", "ADD") or any(f.startswith("--from=") for f in command.flags):
            continue
        for source in _words(command)[:-1]:
            if not (context / source).exists():
                problems.append(f"{path.name}: COPY {source}: no such file in the build context")
            elif dockerignored(source, patterns):
                problems.append(f"{path.name}: COPY {source}: excluded by .dockerignore")
    return problems


def dockerignored(source: str, patterns: Sequence[str]) -> bool:
    """Docker's rule: the last pattern matching the path (or one of its parents) decides."""
    import fnmatch

    parts = Path(source.rstrip("/")).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/")
        for candidate in candidates:
            if fnmatch.fnmatchcase(candidate, glob) or (glob.startswith("**/") and
                                                         fnmatch.fnmatchcase(candidate, glob[3:])):
                excluded = not negated
                break
    return excluded
