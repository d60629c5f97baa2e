"""PostgreSQL as the metadata backend: what the contract suite does not show on its own — many
writers at once, the schema commands and the refusal to serve an old schema, what the indexes
answer, and values stored exactly as given whatever the server's settings.

Each test's database comes from ``tests/backends/postgres.py`` (skipped without a server, failed
under ``CI=true``).
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import uuid
from datetime import UTC, date, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from model_service.cli.main import main
from model_service.config import Settings
from model_service.domain.errors import Invalid, NotFound, Unavailable
from model_service.domain.filters import parse_filter, parse_sort
from model_service.domain.ids import new_id
from model_service.domain.plans.aliases import ANY
from model_service.domain.query import SearchQuery, TextSearch
from model_service.domain.versions import Version, following
from model_service.operations.transfer import Stores, copy_registry
from model_service.server.app import build_registry
from model_service.stores.blob_local import LocalBlobStore
from model_service.stores.sql import migrate, trigram
from model_service.stores.sql.schema import metadata, models
from model_service.stores.sql.search import SqlSearch
from model_service.stores.sql.store import SqlMetadataStore
from tests.contract.helpers import draft, later


@pytest.fixture
def store(postgresql_metadata_factory) -> SqlMetadataStore:
    store = postgresql_metadata_factory()
    yield store
    store.close()


@pytest.fixture
def database_store(postgresql_database):
    """Makes stores on the test's own database (no schema yet), or on another URL; closes them after."""
    made = []

    def make(url: str = postgresql_database) -> SqlMetadataStore:
        made.append(SqlMetadataStore.from_url(url))
        return made[-1]

    yield make
    for store in made:
        store.close()


def downgrade(store: SqlMetadataStore, revision: str) -> None:
    with store.engine.begin() as connection:
        command.downgrade(migrate._config(connection), revision)


# ---- many writers ------------------------------------------------------------------------------

def test_concurrent_registrations_with_major_bumps_number_every_version_after_the_one_before(store):
    """Threads register one name at once, some of them breaking changes: each version is the one
    that follows its predecessor (a major bump is never overtaken by a minor one computed from an
    older latest), the numbers are unique, and each parent is the version before."""
    writers, each = 8, 10
    barrier = threading.Barrier(writers)
    created, errors = [], []
    breaking = {}

    def write(writer: int) -> None:
        barrier.wait()
        try:
            for index in range(each):
                bump = (writer + index) % 4 == 0
                model = store.create_version(draft("fraud", breaking=bump))
                breaking[model.id] = bump
                created.append(model)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ordered = sorted(created, key=lambda model: model.version)
    assert len({model.version for model in created}) == writers * each
    assert ordered[0].version == Version(1, 0) and ordered[0].parent_model_id is None
    for before, model in itertools.pairwise(ordered):
        assert model.version == following(before.version, breaking=breaking[model.id])
        assert model.parent_model_id == before.id
    assert store.latest("fraud").id == ordered[-1].id


def race_deletion_and_alias_move(store: SqlMetadataStore, model_id: str, at) -> tuple[bool, list[Exception]]:
    """Delete ``model_id`` while moving ``fraud@production`` onto it: (whether the move happened,
    the unexpected errors)."""
    barrier = threading.Barrier(2)
    errors, moved = [], []

    def delete():
        barrier.wait()
        try:
            store.delete(model_id, lambda _sha256: None, "ops", at)
        except Exception as exc:  # pragma: no cover - reported by the caller
            errors.append(exc)

    def move():
        barrier.wait()
        try:
            moved.append(store.move_alias("fraud", "production", model_id, ANY, "ops", at))
        except NotFound:
            pass
        except Exception as exc:  # pragma: no cover - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=delete), threading.Thread(target=move)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return bool(moved), errors


def test_an_alias_moved_onto_a_version_being_deleted_goes_with_it_or_is_refused(store):
    """A deletion and a move of an alias onto the version being deleted, at once, many times:
    either the move comes first and the deletion removes the alias (on record), or the move
    finds the version gone. The deletion always succeeds; no alias is left pointing at nothing."""
    for round_ in range(40):
        victim = store.create_version(draft("fraud", at=later(round_)))
        moved, errors = race_deletion_and_alias_move(store, victim.id, later(round_))
        assert errors == []
        assert store.aliases("fraud") == []
        if moved:
            removal = store.events(victim.id, kinds=("alias",))[-1]
            assert (removal.data["from_model_id"], removal.data["to_model_id"]) == (victim.id, None)


