"""``model-service ls``, ``show``, ``versions``, ``compare`` and ``stats``."""

from __future__ import annotations

import re

import pytest

from tests.scanfiles import benign_pickle

from .conftest import Cli, failed

FAMILY = "cli_finding_family"


@pytest.fixture(scope="module")
def family(server, tmp_path_factory) -> list[dict]:
    """Five versions of one name (more than the server's 3 per page), with distinct metrics and
    tags; shared by the module's tests, which only read them (and set aliases of their own)."""
    cli = Cli(server.url)
    model_file = tmp_path_factory.mktemp("family") / "model.pkl"
    model_file.write_bytes(benign_pickle())
    records = []
    for index, (algorithm, f1) in enumerate([("xgboost", 0.81), ("xgboost", 0.95), ("lightgbm", 0.90),
                                             ("xgboost", 0.70), ("random_forest", 0.88)]):
        records.append(cli.push(model_file, FAMILY, "--algorithm", algorithm, "--metric", f"f1_score={f1}",
                                "--metric", f"loss={1 - f1:.2f}", "--param", f"depth={index + 3}",
                                "--tag", "even" if index % 2 == 0 else "odd"))
    return records


def test_ls_walks_every_page_and_prints_json_for_scripts(cli, family):
    listed = cli.json("ls", "--name", FAMILY)

    assert [m["version"] for m in listed] == ["v1.4", "v1.3", "v1.2", "v1.1", "v1.0"]  # newest first, 2 pages
    assert [m["id"] for m in listed] == [m["id"] for m in reversed(family)]


def test_ls_stops_at_the_limit_and_says_how_many_more(cli, family):
    result = cli.ok("ls", "--name", FAMILY, "--limit", "4")

    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "VERSION", "ALGORITHM", "STATUS", "METRICS", "SIZE", "CREATED"]
    assert len(lines) == 5 and all(FAMILY in line for line in lines[1:])
    assert lines[1].split()[:3] == [family[-1]["id"], FAMILY, "v1.4"]
    assert "f1_score=0.88" in lines[1]
    assert result.stderr.strip() == "4 of 5 versions: --limit N or --all for more"
    assert len(cli.json("ls", "--name", FAMILY, "--limit", "2")) == 2
    assert len(cli.json("ls", "--name", FAMILY, "--limit", "2", "--all")) == 5


@pytest.mark.usefixtures("family")
def test_ls_passes_the_server_filters(cli):
    def versions(*options):
        return [m["version"] for m in cli.json("ls", "--name", FAMILY, *options)]

    assert versions("--algorithm", "xgboost") == ["v1.3", "v1.1", "v1.0"]
    assert versions("--tag", "odd") == ["v1.3", "v1.1"]
    assert versions("--all-tags", "odd", "--all-tags", "even") == []
    assert versions("--filter", "metrics.f1_score >= 0.85", "--sort", "-metrics.f1_score") == ["v1.1", "v1.2",
                                                                                                "v1.4"]
    assert versions("--sort", "hyperparameters.depth", "--limit", "2") == ["v1.0", "v1.1"]
    assert versions("-q", "random_forest") == ["v1.4"]
    assert versions("--status", "deprecated") == []
    assert versions("--created-by", "nobody-at-all") == []
    assert versions("--created-after", "2000-01-01", "--created-before", "2999-01-01") == ["v1.4", "v1.3", "v1.2",
                                                                                          "v1.1", "v1.0"]
    assert [m["name"] for m in cli.json("ls", "--name", FAMILY, "--min-accuracy", "0.5")] == []  # no accuracy metric


def test_ls_with_nothing_found(cli):
    result = cli.ok("ls", "--name", "no_such_model_anywhere")

    assert result.stdout == "" and "No model versions match" in result.stderr
    assert cli.json("ls", "--name", "no_such_model_anywhere") == []


def test_a_bad_filter_is_the_servers_error_with_its_position(cli):
    line = failed(cli("ls", "--filter", "metrics.f1 >>= 2"), 1, "invalid_filter", "request ")

    assert "Traceback" not in line


