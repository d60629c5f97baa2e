"""Retention (``model-service cleanup``) on the embedded default, PostgreSQL + S3 and MongoDB +
GridFS: the seed's archived-and-old clean-up, per-prefix rules (newest N, best N by a metric),
aliases that protect versions, dry runs, and deletions recorded like any other."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner

from model_service.cli.main import main
from model_service.domain.audit import AuditQuery
from model_service.domain.errors import Invalid, NotFound
from model_service.domain.models import EventKind
from model_service.operations.retention import Policy, Rule, apply, load_policy, parse_duration, parse_rules, plan

from .maintenance_fixtures import T0, stack_fixture  # noqa: F401 - the fixture `stack`


def ids(candidates) -> list[str]:
    return sorted(candidate.model.id for candidate in candidates)


def remaining(stack, name: str) -> list[str]:
    return sorted(m.id for m in stack.registry.versions(name, 1, 100).items)


def test_archived_versions_older_than_the_age_go_and_nothing_else(stack):
    old_archived = stack.add("fraud", b"old archived", status="archived")
    old_active = stack.add("fraud", b"old active")
    old_deprecated = stack.add("churn", b"old deprecated", status="deprecated")
    stack.clock.advance(days=100)
    young_archived = stack.add("churn", b"young archived", status="archived")
    policy = Policy(archived_older_than=timedelta(days=90))

    dry = apply(stack.registry, policy, now=stack.clock(), dry_run=True)
    assert ids(dry.doomed) == [old_archived.id] and dry.kept == []
    assert "archived, created 2026-01-02" in dry.doomed[0].reason
    assert stack.registry.get(old_archived.id)  # a dry run changes nothing

    done = apply(stack.registry, policy, now=stack.clock())
    assert done.ok and ids(done.doomed) == [old_archived.id]
    with pytest.raises(NotFound):
        stack.registry.get(old_archived.id)
    for kept in (old_active, old_deprecated, young_archived):
        assert stack.registry.get(kept.id)
    assert stack.blobs.size(old_archived.file.sha256) is None  # its blob went with its last reference
    event = stack.metadata.events(old_archived.id)[-1]
    assert (event.kind, event.actor) == (EventKind.DELETED, "retention")
    (record,) = stack.metadata.audit_records(AuditQuery(actor="retention", limit=10))
    assert (record.action, record.model_id, record.details["file"]["sha256"]) == (
        "model.delete", old_archived.id, old_archived.file.sha256)


def test_keep_newest_and_best_by_a_metric_per_name_never_an_aliased_version(stack):
    accuracies = [0.91, 0.99, 0.80, 0.95, 0.85, 0.70, 0.60]  # v1.0 … v1.6
    fraud = [stack.add("fraud_cards", f"w{i}".encode(), metrics={"accuracy": a}) for i, a in enumerate(accuracies)]
    fraud.append(stack.add("fraud_cards", b"no metric"))  # v1.7: newest, never "best"
    other = [stack.add("fraud_wire", f"x{i}".encode()) for i in range(3)]
    untouched = [stack.add("fraudulent", f"y{i}".encode()) for i in range(3)]  # not under "fraud_"
    stack.registry.set_alias("fraud_cards", "production", "ops", version="v1.0")
    rule = Rule("fraud_", keep_newest=2, keep_best=2, metric="accuracy")

    report = plan(stack.metadata, Policy(rules=(rule,)), now=stack.clock())
    # fraud_cards keeps v1.7, v1.6 (newest) and v1.1, v1.3 (best); v1.0 for its alias
    assert ids(report.doomed) == sorted([fraud[i].id for i in (2, 4, 5)] + [other[0].id])
    assert [(c.model.id, c.aliases) for c in report.kept] == [(fraud[0].id, ("fraud_cards@production",))]
    assert all(c.reason == "prefix 'fraud_': keep newest 2 + best 2 by accuracy" for c in report.doomed)

    done = apply(stack.registry, Policy(rules=(rule,)), now=stack.clock())
    assert ids(done.doomed) == ids(report.doomed)
    assert remaining(stack, "fraud_cards") == sorted(fraud[i].id for i in (0, 1, 3, 6, 7))
    assert remaining(stack, "fraud_wire") == sorted(m.id for m in other[1:])
    assert remaining(stack, "fraudulent") == sorted(m.id for m in untouched)
    assert apply(stack.registry, Policy(rules=(rule,)), now=stack.clock()).doomed == []


def test_lowest_is_best_and_the_longest_prefix_decides(stack):
    losses = [0.5, 0.1, 0.3, 0.2]
    models = [stack.add("team_a_loss", f"l{i}".encode(), metrics={"loss": v}) for i, v in enumerate(losses)]
    policy = Policy(rules=(Rule("team_", keep_newest=0, keep_best=1, metric="loss"),  # would keep v1.0 only
                           Rule("team_a_", keep_best=2, metric="loss", higher_is_better=False)))
    report = plan(stack.metadata, policy, now=stack.clock())
    assert ids(report.doomed) == sorted([models[0].id, models[2].id])


def test_an_alias_set_after_planning_still_protects_its_version(stack, monkeypatch):
    old = stack.add("fraud", b"old")
    stack.add("fraud", b"new")
    monkeypatch.setattr(stack.metadata, "all_aliases", list)  # a plan made before the alias moved
    stack.registry.set_alias("fraud", "production", "ops", version="v1.0")
    report = apply(stack.registry, Policy(rules=(Rule("fraud", keep_newest=1),)), now=stack.clock())
    assert report.ok and report.doomed == []
    assert [(c.model.id, c.aliases) for c in report.kept] == [(old.id, ("fraud@production",))]
    assert stack.registry.get(old.id) and stack.metadata.get_alias("fraud", "production").model_id == old.id


# ---- rules and durations ----------------------------------------------------------------------------

def test_rules_from_a_document():
    rules = parse_rules({"rules": [{"prefix": "fraud_", "keep_newest": 5, "keep_best": 3, "metric": "accuracy"},
                                   {"prefix": "", "keep_newest": 20}], "archived_older_than": "90d"})
    assert rules == (Rule("fraud_", 5, 3, "accuracy"), Rule("", 20))
    policy = load_policy({"archived_older_than": "12w", "rules": [{"prefix": "x", "keep_newest": 1}]})
    assert policy.archived_older_than == timedelta(weeks=12)
    flags = load_policy(None, archived_older_than=timedelta(days=1), rules=(Rule("y", keep_newest=2),))
    assert flags == Policy(timedelta(days=1), (Rule("y", keep_newest=2),))
    assert parse_rules([{"prefix": "p", "keep_best": 1, "metric": "f1", "higher_is_better": False}])[0] \
        .higher_is_better is False


@pytest.mark.parametrize("document", [
    {"rules": [{"prefix": "x"}]},  # keeps nothing said
    {"rules": [{"prefix": "x", "keep_best": 2}]},  # no metric
    {"rules": [{"prefix": "x", "keep_newest": -1}]},
    {"rules": [{"prefix": "x", "keep_newest": "5"}]},
    {"rules": [{"prefix": "x", "keep_newest": 1, "metric": "accuracy"}]},  # a metric without keep_best
    {"rules": [{"prefix": "x", "keep_newest": 1, "keep_oldest": 1}]},
    {"rules": [{"keep_newest": 1}]},
    {"rules": [{"prefix": "x", "keep_newest": 1}, {"prefix": "x", "keep_newest": 2}]},
    {"rulez": []},
    "keep everything",
])
def test_a_bad_rule_is_refused(document):
    with pytest.raises(Invalid):
        load_policy(document)


def test_nothing_to_do_is_refused():
    with pytest.raises(Invalid):
        Policy()


@pytest.mark.parametrize(("text", "expected"), [("90d", timedelta(days=90)), ("2w", timedelta(weeks=2)),
                                                 ("12h", timedelta(hours=12)), ("30m", timedelta(minutes=30)),
                                                 ("0s", timedelta(0)), (" 7D ", timedelta(days=7))])
def test_durations(text, expected):
    assert parse_duration(text) == expected


# ---- the command --------------------------------------------------------------------------------------

@pytest.fixture
def embedded(tmp_path, monkeypatch):
    """The embedded default under DATA_DIR, with a registry on it whose clock the test sets."""
    from model_service.config import load_settings
    from model_service.server.app import build_registry

    from .maintenance_fixtures import Clock, Stack

    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    registry = build_registry(load_settings())
    clock = Clock(T0.replace(year=2020))
    registry.clock = clock
    yield Stack("embedded", registry, clock)
    registry.metadata.close()


def test_the_cleanup_command_dry_run_then_for_real(embedded, tmp_path):
    old = embedded.add("fraud_cards", b"old", status="archived")
    kept = [embedded.add("fraud_cards", f"w{i}".encode(), metrics={"accuracy": 0.9}) for i in range(3)]
    embedded.registry.set_alias("fraud_cards", "production", "ops", version="v1.1")
    runner = CliRunner()

    dry = runner.invoke(main, ["cleanup", "--archived-older-than", "90d", "--prefix", "fraud_", "--keep-newest", "1",
                               "--dry-run"])
    assert dry.exit_code == 0, dry.output
    lines = dry.output.splitlines()
    assert lines[0].split() == ["ACTION", "NAME", "VERSION", "ID", "STATUS", "CREATED", "SIZE", "WHY"]
    assert any(line.startswith("would delete") and old.id in line and "archived, created 2020" in line
               for line in lines)
    assert any(line.startswith("would delete") and kept[1].id in line for line in lines)
    assert any(line.startswith("kept") and kept[0].id in line and "fraud_cards@production" in line for line in lines)
    assert "would delete 2 version(s)" in dry.output
    assert len(embedded.registry.versions("fraud_cards", 1, 10).items) == 4

    rules = tmp_path / "retention.yaml"
    rules.write_text("archived_older_than: 90d\nrules:\n  - prefix: fraud_\n    keep_newest: 1\n")
    done = runner.invoke(main, ["cleanup", "--rules", str(rules), "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert sorted(item["model_id"] for item in report["deleted"]) == sorted([old.id, kept[1].id])
    assert [item["aliases"] for item in report["kept_for_aliases"]] == [["fraud_cards@production"]]
    assert sorted(m.id for m in embedded.registry.versions("fraud_cards", 1, 10).items) == \
        sorted([kept[0].id, kept[2].id])


@pytest.mark.parametrize("args", [
    [],  # nothing to do
    ["--keep-newest", "3"],  # a rule without a prefix
    ["--prefix", "x"],  # a prefix without what to keep
    ["--prefix", "x", "--keep-best", "2"],  # no metric
    ["--archived-older-than", "ninety days"],
])
def test_the_cleanup_command_refuses_bad_arguments(args, tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(main, ["cleanup", "--dry-run", *args])
    assert result.exit_code == 2, result.output