def test_figures_read_while_versions_are_registered_add_up(store):
    """Statistics are read from one snapshot: totals read while other threads register and
    delete agree with their own breakdowns."""
    stop = threading.Event()
    errors = []

    def churn(writer: int) -> None:
        try:
            for index in range(200):
                if stop.is_set():
                    return
                model = store.create_version(draft(f"w{writer}", algorithm=ALGORITHMS[index % 3]))
                if index % 3 == 0:
                    store.delete(model.id, lambda _sha256: None, "ops", later(index))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writers = [threading.Thread(target=churn, args=(writer,)) for writer in range(4)]
    for thread in writers:
        thread.start()
    try:
        for _ in range(60):
            figures = store.statistics(added_since=later(-60), downloads_since=later(-60), today=later(-60))
            assert sum(figures.by_algorithm.values()) == figures.total_models == sum(figures.by_status.values())
            assert figures.added_since == figures.total_models
    finally:
        stop.set()
        for thread in writers:
            thread.join()
    assert errors == []


# ---- the schema: commands, refusal, migrations -------------------------------------------------

def test_db_upgrade_and_db_check_on_an_empty_database(postgresql_database):
    runner = CliRunner()
    url = postgresql_database.replace("postgresql://", "postgres://", 1)  # Heroku's spelling works too
    environment = {"DATABASE_URL": url}

    before = runner.invoke(main, ["db", "check"], env=environment)
    assert before.exit_code == 1
    assert "model-service db upgrade" in before.output

    upgrade = runner.invoke(main, ["db", "upgrade"], env=environment)
    assert upgrade.exit_code == 0, upgrade.output
    assert "up to date" in upgrade.output

    after = runner.invoke(main, ["db", "check"], env=environment)
    assert after.exit_code == 0, after.output
    assert "Schema is current" in after.output


def test_the_service_refuses_to_start_on_an_old_schema_until_upgraded(database_store, postgresql_database,
                                                                      tmp_path):
    store = database_store()
    store.prepare(migrate=True)
    downgrade(store, "0001")

    with pytest.raises(Unavailable) as refused:
        store.prepare(migrate=False)
    assert "model-service db upgrade" in refused.value.message
    assert refused.value.details == {"current": "0001", "required": migrate.head_revision()}
    assert not store.check().ok

    settings = Settings(database_url=postgresql_database, data_dir=tmp_path)
    assert not settings.should_migrate  # a server database is never migrated behind its operator's back
    with pytest.raises(Unavailable, match="model-service db upgrade"):
        build_registry(settings)

    result = CliRunner().invoke(main, ["db", "upgrade"], env={"DATABASE_URL": postgresql_database})
    assert result.exit_code == 0, result.output
    store.prepare(migrate=False)
    assert store.check().ok
    build_registry(settings).metadata.close()


def test_the_migrated_schema_matches_the_table_definitions(store):
    def ours(name, _type, _parent_names):
        return name != trigram.INDEX  # left out of the table definitions: it depends on an extension

    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": ours})
        assert compare_metadata(context, metadata) == []
        columns = connection.execute(text(
            "SELECT table_name || '.' || column_name, collation_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND data_type IN ('character varying', 'text') "
            "AND table_name != 'alembic_version'"
        )).all()
    assert len(columns) > 20
    assert {column: collation for column, collation in columns if collation != "C"} == {"search_text.text": None}


def test_versions_registered_before_a_downgrade_are_searchable_after_the_upgrade(database_store):
    store = database_store()
    store.prepare(migrate=True)
    kept = store.create_version(draft("fraud", hyperparameters={"zeta": 1, "alpha": {"depth": 6}},
                                      metrics={"test_accuracy": 0.91}, tags=("eu",), description="Card payments"))
    downgrade(store, "0001")  # the search tables and their triggers are gone
    store.prepare(migrate=True)

    assert store.get(kept.id) == kept
    for where in (parse_filter("metrics.test_accuracy > 0.9"), parse_filter("hyperparameters.alpha.depth = 6"),
                  parse_filter("tags = 'eu'"), parse_filter("accuracy = 0.91"), TextSearch("card pay")):
        assert [model.id for model in store.search(SearchQuery(where=where)).items] == [kept.id], where


