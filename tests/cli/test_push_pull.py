"""``model-service push`` and ``pull``: metadata from flags and files, transfers with progress, errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from tests.scanfiles import malicious_pickle

from .conftest import failed


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_push_takes_its_metadata_from_flags(cli, name, model_file):
    record = cli.json("push", model_file, "--name", name, "--algorithm", "xgboost", "--metric", "accuracy=0.93",
                      "--metric", "f1_score=0.9", "--param", "max_depth=6", "--param", "criterion=gini",
                      "--param", "layers=[64, 32]", "--dataset", "rows=1000", "--tag", "fraud", "--tag", "weekly",
                      "--description", "Card fraud", "--created-by", "jane")

    assert (record["name"], record["version"], record["algorithm"]) == (name, "v1.0", "xgboost")
    assert record["metrics"] == {"accuracy": 0.93, "f1_score": 0.9}
    assert record["hyperparameters"] == {"max_depth": 6, "criterion": "gini", "layers": [64, 32]}
    assert record["dataset_info"] == {"rows": 1000}
    assert record["tags"] == ["fraud", "weekly"]
    assert (record["description"], record["created_by"]) == ("Card fraud", "jane")
    stored = record["file_metadata"]
    assert stored["checksum"] == sha256(model_file) and stored["size_bytes"] == model_file.stat().st_size
    assert stored["scan"]["verdict"] == "safe"


def test_push_says_what_it_stored_in_one_line(cli, name, model_file):
    first = cli.ok("push", model_file, "--name", name, "--algorithm", "xgboost")
    second = cli.ok("push", model_file, "--name", name, "--algorithm", "xgboost", "--breaking-changes")

    [line] = first.stdout.splitlines()
    assert line.startswith(f"Pushed {name} v1.0 (") and sha256(model_file) in line and "scan safe" in line
    assert second.stdout.startswith(f"Pushed {name} v2.0 (")


def test_metadata_from_a_yaml_file_with_the_flags_on_top(cli, name, model_file, tmp_path):
    document = tmp_path / "model.yaml"
    document.write_text(f"""
name: {name}
algorithm: random_forest
metrics: {{accuracy: 0.91, f1_score: 0.88}}
hyperparameters:
  n_estimators: 150
dataset_info:
  snapshot: 2024-06-01
