"""Migration 0005 (``models.file_scan``) on SQLite and PostgreSQL: versions stored before it read
back with no scan, it goes down and up again with the data kept, and the search triggers on
``models`` survive it (on SQLite, a table rebuild would drop them)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from alembic import command
from sqlalchemy import inspect, text

from model_service.domain.query import SearchQuery, TextSearch
from model_service.domain.scanning import ScanResult, Verdict
from model_service.stores.sql import migrate
from model_service.stores.sql.store import SqlMetadataStore
from tests.contract.helpers import RecordingBlob, accepted, draft, later

SCAN = ScanResult(Verdict.SAFE, False, later(0), reason="non_executable_format")


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_store(request) -> SqlMetadataStore:
    store = request.getfixturevalue(f"{request.param}_metadata_factory")("scan_migration")
    yield store
    store.close()


def downgrade(store: SqlMetadataStore, revision: str) -> None:
    with store.engine.begin() as connection:
        command.downgrade(migrate._config(connection), revision)


def columns(store: SqlMetadataStore) -> set[str]:
    return {column["name"] for column in inspect(store.engine).get_columns("models")}


def test_0005_goes_down_and_up_keeping_the_versions(sql_store):
    blob = RecordingBlob(b"weights")
    upload = accepted(b"weights", replace(blob.info, scan=SCAN), blob)
    scanned = sql_store.create_version(draft("fraud"), upload)
    assert sql_store.get(scanned.id).file.scan == SCAN

    downgrade(sql_store, "0004")
    assert "file_scan" not in columns(sql_store)
    with sql_store.engine.connect() as connection:
        assert connection.execute(text("SELECT file_sha256 FROM models")).scalar() == scanned.file.sha256

    migrate.upgrade(sql_store.engine)
    assert "file_scan" in columns(sql_store)
    again = sql_store.get(scanned.id)
    assert again.file.sha256 == scanned.file.sha256 and again.file.scan is None  # uploaded "before scanning"

    later_one = sql_store.create_version(draft("churn", at=later(1), description="findable text"))
    found = sql_store.search(SearchQuery(where=TextSearch("findable"), limit=10))
    assert [model.id for model in found.items] == [later_one.id]