def test_without_pg_trgm_the_schema_is_complete_and_text_search_works(postgres_server, postgresql_database,
                                                                       database_store, caplog):
    """A role that may not create extensions: the migration leaves the trigram index out with a
    warning instead of failing; once an administrator installs pg_trgm, ``db upgrade`` adds it."""
    role = "ms_test_role_" + uuid.uuid4().hex[:8]
    database = make_url(postgresql_database).database
    admin = postgres_server.admin
    try:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
    except Exception as exc:
        pytest.skip(f"cannot create a role to test with: {exc}")
    try:
        with postgres_server.connect(database) as owner:  # the role may create tables, not extensions
            owner.execute(f'GRANT CREATE, USAGE ON SCHEMA public TO "{role}"')
        role_url = make_url(postgresql_database).set(username=role, password=None).render_as_string(False)
        store = database_store(role_url)
        with caplog.at_level(logging.WARNING, logger=trigram.__name__):
            store.prepare(migrate=True)
        assert "pg_trgm" in caplog.text and "model-service db upgrade" in caplog.text
        store.prepare(migrate=False)
        assert store.check().ok
        model = store.create_version(draft("fraud", description="Card payments"))
        assert [m.id for m in store.search(SearchQuery(where=TextSearch("CARD PAY"))).items] == [model.id]
        with store.engine.connect() as connection:
            assert not trigram.has_index(connection)

        with postgres_server.connect(database) as owner:
            owner.execute("CREATE EXTENSION pg_trgm")
        store.prepare(migrate=True)
        with store.engine.connect() as connection:
            assert trigram.has_index(connection)
        assert [m.id for m in store.search(SearchQuery(where=TextSearch("card pay"))).items] == [model.id]
        store.close()
    finally:
        postgres_server.drop_database(database)  # it holds objects owned by the role
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')


# ---- indexes ---------------------------------------------------------------------------------

ALGORITHMS = ["xgboost", "random_forest", "logistic_regression", "transformer", "cnn", "svm", "knn", "lightgbm"]


@pytest.fixture
def catalog(store) -> SqlMetadataStore:
    """5,000 versions of 700 names, then the statistics PostgreSQL's planner works from (what
    autovacuum keeps up to date on a live server)."""
    rng = random.Random(4)
    rows = []
    for i in range(5000):
        algorithm = rng.choice(ALGORITHMS)
        rows.append({
            "id": new_id(), "name": f"model_{i % 700}", "version_major": 1 + i // 700, "version_minor": 0,
            "algorithm": algorithm, "hyperparameters": {"max_depth": rng.randint(1, 20), "lr": rng.random()},
            "metrics": {"accuracy": rng.random(), "f1_score": rng.random()}, "dataset_info": {},
            "tags": [rng.choice(["prod", "staging", "dev"])] + (["rare"] if i % 1000 == 7 else []),
            "description": f"run {i} of {algorithm} by team{i % 50}", "created_by": f"user{i % 20}",
            "status": "active", "parent_model_id": None, "format": "pickle", "created_at": later(i),
            "updated_at": later(i), "download_count": rng.randint(0, 100), "accuracy": rng.random(),
        })
    with store.engine.begin() as connection:
        connection.execute(insert(models), rows)
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    return store


def plan_of(store: SqlMetadataStore, query: SearchQuery) -> str:
    statement = SqlSearch("postgresql").page(query).compile(
        dialect=store.engine.dialect, compile_kwargs={"literal_binds": True, "render_postcompile": True})
    with store.engine.connect() as connection:
        return "\n".join(row[0] for row in connection.exec_driver_sql("EXPLAIN " + str(statement).replace("%", "%%")))


@pytest.mark.parametrize("where", [
    "name = 'model_5'",
    "name LIKE 'model\\_12%'",  # a prefix: the name index, as the column sorts by code point
    "metrics.accuracy > 0.99",
    "hyperparameters.max_depth = 3 AND algorithm = 'svm'",
    "tags = 'rare'",
    "created_by = 'user3' AND status = 'active'",
])
def test_a_selective_filter_reads_indexes_not_tables(catalog, where):
    plan = plan_of(catalog, SearchQuery(where=parse_filter(where), limit=20))
    assert "Seq Scan" not in plan, plan


def test_text_search_reads_the_trigram_index(catalog):
    plan = plan_of(catalog, SearchQuery(where=TextSearch("team7"), limit=20))
    assert trigram.INDEX in plan and "Seq Scan" not in plan, plan
    page = catalog.search(SearchQuery(where=TextSearch("TEAM7"), limit=20))
    assert page.total == 100 and all(m.description.endswith(" team7") for m in page.items)