tags: [churn]
description: from yaml
""")

    record = cli.json("push", model_file, "-m", document, "--algorithm", "lightgbm", "--metric", "accuracy=0.95",
                      "--param", "max_depth=8", "--tag", "candidate")

    assert (record["name"], record["algorithm"], record["description"]) == (name, "lightgbm", "from yaml")
    assert record["metrics"] == {"accuracy": 0.95, "f1_score": 0.88}
    assert record["hyperparameters"] == {"n_estimators": 150, "max_depth": 8}
    assert record["dataset_info"] == {"snapshot": "2024-06-01"}
    assert record["tags"] == ["churn", "candidate"]


def test_metadata_from_a_json_file_or_stdin(cli, name, model_file, tmp_path):
    document = tmp_path / "meta.json"
    document.write_text(json.dumps({"name": name, "algorithm": "xgboost", "metrics": {"auc": 0.97}}))

    from_file = cli.json("push", model_file, "--metadata", document)
    from_stdin = cli.json("push", model_file, "--metadata", "-", input=json.dumps({"name": name, "algorithm": "svm"}))

    assert (from_file["version"], from_file["metrics"]) == ("v1.0", {"auc": 0.97})
    assert (from_stdin["version"], from_stdin["algorithm"]) == ("v1.1", "svm")


@pytest.mark.parametrize(("content", "flags", "message"), [
    ("name: [unclosed", (), "not valid YAML"),
    ("- a list\n- of things\n", (), "must hold a mapping"),
    (None, ("--metric", "accuracy=high"), "must be a number"),
    (None, ("--param", "max_depth"), "expected KEY=VALUE"),
    ("metrics: 3\n", ("--metric", "accuracy=0.9"), "'metrics' in the metadata file must be a mapping"),
    ("checksum: sha256:00\n", (), "'checksum' is not a metadata field"),
])
def test_a_bad_metadata_file_or_flag_is_a_usage_error(cli, model_file, tmp_path, content, flags, message):
    options: list = ["--algorithm", "xgboost", *flags]
    if content is not None:
        (tmp_path / "meta.yaml").write_text(content)
        options += ["-m", tmp_path / "meta.yaml"]

    result = cli("push", model_file, *options)

    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output


def test_a_missing_file_is_a_usage_error(cli, tmp_path):
    result = cli("push", tmp_path / "nope.pkl", "--algorithm", "x")

    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_metadata_the_server_refuses_is_an_error_with_its_code_and_request_id(cli, model_file):
    no_algorithm = cli("push", model_file, "--name", "refused_model")
    bad_name = cli("push", model_file, "--name", "bad name!", "--algorithm", "xgboost")

    failed(no_algorithm, 1, "algorithm", "request ")
    failed(bad_name, 1, "invalid_name", "request ")


def test_pull_by_alias_version_id_and_name(cli, name, model_file, tmp_path):
    first = cli.push(model_file, name)
    other = tmp_path / "other.pkl"
    other.write_bytes(model_file.read_bytes() + b"\n")  # a different file, still a pickle
    second = cli.push(other, name)
    cli.ok("alias", "set", name, "production", "v1.0")

    by_alias = cli.json("pull", f"{name}@production", "-o", tmp_path / "prod.pkl")
    by_version = cli.json("pull", f"{name}/v1.1", "-o", tmp_path / "out" / "v11.pkl")
    by_id = cli.json("pull", first["id"], "-o", f"{tmp_path / 'by-id'}/")  # a folder, made
    latest = cli.json("pull", name, "-o", tmp_path / "latest.pkl")

    assert by_alias == {"path": str(tmp_path / "prod.pkl"), "id": first["id"], "name": name, "version": "v1.0",
                        "checksum": sha256(model_file), "size_bytes": model_file.stat().st_size}
    assert (tmp_path / "prod.pkl").read_bytes() == model_file.read_bytes()
    assert by_version["id"] == second["id"] and (tmp_path / "out" / "v11.pkl").read_bytes() == other.read_bytes()
    assert Path(by_id["path"]).parent == tmp_path / "by-id" and Path(by_id["path"]).read_bytes() == \
        model_file.read_bytes()
    assert latest["version"] == "v1.1"
    (tmp_path / "here").mkdir()
    into_folder = cli.json("pull", name, "-o", tmp_path / "here")
    assert Path(into_folder["path"]).parent == tmp_path / "here"


def test_pull_says_where_the_verified_file_went(cli, name, model_file, tmp_path):
    cli.push(model_file, name)

    result = cli.ok("pull", f"{name}/v1.0", "-o", tmp_path / "copy.pkl")

    assert result.stdout.startswith(f"Pulled {name} v1.0 (")
    assert str(tmp_path / "copy.pkl") in result.stdout and "verified" in result.stdout


def test_pull_of_what_is_not_there_exits_3(cli, server, name, model_file, tmp_path):
    cli.push(model_file, name)
    no_file = httpx.post(f"{server.url}/api/v1/models", json={"name": f"{name}_bare", "algorithm": "x"}).json()

    for ref, code in ((f"{name}/v9.9", "version_not_found"), (f"{name}@champion", "alias_not_found"),
                      ("nobody_has_this_name", "name_not_found"), ("0123456789abcdef01234567", "model_not_found"),
                      (no_file["model_id"], "file_not_found")):
        failed(cli("pull", ref, "-o", tmp_path / "x.pkl"), 3, code, "request ")
    assert not (tmp_path / "x.pkl").exists()


@pytest.mark.parametrize("ref", ["a/b/c", "name@Bad Alias", "@production", "name/version-one"])
def test_a_malformed_reference_is_a_usage_error(cli, ref):
    result = cli("pull", ref)

    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "REF" in result.stderr


def test_transfers_report_progress_on_stderr(cli, name, tmp_path):
    big = tmp_path / "weights.pkl"
    big.write_bytes(b"\x80\x04" + bytes(3 * 1024 * 1024))  # several of the SDK's 1 MiB chunks

    pushed = cli.ok("push", big, "--name", name, "--algorithm", "xgboost", "--progress")
    pulled = cli.ok("pull", name, "-o", tmp_path / "back.pkl", "--progress")

    assert "push weights.pkl" in pushed.stderr and "3.1 MB" in pushed.stderr
    assert f"pull {name} v1.0" in pulled.stderr and "3.1 MB" in pulled.stderr
    assert pushed.stdout.startswith("Pushed") and pulled.stdout.startswith("Pulled")
    assert (tmp_path / "back.pkl").read_bytes() == big.read_bytes()


def test_progress_is_off_by_default_off_a_terminal_and_with_json(cli, name, model_file, tmp_path):
    pushed = cli("push", model_file, "--name", name, "--algorithm", "xgboost", "--json")
    pulled = cli("pull", name, "-o", tmp_path / "copy.pkl")

    assert pushed.exit_code == pulled.exit_code == 0
    assert pushed.stderr == pulled.stderr == ""


def test_show_names_the_scan_verdict_of_a_dangerous_file(cli, name, tmp_path):
    dangerous = tmp_path / "payload.pkl"
    dangerous.write_bytes(malicious_pickle())
    cli.push(dangerous, name)

    shown = cli.ok("show", name).stdout
    record = cli.json("show", name)

    assert "unsafe" in shown and "system (dangerous)" in shown
    assert record["file_metadata"]["scan"]["verdict"] == "unsafe"


def test_a_destination_that_cannot_be_written_is_an_error_line(cli, name, model_file, tmp_path):
    cli.push(model_file, name)
    (tmp_path / "a-file").write_text("not a folder")

    line = failed(cli("pull", name, "-o", tmp_path / "a-file" / "model.pkl"), 1)

    assert "a-file" in line
