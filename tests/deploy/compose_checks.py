"""The docker compose files against the project: every service's image pinned, its dependencies
and named volumes declared; the model service's own service with settings it reads, servers it
names defined in the same file, its port published, a stop grace longer than its own, and a volume
at DATA_DIR.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .checks import (
    NETWORK_SCHEMES,
    SERVICE_IMAGE,
    Image,
    Project,
    command_problem,
    float_setting,
    image_problem,
    int_setting,
    seconds,
    settings_problem,
    variable_problems,
)

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
        problems += _service_problems(project, f"{where}: services.{name}", spec, services, declared_volumes)
    for name, spec in ours.items():
        problems += _our_service_problems(project, f"{where}: services.{name}", spec, services, image)
    return problems


def _service_problems(project: Project, here: str, spec: Mapping[str, Any], services: Mapping[str, Any],
                      declared_volumes: set[str]) -> list[str]:
    """What any service of a compose file must get right: an image (pinned), the services it
    depends on, the named volumes it mounts."""
    problems = []
    if "image" not in spec and "build" not in spec:
        problems.append(f"{here}: neither image nor build")
    if "image" in spec and (problem := image_problem(spec["image"], here)):
        problems.append(problem)
    if "image" in spec and str(spec["image"]).startswith(SERVICE_IMAGE) and \
            spec["image"] != f"{SERVICE_IMAGE}:{project.version}":
        problems.append(f"{here}: image {spec['image']} is not {SERVICE_IMAGE}:{project.version}")
    depends = spec.get("depends_on") or []
    problems += [f"{here}: depends_on {other}, which is not a service of this file"
                 for other in (depends if isinstance(depends, list) else depends.keys()) if other not in services]
    for volume in spec.get("volumes") or []:
        source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source")
        if source and not source.startswith((".", "/")) and source not in declared_volumes:
            problems.append(f"{here}: volume {source} is not declared under volumes")
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
    port = int_setting(env.get("PORT", image.env.get("PORT")), project.default_port)
    for mapping in spec.get("ports") or []:
        published = str(mapping).split("/")[0].rsplit(":", 1)[-1]
        if int(published) != port:
            problems.append(f"{here}.ports: {mapping} does not reach the service's port {port}")
    if serves:
        grace = float_setting(env.get("SHUTDOWN_GRACE_SECONDS"), project.default_grace)
        stop = seconds(spec.get("stop_grace_period", "10s"))
        if stop <= grace:
            problems.append(f"{here}: stop_grace_period {stop:g}s is not longer than SHUTDOWN_GRACE_SECONDS "
                            f"({grace:g}): a stop would be cut short by SIGKILL")
        data_dir = env.get("DATA_DIR", image.env.get("DATA_DIR"))
        targets = [str(v).split(":")[1] if isinstance(v, str) else v.get("target") for v in spec.get("volumes") or []]
        if data_dir not in targets:
            problems.append(f"{here}: nothing is mounted at DATA_DIR ({data_dir})")
    return problems
