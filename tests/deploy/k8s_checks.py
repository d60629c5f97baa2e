"""The Kubernetes manifests (deploy/k8s) against Kubernetes' own schemas and against the project:
one Deployment of the service's pinned image running ``model-service serve`` as a non-root user,
its probes on real routes, a Service and a PodDisruptionBudget selecting its pods, ConfigMaps and
Secrets holding only settings the service reads, a stop that fits in the termination grace period.
"""

from __future__ import annotations

import functools
import json
import shlex
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .checks import (
    SERVICE_IMAGE,
    Image,
    Project,
    command_problem,
    float_setting,
    int_setting,
    route_problem,
    settings_problem,
    variable_problems,
)

# The seed's Kubernetes resources (its README's Deployment).
SEED_RESOURCES = {"requests": {"memory": "256Mi", "cpu": "250m"}, "limits": {"memory": "512Mi", "cpu": "500m"}}

Named = dict[str, tuple[Path, dict[str, Any]]]


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


def _named(documents: Sequence[tuple[Path, dict[str, Any]]], kind: str) -> Named:
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
    problems += _configuration_problems(project, config_maps, secrets, image)
    deployments = _named(documents, "Deployment")
    if len(deployments) != 1:
        return [*problems, f"{len(deployments)} Deployments, expected one"]
    path, deployment = next(iter(deployments.values()))
    problems += _deployment_problems(project, path, deployment, config_maps, secrets, image)
    problems += _service_problems(project, _named(documents, "Service"), deployment)
    problems += _disruption_budget_problems(_named(documents, "PodDisruptionBudget"), deployment)
    for path, job in _named(documents, "Job").values():
        for spec in job["spec"]["template"]["spec"]["containers"]:
            problems += _container_command_problems(project, f"{path.name}: {spec['name']}", spec, image)
            problems += _env_source_problems(path, spec, config_maps, secrets)
    return problems


def _configuration_problems(project: Project, config_maps: Named, secrets: Named, image: Image) -> list[str]:
    """ConfigMaps and Secrets hold settings the service reads, and valid ones."""
    problems = []
    for path, doc in [*config_maps.values(), *secrets.values()]:
        data = {**(doc.get("data") or {}), **(doc.get("stringData") or {})}
        problems += variable_problems(project, data, f"{path.name}: {doc['kind']} {doc['metadata']['name']}")
        if doc["kind"] == "ConfigMap" and (problem := settings_problem({**image.env, **data}, path.name)):
            problems.append(problem)
    return problems


def _pod_labels(deployment: Mapping[str, Any]) -> Mapping[str, str]:
    return deployment["spec"]["template"]["metadata"].get("labels") or {}


def _service_problems(project: Project, services: Named, deployment: Mapping[str, Any]) -> list[str]:
    """Each Service selects the Deployment's pods and reaches the container's port."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    ports = {port.get("name"): port["containerPort"] for port in container.get("ports") or []}
    problems = []
    for path, service in services.values():
        if not _matches(service["spec"].get("selector") or {}, _pod_labels(deployment)):
            problems.append(f"{path.name}: the Service's selector does not select the Deployment's pods")
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            number = ports.get(target) if isinstance(target, str) else target
            if number != project.default_port:
                problems.append(f"{path.name}: targetPort {target} is not the container's port {project.default_port}")
    return problems


def _disruption_budget_problems(budgets: Named, deployment: Mapping[str, Any]) -> list[str]:
    """A PodDisruptionBudget selects the Deployment's pods and lets one of them go."""
    if not budgets:
        return ["no PodDisruptionBudget"]
    problems = []
    replicas = deployment["spec"].get("replicas", 1)
    for path, pdb in budgets.values():
        if not _matches((pdb["spec"].get("selector") or {}).get("matchLabels") or {}, _pod_labels(deployment)):
            problems.append(f"{path.name}: the PodDisruptionBudget does not select the Deployment's pods")
        if pdb["spec"].get("minAvailable", 0) >= replicas or pdb["spec"].get("maxUnavailable", 1) < 1:
            problems.append(f"{path.name}: the PodDisruptionBudget allows no disruption with {replicas} replicas")
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


def _deployment_problems(project: Project, path: Path, deployment: Mapping[str, Any], config_maps: Named,
                         secrets: Named, image: Image) -> list[str]:
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
    port = int_setting(settings.get("PORT"), project.default_port)
    ports = {item.get("name"): item["containerPort"] for item in container.get("ports") or []}
    if list(ports.values()) != [port] or port != project.default_port:
        problems.append(f"{here}: containerPort {list(ports.values())} is not PORT {project.default_port}")
    if container.get("resources") != SEED_RESOURCES:
        problems.append(f"{here}: resources {container.get('resources')} are not the seed's {SEED_RESOURCES}")
    problems += _probe_problems(project, here, container, ports, port)
    problems += _security_problems(here, pod, container, image, settings)
    problems += _stop_problems(project, where, pod, container, settings)
    return problems


def _security_problems(here: str, pod: Mapping[str, Any], container: Mapping[str, Any], image: Image,
                       settings: Mapping[str, str]) -> list[str]:
    """Non-root, as the image's user; a read-only root with DATA_DIR and /tmp writable."""
    security = {**(pod.get("securityContext") or {}), **(container.get("securityContext") or {})}
    problems = []
    if security.get("runAsNonRoot") is not True:
        problems.append(f"{here}: runAsNonRoot is not set")
    if security.get("runAsUser") in (0, None) or security.get("runAsUser") != image.uid:
        problems.append(f"{here}: runAsUser {security.get('runAsUser')} is not the image's user {image.uid}")
    if security.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{here}: allowPrivilegeEscalation is not false")
    if security.get("readOnlyRootFilesystem"):
        mounted = {mount["mountPath"] for mount in container.get("volumeMounts") or []}
        problems += [f"{here}: the root filesystem is read-only and nothing writable is mounted at {needed}"
                     for needed in (settings.get("DATA_DIR"), "/tmp") if needed not in mounted]
    return problems


def _stop_problems(project: Project, where: str, pod: Mapping[str, Any], container: Mapping[str, Any],
                   settings: Mapping[str, str]) -> list[str]:
    """The preStop pause and SHUTDOWN_GRACE_SECONDS fit in terminationGracePeriodSeconds."""
    grace = float_setting(settings.get("SHUTDOWN_GRACE_SECONDS"), project.default_grace)
    pause = 0.0
    pre_stop = ((container.get("lifecycle") or {}).get("preStop") or {})
    if "exec" in pre_stop:
        words = pre_stop["exec"]["command"]
        pause = float(words[1]) if words[0] == "sleep" and len(words) == 2 else 0.0
    elif "sleep" in pre_stop:
        pause = float(pre_stop["sleep"]["seconds"])
    termination = pod.get("terminationGracePeriodSeconds", 30)
    if termination <= pause + grace:
        return [f"{where}: terminationGracePeriodSeconds {termination} leaves no room for the preStop "
                f"pause ({pause:g} s) and SHUTDOWN_GRACE_SECONDS ({grace:g} s)"]
    return []


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
