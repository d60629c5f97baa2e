"""Checkers of the container and cluster files against the project itself.

Docker is not run here, so each file is parsed and everything it names is looked up in the code:
environment variables in the settings class (or in the library that reads them), ports against the
default ``PORT``, probe and health-check paths among the real app's routes, commands among the
``model-service`` Click commands, images for a pinned tag, users for a non-root numeric id.

Each checker returns a list of problems (empty: the file is right), so that the tests can show
that a deliberately broken copy is reported.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import dockerfile
import yaml
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

# The seed's Kubernetes resources (its README's Deployment).
SEED_RESOURCES = {"requests": {"memory": "256Mi", "cpu": "250m"}, "limits": {"memory": "512Mi", "cpu": "500m"}}


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


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default  # reported by settings_problem


def _float(value: str | None, default: float) -> float:
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
    problems: list[str] = []
    where = path.name
    try:
        commands = dockerfile.parse_file(str(path))
    except dockerfile.GoParseError as exc:
        return Image(), [f"{where}: does not parse: {exc}"]
    args: dict[str, str] = {}
    image = Image()
    stage_names: list[str] = []
    copies_from: list[str] = []
    for command in commands:
        kind = command.cmd.upper()
        if kind == "ARG" and not image.stages:
            for item in command.value:
                name, _, default = item.partition("=")
                args[name] = default
        elif kind == "FROM":
            base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), ""), command.value[0])
            image = Image(stages=[*image.stages, base])
            if base not in stage_names and (problem := image_problem(base, f"{where}: FROM")):
                problems.append(problem)
            if len(command.value) >= 3 and command.value[1].upper() == "AS":
                stage_names.append(command.value[2])
        elif kind == "ENV":
            values = list(command.value)
            image.env.update(zip(values[::2], values[1::2], strict=True))
        elif kind == "USER":
            image.user = command.value[0]
            first = image.user.split(":")[0]
            image.uid = int(first) if first.isdigit() else None
        elif kind == "EXPOSE":
            image.exposed += [int(port.split("/")[0]) for port in command.value]
        elif kind == "VOLUME":
            image.volumes += list(command.value)
        elif kind == "HEALTHCHECK":
            image.healthcheck = None if command.value[0].upper() == "NONE" else _words(command)[1:]
        elif kind == "ENTRYPOINT":
            image.entrypoint = _words(command)
        elif kind == "CMD":
            image.cmd = _words(command)
        elif kind == "COPY":
            copies_from += [flag.split("=", 1)[1] for flag in command.flags if flag.startswith("--from=")]
        elif kind == "STOPSIGNAL" and command.value[0] not in ("SIGTERM", "15"):
            problems.append(f"{where}: STOPSIGNAL {command.value[0]}: the graceful stop is on SIGTERM")
    if len(image.stages) < 2 or not any(name in stage_names for name in copies_from):
        problems.append(f"{where}: not a multi-stage build (the final stage should copy from a build stage)")
    return image, problems


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
    port = _int(image.env.get("PORT"), project.default_port)
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
        if not port.isdigit():  # taken from $PORT, with the default as a fallback
            fallback = re.search(r"environ\.get\(\s*['\"]PORT['\"]\s*,\s*['\"](\d+)['\"]", text)
            port = fallback.group(1) if fallback else port
        if port != str(_int(image.env.get("PORT"), project.default_port)):
            problems.append(f"{where}: HEALTHCHECK port {port} is not the service's port {project.default_port}")
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


# ---- docker compose ----------------------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)")


def interpolate(value: Any) -> Any:
    """Compose's ``${VAR:-default}`` with nothing set in the environment; ``$$`` is a ``$``."""
    if isinstance(value, str):
        return _INTERPOLATION.sub(lambda m: "$" if m.group(0) == "$$" else (m.group(2) or ""), value)
    if isinstance(value, list):
        return [interpolate(item) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item) for key, item in value.items()}
    return value


def _environment(value: Any) -> dict[str, str]:
    if isinstance(value, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in value)
    return {str(key): "" if item is None else str(item) for key, item in (value or {}).items()}


def _argv(value: Any) -> list[str] | None:
    if value is None:
        return None
    return shlex.split(value) if isinstance(value, str) else [str(word) for word in value]