def test_show_prints_a_version_and_its_file(cli, family):
    cli.ok("alias", "set", FAMILY, "champion", "v1.1")
    cli.ok("alias", "set", FAMILY, "blue", "v1.1")

    shown = cli.ok("show", f"{FAMILY}@champion").stdout
    record = cli.json("show", f"{FAMILY}/v1.1")

    fields = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in shown.splitlines())
    assert fields["id"] == family[1]["id"] and fields["version"] == "v1.1"
    assert fields["aliases"] == "blue, champion"
    assert fields["scan"] == "safe" and fields["checksum"].startswith("sha256:")
    assert fields["metrics"] == "f1_score=0.95 loss=0.05"
    assert record["id"] == family[1]["id"] and record["aliases"] == ["blue", "champion"]
    assert record["file_metadata"]["scan"]["verdict"] == "safe"


@pytest.mark.usefixtures("family")
def test_show_of_a_missing_version_exits_3(cli):
    failed(cli("show", f"{FAMILY}/v7.0"), 3, "version_not_found")
    failed(cli("show", f"{FAMILY}@nothing"), 3, "alias_not_found")


def test_versions_lists_every_version_with_its_aliases(cli, family):
    cli.ok("alias", "set", FAMILY, "production", "v1.2")
    cli.ok("alias", "set", FAMILY, "staging", "v1.4")

    table = cli.ok("versions", FAMILY).stdout.splitlines()
    listed = cli.json("versions", FAMILY)

    assert table[0].split()[:4] == ["VERSION", "ID", "STATUS", "ALIASES"]
    rows = {line.split()[0]: line for line in table[1:]}
    assert list(rows) == ["v1.4", "v1.3", "v1.2", "v1.1", "v1.0"]  # every page
    assert "production" in rows["v1.2"] and "staging" in rows["v1.4"] and "production" not in rows["v1.3"]
    assert listed["aliases"]["production"] == "v1.2" and listed["aliases"]["staging"] == "v1.4"
    assert [v["id"] for v in listed["versions"]] == [m["id"] for m in reversed(family)]


def test_versions_of_an_unknown_name_exits_3(cli):
    failed(cli("versions", "never_registered_name"), 3, "name_not_found")


def test_compare_puts_versions_side_by_side_and_stars_the_best(cli, family):
    result = cli.ok("compare", f"{FAMILY}/v1.0", f"{FAMILY}/v1.1", family[2]["id"])
    compared = cli.json("compare", f"{FAMILY}/v1.0", f"{FAMILY}/v1.1", family[2]["id"])

    lines = result.stdout.splitlines()
    assert lines[0].split() == [FAMILY, "v1.0", FAMILY, "v1.1", FAMILY, "v1.2"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["id"] == [m["id"] for m in family[:3]]
    assert rows["f1_score"] == ["0.81", "0.95", "*", "0.9"]  # highest is best
    assert rows["loss"] == ["0.19", "0.05", "*", "0.1"]  # lowest is best
    assert rows["depth"] == ["3", "4", "5"]
    assert [m["id"] for m in compared["models"]] == [m["id"] for m in family[:3]]
    assert compared["best"]["f1_score"]["model_ids"] == [family[1]["id"]]


@pytest.mark.usefixtures("family")
def test_compare_needs_two_to_ten_versions(cli):
    assert cli("compare", FAMILY).exit_code == 2
    assert cli("compare", *[FAMILY] * 11).exit_code == 2
    failed(cli("compare", FAMILY, f"{FAMILY}/v8.8"), 3, "version_not_found")


@pytest.mark.usefixtures("family")
def test_stats_shows_the_registry_figures(cli):
    figures = cli.json("stats")
    shown = cli.ok("stats").stdout

    assert figures["total_models"] >= 5 and figures["algorithms"]["lightgbm"] >= 1
    assert set(figures) >= {"status_distribution", "total_downloads", "storage_usage", "recent_activity"}
    assert re.search(rf"^model versions\s+{figures['total_models']}$", shown, re.MULTILINE)
    assert "by algorithm" in shown and "lightgbm=" in shown