def test_after_a_bulk_import_the_planner_knows_the_real_sizes(store, tmp_path):
    """A never-analysed table is planned as one row: a broad AND of two parameters then ran as a
    nested loop (seconds at 20k versions). ``migrate`` refreshes the statistics when it ends."""
    rows = [{
        "id": new_id(), "name": f"model_{i % 300}", "version_major": 1 + i // 300, "version_minor": 0,
        "algorithm": "xgboost", "hyperparameters": {"max_depth": i % 16, "optimizer": {"name": "adam"}},
        "metrics": {"auc": i / 3000}, "dataset_info": {}, "tags": [], "description": "", "created_by": "u",
        "status": "active", "parent_model_id": None, "format": "pickle", "created_at": later(i),
        "updated_at": later(i), "download_count": 0, "accuracy": None,
    } for i in range(3000)]
    with store.engine.begin() as connection:
        connection.execute(insert(models), rows)
    target = Stores(store, LocalBlobStore(tmp_path))

    class NothingToCopy:  # the rows above stand for what the copy wrote; what is left is its end
        def model_ids(self, after=None, limit=500):  # noqa: ARG002 - copy_registry passes them by name
            return []

        def all_aliases(self):
            return []

        def list_keys(self):
            return []

        def audit_records(self, _query):
            return []

    copy_registry(Stores(NothingToCopy(), target.blobs), target)
    with store.engine.connect() as connection:
        sizes = dict(connection.execute(text(
            "SELECT relname, reltuples FROM pg_class WHERE relname IN ('models', 'model_params')")).all())
    assert sizes == {"models": 3000, "model_params": 6000}
    plan = plan_of(store, SearchQuery(where=parse_filter(
        "hyperparameters.max_depth >= 8 AND hyperparameters.optimizer.name = 'adam'"), limit=20))
    assert "Join Filter" not in plan, plan


# ---- values as given ---------------------------------------------------------------------------

def test_documents_come_back_as_written(store):
    """Key order and the spelling of numbers survive (jsonb would sort keys and turn 1e20 into
    an integer)."""
    hyperparameters = {"zeta": 1, "alpha": {"b": 2, "a": [3, 1e20]}, "small": 1.5e-7, "one": 1.0, "big": 10**30}
    model = store.create_version(draft(hyperparameters=hyperparameters, dataset_info={"z": "ünï", "a": None}))
    stored = store.get(model.id)
    assert list(stored.hyperparameters) == ["zeta", "alpha", "small", "one", "big"]
    assert list(stored.hyperparameters["alpha"]) == ["b", "a"]
    assert [type(v) for v in stored.hyperparameters["alpha"]["a"]] == [int, float]
    assert type(stored.hyperparameters["one"]) is float and stored.hyperparameters["big"] == 10**30
    assert list(stored.dataset_info) == ["z", "a"]


def test_text_sorts_by_code_point_whatever_the_database_collation(store):
    with store.engine.connect() as connection:
        if not connection.execute(text("SELECT 'a' < 'B'")).scalar():
            pytest.skip("the database's default collation already sorts by code point")
    for name in ("beta", "Zeta", "alpha", "Alpha"):
        store.create_version(draft(name))
    page = store.search(SearchQuery(sort=parse_sort("name")))
    assert [m.name for m in page.items] == ["Alpha", "Zeta", "alpha", "beta"]
    below = store.search(SearchQuery(where=parse_filter("name < 'a'"), sort=parse_sort("name")))
    assert [m.name for m in below.items] == ["Alpha", "Zeta"]


def test_an_exhausted_connection_pool_is_unavailable_not_an_internal_error(store):
    url = store.engine.url.render_as_string(hide_password=False)
    small = SqlMetadataStore.from_url(url, pool_size=1, pool_timeout=0.1)
    model = small.create_version(draft())
    try:
        with small.engine.connect(), small.engine.connect():  # the pool's one and its one overflow
            with pytest.raises(Unavailable) as busy:
                small.get(model.id)
            assert busy.value.code == "database_busy" and "DATABASE_POOL_SIZE" in busy.value.message
        assert small.get(model.id) == model
    finally:
        small.close()


def test_a_value_postgresql_cannot_hold_is_refused_as_invalid_and_nothing_is_written(store):
    with pytest.raises(Invalid) as refused:
        store.create_version(draft(hyperparameters={"note": "a\x00b"}))
    assert refused.value.code == "unstorable_value"
    assert store.search(SearchQuery()).total == 0


# ---- time zones ------------------------------------------------------------------------------------

def test_downloads_are_counted_per_utc_day_whatever_the_session_time_zone(store):
    """A ``timestamptz`` cast to a date follows the session's zone: at UTC+14 both downloads
    below would fall on January 2. The store's days are UTC days."""
    model = store.create_version(draft("zoned"))
    for when in (datetime(2026, 1, 1, 23, 30, tzinfo=UTC), datetime(2026, 1, 2, 0, 30, tzinfo=UTC)):
        store.record_download(model.id, "x", when, {})
    url = store.engine.url
    options = f"{url.query['options']} -cTimeZone=Pacific/Kiritimati"
    zoned = SqlMetadataStore.from_url(url.update_query_dict({"options": options}).render_as_string(hide_password=False))
    try:
        with zoned.engine.connect() as connection:
            assert connection.execute(text("SHOW TimeZone")).scalar_one() == "Pacific/Kiritimati"
        days = zoned.downloads_by_day(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC))
        assert days == {date(2026, 1, 1): 1, date(2026, 1, 2): 1}
    finally:
        zoned.close()