def check_compose(project: Project, path: Path, image: Image) -> list[str]:
    where = path.name
    try:
        document = interpolate(yaml.safe_load(path.read_text()))
    except yaml.YAMLError as exc:
        return [f"{where}: not YAML: {exc}"]
    services: dict[str, Any] = document.get("services") or {}
    if not services:
        return [f"{where}: no services"]
    problems: list[str] = []
    ours = {name: spec for name, spec in services.items()
            if "build" in spec or str(spec.get("image", "")).startswith(SERVICE_IMAGE)}
    if not ours:
        problems.append(f"{where}: no service runs the model service's image")
    declared_volumes = set((document.get("volumes") or {}).keys())
    for name, spec in services.items():
        here = f"{where}: services.{name}"
        if "image" not in spec and "build" not in spec:
            problems.append(f"{here}: neither image nor build")
        if "image" in spec and (problem := image_problem(spec["image"], here)):
            problems.append(problem)
        if "image" in spec and str(spec["image"]).startswith(SERVICE_IMAGE) and \
                spec["image"] != f"{SERVICE_IMAGE}:{project.version}":
            problems.append(f"{here}: image {spec['image']} is not {SERVICE_IMAGE}:{project.version}")
        depends = spec.get("depends_on") or []
        for other in depends if isinstance(depends, list) else depends.keys():
            if other not in services:
                problems.append(f"{here}: depends_on {other}, which is not a service of this file")
        for volume in spec.get("volumes") or []:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source")
            if source and not source.startswith((".", "/")) and source not in declared_volumes:
                problems.append(f"{here}: volume {source} is not declared under volumes")
    for name, spec in ours.items():
        problems += _our_service_problems(project, f"{where}: services.{name}", spec, services, image)
    return problems


def _our_service_problems(project: Project, here: str, spec: Mapping[str, Any], services: Mapping[str, Any],
                          image: Image) -> list[str]:
    env = _environment(spec.get("environment"))
    problems = variable_problems(project, env, f"{here}.environment")
    if problem := settings_problem({**image.env, **env}, f"{here}.environment"):
        problems.append(problem)
    for name, value in env.items():  # every server a URL names is a service of this file
        if name.endswith("_URL") and urlsplit(value).scheme in NETWORK_SCHEMES:
            host = urlsplit(value).hostname
            if host and host not in services:
                problems.append(f"{here}.environment: {name} points at '{host}', which is not a service of this file")
    entrypoint = _argv(spec.get("entrypoint")) or image.entrypoint
    command = _argv(spec.get("command"))
    argv = entrypoint + (command if command is not None else image.cmd)
    if problem := command_problem(project, argv):
        problems.append(f"{here}: command: {problem}")
    serves = argv[1:2] == ["serve"]
    port = _int(env.get("PORT", image.env.get("PORT")), project.default_port)
    for mapping in spec.get("ports") or []:
        published = str(mapping).split("/")[0].rsplit(":", 1)[-1]
        if int(published) != port:
            problems.append(f"{here}.ports: {mapping} does not reach the service's port {port}")
    if serves:
        grace = _float(env.get("SHUTDOWN_GRACE_SECONDS"), project.default_grace)
        stop = seconds(spec.get("stop_grace_period", "10s"))
        if stop <= grace:
            problems.append(f"{here}: stop_grace_period {stop:g}s is not longer than SHUTDOWN_GRACE_SECONDS "
                            f"({grace:g}): a stop would be cut short by SIGKILL")
        data_dir = env.get("DATA_DIR", image.env.get("DATA_DIR"))
        targets = [str(v).split(":")[1] if isinstance(v, str) else v.get("target") for v in spec.get("volumes") or []]
        if data_dir not in targets:
            problems.append(f"{here}: nothing is mounted at DATA_DIR ({data_dir})")
    return problems


# ---- Kubernetes --------------------------------------------------------------------------------


