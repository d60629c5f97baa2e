"""Where the commands connect, with which key, and what they say and exit with when that fails;
``model-service health``."""

from __future__ import annotations

import json
import time

import pytest

from tests.ports import closed_port

from .conftest import ADMIN_KEY, Cli, failed


@pytest.fixture
def auth_cli(auth_server) -> Cli:
    return Cli(auth_server.url)


@pytest.fixture
def read_key(auth_server, auth_cli) -> str:
    """A read-only key, made by ``model-service keys create`` in the auth server's own database."""
    result = auth_cli("keys", "create", "--name", "reader", "--scope", "read",
                      env={"DATA_DIR": str(auth_server.data_dir), "DATABASE_URL": None, "ENABLE_AUTH": "true",
                           "BOOTSTRAP_ADMIN_KEY": None, "MONGODB_URL": None})
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_the_url_comes_from_the_flag_or_the_environment(server):
    from_env = Cli(server.url).json("health")
    from_flag = Cli("http://127.0.0.1:1").json("health", "--url", server.url)

    assert from_env["status"] == from_flag["status"] == "healthy"


def test_an_unreachable_server_exits_6_with_one_line(cli):
    started = time.monotonic()
    result = cli("ls", "--retries", "0", env={"MODEL_SERVICE_URL": f"http://127.0.0.1:{closed_port()}"})

    failed(result, 6, "cannot reach the server")
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("url", ["notaurl", "ftp://models.internal", "http://"])
def test_a_url_that_is_not_http_is_a_usage_error(cli, url):
    by_flag = cli("ls", "--url", url)
    by_env = cli("ls", env={"MODEL_SERVICE_URL": url})

    assert by_flag.exit_code == by_env.exit_code == 2
    assert "expected http://HOST[:PORT]" in by_flag.stderr and "MODEL_SERVICE_URL" in by_env.stderr


def test_retries_are_bounded_and_then_reported(cli):
    result = cli("health", "--retries", "1", "--url", f"http://127.0.0.1:{closed_port()}")

    failed(result, 6, "after 2 attempts")


def test_a_url_that_is_not_the_service_is_an_error(cli, server):
    result = cli("show", "fraud_model", "--url", f"{server.url}/metrics-not-here")

    assert result.exit_code == 3  # a 404 from a path that does not exist
    assert "Traceback" not in result.output


def test_without_a_key_the_auth_server_refuses_with_exit_5(auth_cli):
    failed(auth_cli("ls"), 5, "unauthenticated", "request ")
    failed(auth_cli("ls", "--api-key", "tfk_0123456789ab_nonsense"), 5)


def test_a_key_from_the_environment_or_the_flag(auth_cli, name, model_file):
    by_env = auth_cli.json("push", model_file, "--name", name, "--algorithm", "xgboost",
                           env={"MODEL_SERVICE_API_KEY": ADMIN_KEY})
    by_flag = auth_cli.json("show", name, "--api-key", ADMIN_KEY)
    flag_wins = auth_cli.json("show", name, "--api-key", ADMIN_KEY, env={"MODEL_SERVICE_API_KEY": "wrong-key"})

    assert by_env["id"] == by_flag["id"] == flag_wins["id"]


def test_a_read_only_key_reads_but_may_not_write(auth_cli, name, model_file, read_key):
    auth_cli.push(model_file, name, "--algorithm", "xgboost", "--api-key", ADMIN_KEY)
    reader = Cli(auth_cli.url, env={"MODEL_SERVICE_API_KEY": read_key})

    assert [m["name"] for m in reader.json("ls", "--name", name)] == [name]
    failed(reader("status", name, "deprecated"), 5, "forbidden")
    failed(reader("push", model_file, "--name", name, "--algorithm", "xgboost"), 5, "forbidden")


def test_health(cli, server):
    shown = cli.ok("health").stdout
    report = cli.json("health")

    assert "healthy" in shown and server.url in shown
    assert report["status"] == "healthy" and report["service"] == "model-service"


def test_health_detailed(cli):
    shown = cli.ok("health", "--detailed").stdout
    report = cli.json("health", "--detailed")

    assert set(report["checks"]) == {"database", "blob_store", "disk_space", "model_registry"}
    assert all(state == "healthy" for state in report["checks"].values())
    for check in ("database", "blob_store", "disk_space", "model_registry"):
        assert check in shown


def test_detailed_health_of_an_unhealthy_server_exits_6_and_still_reports(unhealthy_server):
    cli = Cli(unhealthy_server.url)

    shown = cli("health", "--detailed")
    as_json = cli("health", "--detailed", "--json")
    alive = cli("health")

    assert shown.exit_code == as_json.exit_code == 6
    assert "disk_space" in shown.stdout and "unhealthy" in shown.stdout
    assert "disk_space" in shown.stderr and shown.stderr.startswith("Error: ")
    report = json.loads(as_json.stdout)
    assert report["status"] == "unhealthy" and report["issues"] == ["disk_space"]
    assert alive.exit_code == 0  # liveness touches no backend
