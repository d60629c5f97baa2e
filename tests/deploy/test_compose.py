"""The docker compose files against the project (tests/deploy/compose_checks.py)."""

from __future__ import annotations

import pytest
import yaml

from .checks import COMPOSE_FILES, ROOT, Image, Project
from .compose_checks import check_compose, interpolate
from .conftest import Mutate


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_file_matches_the_project(name: str, project: Project, image: Image):
    assert check_compose(project, ROOT / name, image) == []


def _services(name: str) -> dict:
    return interpolate(yaml.safe_load((ROOT / name).read_text()))["services"]


def test_the_default_file_pairs_the_service_with_mongodb_and_gridfs():
    services = _services("docker-compose.yml")
    assert set(services) == {"model-service", "mongodb"}
    environment = services["model-service"]["environment"]
    assert environment["MONGODB_URL"].startswith("mongodb://") and "@mongodb:27017" in environment["MONGODB_URL"]
    assert environment["BLOB_STORE_URL"] == "gridfs://" and "DATABASE_URL" not in environment
    assert services["mongodb"]["image"].startswith("mongo:")


def test_the_postgres_file_has_postgresql_minio_and_redis():
    services = _services("docker-compose.postgres.yml")
    environment = services["model-service"]["environment"]
    assert environment["DATABASE_URL"].startswith("postgresql://")
    assert environment["BLOB_STORE_URL"].startswith("s3://") and environment["S3_ENDPOINT_URL"] == "http://minio:9000"
    assert environment["REDIS_URL"].startswith("redis://redis:")
    assert services["migrate"]["command"] == ["db", "upgrade"]
    bucket = urlparse_bucket(environment["BLOB_STORE_URL"])
    assert f"local/{bucket}" in services["create-bucket"]["command"][0]  # the bucket the service needs is made
    depends = services["model-service"]["depends_on"]
    assert depends["migrate"]["condition"] == depends["create-bucket"]["condition"] == "service_completed_successfully"


def urlparse_bucket(url: str) -> str:
    return url.removeprefix("s3://").split("/", 1)[0]


BROKEN = {
    "unknown variable": ("docker-compose.yml", "MONGODB_DB:", "MONGO_DB:", "MONGO_DB is not a setting"),
    "invalid value": ("docker-compose.yml", "MAX_FILE_SIZE: 1GB", "MAX_FILE_SIZE: lots",
                      "Invalid configuration: MAX_FILE_SIZE"),
    "untagged image": ("docker-compose.yml", "image: mongo:7.0", "image: mongo", "image 'mongo' has no tag"),
    "latest image": ("docker-compose.postgres.yml", "image: redis:7.4", "image: redis:latest", "uses 'latest'"),
    "wrong service image": ("docker-compose.yml", "tensorfleet/model-service:0.1.0", "tensorfleet/model-service:0.0.9",
                            "is not tensorfleet/model-service:0.1.0"),
    "port": ("docker-compose.yml", '"8084:8084"', '"8084:8080"', "does not reach the service's port 8084"),
    "stop grace": ("docker-compose.yml", "stop_grace_period: 40s", "stop_grace_period: 20s",
                   "would be cut short by SIGKILL"),
    "url host": ("docker-compose.yml", "@mongodb:27017", "@mongo:27017", "points at 'mongo', which is not a service"),
    "command": ("docker-compose.postgres.yml", 'command: ["db", "upgrade"]', 'command: ["db", "upgrad"]',
                "'model-service db upgrad' is not a command"),
    "data dir": ("docker-compose.yml", "- model_data:/data", "- model_data:/var/lib/models",
                 "nothing is mounted at DATA_DIR (/data)"),
    "undeclared volume": ("docker-compose.postgres.yml", "  minio_data:\n", "", "minio_data is not declared"),
    "dependency": ("docker-compose.postgres.yml", "      redis:\n        condition", "      cache:\n        condition",
                   "depends_on cache, which is not a service"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_compose_file_is_reported(case: str, project: Project, image: Image, broken: Mutate):
    name, old, new, expected = BROKEN[case]
    root = broken(name, old, new)
    problems = check_compose(project, root / name, image)
    assert any(expected in problem for problem in problems), problems