def k8s_documents(directory: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(directory.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                yield path, document


def schema_problems(directory: Path) -> list[str]:
    """Every resource against Kubernetes' own schemas, strictly (an unknown field is an error)."""
    return [f"{path.name}: {problem}" for path, document in k8s_documents(directory)
            if document.get("kind") != "Kustomization"
            and (problem := _schema_problem(json.dumps(document, sort_keys=True)))]


@functools.lru_cache(maxsize=64)
def _schema_problem(document_json: str) -> str | None:
    import kubernetes_validate

    document = json.loads(document_json)
    try:
        kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"{document.get('kind')} {'.'.join(str(part) for part in exc.path)}: {exc.message}"
    except kubernetes_validate.SchemaNotFoundError as exc:
        return exc.message
    return None


def _named(documents: Sequence[tuple[Path, dict[str, Any]]], kind: str) -> dict[str, tuple[Path, dict[str, Any]]]:
    return {doc["metadata"]["name"]: (path, doc) for path, doc in documents if doc.get("kind") == kind}


def _matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def check_k8s(project: Project, directory: Path, image: Image) -> list[str]:
    documents = list(k8s_documents(directory))
    problems = schema_problems(directory)
    problems += _kustomization_problems(directory, documents)
    namespaces = {doc["metadata"].get("namespace") for _, doc in documents if doc.get("kind") not in
                  ("Namespace", "Kustomization")}
    if len(namespaces) != 1:
        problems.append(f"resources are spread over namespaces {sorted(map(str, namespaces))}")
    config_maps, secrets = _named(documents, "ConfigMap"), _named(documents, "Secret")
    for path, doc in [*config_maps.values(), *secrets.values()]:
        data = {**(doc.get("data") or {}), **(doc.get("stringData") or {})}
        problems += variable_problems(project, data, f"{path.name}: {doc['kind']} {doc['metadata']['name']}")
        if doc["kind"] == "ConfigMap" and (problem := settings_problem({**image.env, **data}, path.name)):
            problems.append(problem)
    deployments = _named(documents, "Deployment")
    if len(deployments) != 1:
        return [*problems, f"{len(deployments)} Deployments, expected one"]
    path, deployment = next(iter(deployments.values()))
    problems += _deployment_problems(project, path, deployment, config_maps, secrets, image)
    labels = deployment["spec"]["template"]["metadata"].get("labels") or {}
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    ports = {port.get("name"): port["containerPort"] for port in container.get("ports") or []}
    for path, service in _named(documents, "Service").values():
        if not _matches(service["spec"].get("selector") or {}, labels):
            problems.append(f"{path.name}: the Service's selector does not select the Deployment's pods")
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            number = ports.get(target) if isinstance(target, str) else target
            if number != project.default_port:
                problems.append(f"{path.name}: targetPort {target} is not the container's port {project.default_port}")
    pdbs = _named(documents, "PodDisruptionBudget")
    if not pdbs:
        problems.append("no PodDisruptionBudget")
    for path, pdb in pdbs.values():
        if not _matches((pdb["spec"].get("selector") or {}).get("matchLabels") or {}, labels):
            problems.append(f"{path.name}: the PodDisruptionBudget does not select the Deployment's pods")
        replicas = deployment["spec"].get("replicas", 1)
        if pdb["spec"].get("minAvailable", 0) >= replicas or pdb["spec"].get("maxUnavailable", 1) < 1:
            problems.append(f"{path.name}: the PodDisruptionBudget allows no disruption with {replicas} replicas")
    for path, job in _named(documents, "Job").values():
        for spec in job["spec"]["template"]["spec"]["containers"]:
            problems += _container_command_problems(project, f"{path.name}: {spec['name']}", spec, image)
            problems += _env_source_problems(path, spec, config_maps, secrets)
    return problems


def _kustomization_problems(directory: Path, documents: Sequence[tuple[Path, dict[str, Any]]]) -> list[str]:
    kustomizations = [doc for _, doc in documents if doc.get("kind") == "Kustomization"]
    if not kustomizations:
        return []
    listed = set(kustomizations[0].get("resources") or [])
    problems = [f"kustomization.yaml: {name} does not exist" for name in sorted(listed)
                if not (directory / name).exists()]
    expected = {path.name for path, doc in documents
                if doc.get("kind") != "Kustomization" and not path.name.endswith(".example.yaml")}
    problems += [f"kustomization.yaml: {name} is not listed" for name in sorted(expected - listed)]
    return problems


def _container_command_problems(project: Project, where: str, container: Mapping[str, Any],
                                image: Image) -> list[str]:
    if container.get("image") != f"{SERVICE_IMAGE}:{project.version}":
        return [f"{where}: image {container.get('image')} is not {SERVICE_IMAGE}:{project.version}"]
    argv = (container.get("command") or image.entrypoint) + (container.get("args") or
                                                              ([] if container.get("command") else image.cmd))
    problem = command_problem(project, argv)
    return [f"{where}: command: {problem}"] if problem else []


def _env_source_problems(path: Path, container: Mapping[str, Any], config_maps: Mapping[str, Any],
                         secrets: Mapping[str, Any]) -> list[str]:
    problems = []
    for source in container.get("envFrom") or []:
        for kind, known in (("configMapRef", config_maps), ("secretRef", secrets)):
            if kind in source and source[kind]["name"] not in known and not source[kind].get("optional"):
                problems.append(f"{path.name}: envFrom {kind} {source[kind]['name']} is defined nowhere here")
    return problems


def _deployment_problems(project: Project, path: Path, deployment: Mapping[str, Any], config_maps: Mapping[str, Any],
                         secrets: Mapping[str, Any], image: Image) -> list[str]:
    where = f"{path.name}: Deployment {deployment['metadata']['name']}"
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    problems = []
    if spec.get("replicas") != 3:
        problems.append(f"{where}: {spec.get('replicas')} replicas, the seed runs 3")
    if not _matches(spec["selector"].get("matchLabels") or {}, spec["template"]["metadata"].get("labels") or {}):
        problems.append(f"{where}: the selector does not select the pod template")
    container = pod["containers"][0]
    here = f"{where}: container {container['name']}"
    problems += _container_command_problems(project, here, container, image)
    problems += _env_source_problems(path, container, config_maps, secrets)
    env = {item["name"]: str(item.get("value", "")) for item in container.get("env") or []}
    problems += variable_problems(project, env, f"{here}.env")
    settings: dict[str, str] = {**image.env}
    for source in container.get("envFrom") or []:
        if "configMapRef" in source and source["configMapRef"]["name"] in config_maps:
            settings.update(config_maps[source["configMapRef"]["name"]][1].get("data") or {})
    settings.update(env)
    port = _int(settings.get("PORT"), project.default_port)
    ports = {item.get("name"): item["containerPort"] for item in container.get("ports") or []}
    if list(ports.values()) != [port] or port != project.default_port:
        problems.append(f"{here}: containerPort {list(ports.values())} is not PORT {project.default_port}")
    if container.get("resources") != SEED_RESOURCES:
        problems.append(f"{here}: resources {container.get('resources')} are not the seed's {SEED_RESOURCES}")
    problems += _probe_problems(project, here, container, ports, port)
    # non-root, matching the image's user; a read-only root with writable DATA_DIR and /tmp
    security = {**(pod.get("securityContext") or {}), **(container.get("securityContext") or {})}
    if security.get("runAsNonRoot") is not True:
        problems.append(f"{here}: runAsNonRoot is not set")
    if security.get("runAsUser") in (0, None) or security.get("runAsUser") != image.uid:
        problems.append(f"{here}: runAsUser {security.get('runAsUser')} is not the image's user {image.uid}")
    if security.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{here}: allowPrivilegeEscalation is not false")
    if security.get("readOnlyRootFilesystem"):
        mounted = {mount["mountPath"] for mount in container.get("volumeMounts") or []}
        for needed in (settings.get("DATA_DIR"), "/tmp"):
            if needed not in mounted:
                problems.append(f"{here}: the root filesystem is read-only and nothing writable is mounted at {needed}")
    # the stop: preStop pause + SHUTDOWN_GRACE_SECONDS must fit in terminationGracePeriodSeconds
    grace = _float(settings.get("SHUTDOWN_GRACE_SECONDS"), project.default_grace)
    pause = 0.0
    pre_stop = ((container.get("lifecycle") or {}).get("preStop") or {})
    if "exec" in pre_stop:
        words = pre_stop["exec"]["command"]
        pause = float(words[1]) if words[0] == "sleep" and len(words) == 2 else 0.0
    elif "sleep" in pre_stop:
        pause = float(pre_stop["sleep"]["seconds"])
    termination = pod.get("terminationGracePeriodSeconds", 30)
    if termination <= pause + grace:
        problems.append(f"{where}: terminationGracePeriodSeconds {termination} leaves no room for the preStop "
                        f"pause ({pause:g} s) and SHUTDOWN_GRACE_SECONDS ({grace:g} s)")
    return problems


def _probe_problems(project: Project, here: str, container: Mapping[str, Any], ports: Mapping[str, int],
                    port: int) -> list[str]:
    problems = []
    for probe_name, expected in (("livenessProbe", "/health"), ("readinessProbe", "/health/detailed")):
        probe = container.get(probe_name)
        if not probe:
            problems.append(f"{here}: no {probe_name}")
            continue
        if "httpGet" in probe:
            get = probe["httpGet"]
            number = ports.get(get["port"]) if isinstance(get["port"], str) else get["port"]
            path = get.get("path", "/")
            if number != port:
                problems.append(f"{here}: {probe_name} port {get['port']} is not the container's port {port}")
        elif "exec" in probe:
            words = probe["exec"]["command"]
            if problem := command_problem(project, words):
                problems.append(f"{here}: {probe_name}: {problem}")
                continue
            if words[1:2] != ["health"]:
                problems.append(f"{here}: {probe_name} runs `{shlex.join(words)}`, not `model-service health`")
                continue
            path = project.health_detailed_path if "--detailed" in words else "/health"
            url = words[words.index("--url") + 1] if "--url" in words else f"http://127.0.0.1:{project.default_port}"
            if urlsplit(url).port != port or urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
                problems.append(f"{here}: {probe_name} checks {url}, not this container's port {port}")
        else:
            problems.append(f"{here}: {probe_name} is neither httpGet nor exec")
            continue
        if path != expected:
            problems.append(f"{here}: {probe_name} checks {path}, expected {expected}")
        if problem := route_problem(project, path, f"{here}: {probe_name}"):
            problems.append(problem)
    return problems
