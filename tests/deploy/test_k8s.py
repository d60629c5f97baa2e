"""The Kubernetes manifests (deploy/k8s) against Kubernetes' schemas and the project
(tests/deploy/k8s_checks.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from .checks import EXTERNAL_VARIABLES, K8S_DIR, ROOT, Image, Project
from .conftest import Mutate
from .k8s_checks import SEED_RESOURCES, check_k8s, schema_problems


def test_manifests_match_the_project(project: Project, image: Image):
    assert check_k8s(project, K8S_DIR, image) == []


def _deployment() -> dict:
    return yaml.safe_load((K8S_DIR / "deployment.yaml").read_text())


def test_the_deployment_is_the_seeds_with_probes_on_the_health_routes(project: Project):
    deployment = _deployment()
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert deployment["spec"]["replicas"] == 3
    assert container["resources"] == SEED_RESOURCES
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["exec"]["command"][:3] == ["model-service", "health", "--detailed"]
    assert project.health_detailed_path == "/health/detailed"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {source_kind for source in container["envFrom"] for source_kind in source} == {"configMapRef", "secretRef"}


def test_the_example_secret_names_the_database_url_and_keys_and_its_placeholders_are_refused():
    from model_service.config import SettingsError, load_settings

    secret = yaml.safe_load((K8S_DIR / "secret.example.yaml").read_text())
    assert {"DATABASE_URL", "BOOTSTRAP_ADMIN_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(
        secret["stringData"])
    with pytest.raises(SettingsError, match="BOOTSTRAP_ADMIN_KEY"):  # a copy left unedited does not start
        load_settings(bootstrap_admin_key=secret["stringData"]["BOOTSTRAP_ADMIN_KEY"])


@pytest.mark.parametrize("name", sorted(name for name, module in EXTERNAL_VARIABLES.items() if module))
def test_variables_that_are_not_settings_are_read_by_the_module_named(name: str):
    """A variable the files set outside the settings must really be read where checks.py says."""
    spec = importlib.util.find_spec(EXTERNAL_VARIABLES[name])
    assert spec is not None and spec.submodule_search_locations
    sources = [path for location in spec.submodule_search_locations for path in Path(location).rglob("*.py")]
    assert any(name in path.read_text(errors="replace") for path in sources), f"{name} is not read there"


BROKEN = {
    "replicas": ("deployment.yaml", "replicas: 3", "replicas: 2", "2 replicas, the seed runs 3"),
    "resources": ("deployment.yaml", 'cpu: "250m"', 'cpu: "200m"', "are not the seed's"),
    "liveness path": ("deployment.yaml", "path: /health", "path: /healthz", "GET /healthz answers 404"),
    "readiness checks liveness": ("deployment.yaml", '"health", "--detailed", ', '"health", ',
                                  "readinessProbe checks /health, expected /health/detailed"),
    "readiness command": ("deployment.yaml", '"health", "--detailed"', '"healthz", "--detailed"',
                          "'model-service healthz' is not a command"),
    "readiness option": ("deployment.yaml", '"--retries", "0"', '"--retry", "0"', "No such option '--retry'"),
    "readiness port": ("deployment.yaml", '"http://127.0.0.1:8084"', '"http://127.0.0.1:8085"',
                       "not this container's port 8084"),
    "misspelt field": ("deployment.yaml", "readinessProbe:", "readinesProbe:", "readinesProbe"),
    "container port": ("deployment.yaml", "containerPort: 8084", "containerPort: 8080", "is not PORT 8084"),
    "root user": ("deployment.yaml", "runAsUser: 10001", "runAsUser: 0", "runAsUser 0 is not the image's user"),
    "non-root unset": ("deployment.yaml", "runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot is not set"),
    "no writable tmp": ("deployment.yaml", "mountPath: /tmp", "mountPath: /scratch",
                        "nothing writable is mounted at /tmp"),
    "stop too short": ("deployment.yaml", "terminationGracePeriodSeconds: 45", "terminationGracePeriodSeconds: 30",
                       "leaves no room for the preStop pause (5 s) and SHUTDOWN_GRACE_SECONDS (30 s)"),
    "grace too long": ("configmap.yaml", 'SHUTDOWN_GRACE_SECONDS: "30"', 'SHUTDOWN_GRACE_SECONDS: "60"',
                       "terminationGracePeriodSeconds 45 leaves no room"),
    "image tag": ("deployment.yaml", "tensorfleet/model-service:0.1.0", "tensorfleet/model-service:latest",
                  "is not tensorfleet/model-service:0.1.0"),
    "unknown config key": ("configmap.yaml", "LOG_FORMAT:", "LOG_FMT:", "LOG_FMT is not a setting"),
    "invalid config value": ("configmap.yaml", 'LOG_FORMAT: "json"', 'LOG_FORMAT: "yaml"',
                             "Invalid configuration: LOG_FORMAT"),
    "unknown secret key": ("secret.example.yaml", "DATABASE_URL:", "DATABASE_URI:", "DATABASE_URI is not a setting"),
    "missing config map": ("configmap.yaml", "name: model-service-config", "name: model-service-settings",
                           "configMapRef model-service-config is defined nowhere here"),
    "service selector": ("service.yaml", "app: model-service\n  ports", "app: model-svc\n  ports",
                         "the Service's selector does not select"),
    "service port": ("service.yaml", "targetPort: http", "targetPort: 8080", "targetPort 8080 is not"),
    "pdb allows nothing": ("pdb.yaml", "maxUnavailable: 1", "maxUnavailable: 0", "allows no disruption"),
    "pdb selector": ("pdb.yaml", "matchLabels:\n      app: model-service", "matchLabels:\n      app: other",
                     "does not select the Deployment's pods"),
    "job command": ("migrate-job.yaml", 'args: ["db", "upgrade"]', 'args: ["db", "upgrayedd"]',
                    "'model-service db upgrayedd' is not a command"),
    "kustomization": ("kustomization.yaml", "  - pdb.yaml\n", "", "pdb.yaml is not listed"),
    "namespace": ("service.yaml", "namespace: tensorfleet", "namespace: default", "spread over namespaces"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_manifest_is_reported(case: str, project: Project, image: Image, broken: Mutate):
    name, old, new, expected = BROKEN[case]
    root = broken(f"deploy/k8s/{name}", old, new)
    problems = check_k8s(project, root / "deploy" / "k8s", image)
    assert any(expected in problem for problem in problems), problems


def test_kubernetes_schemas_refuse_a_wrong_type(broken: Mutate):
    root = broken("deploy/k8s/deployment.yaml", "periodSeconds: 10", "periodSeconds: ten")
    assert any("'ten' is not of type 'integer'" in problem for problem in schema_problems(root / "deploy" / "k8s"))


def test_every_manifest_is_checked():
    assert {path.name for path in K8S_DIR.glob("*")} == {
        "namespace.yaml", "configmap.yaml", "secret.example.yaml", "deployment.yaml", "service.yaml", "pdb.yaml",
        "migrate-job.yaml", "kustomization.yaml"}
    assert not list((ROOT / "deploy").glob("*.yml")) and not list(K8S_DIR.glob("*.yml"))
