import pytest

from model_service.config import SettingsError, load_settings, parse_size


@pytest.mark.parametrize(
    "text, expected",
    [("500MB", 500 << 20), ("1GB", 1 << 30), ("64KiB", 64 << 10), ("1048576", 1 << 20), ("1.5 GB", 3 << 29),
     ("2tb", 2 << 40)],
)
def test_sizes_with_units(text, expected):
    assert parse_size(text) == expected


def test_seed_defaults(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.port == 8084
    assert settings.host == "127.0.0.1"
    assert settings.max_file_size == 500 << 20
    assert settings.max_page_size == 100
    assert settings.log_level == "INFO"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'data' / 'registry.db'}"
    assert settings.resolved_blob_store_url == str(tmp_path / "data" / "blobs")
    assert settings.should_migrate


def test_environment_variables_are_read(monkeypatch):
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("MAX_FILE_SIZE", "1GB")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = load_settings()
    assert (settings.port, settings.max_file_size, settings.log_level) == (9000, 1 << 30, "DEBUG")
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize("name, value", [("MAX_FILE_SIZE", "huge"), ("PORT", "99999"), ("LOG_LEVEL", "LOUD")])
def test_bad_settings_name_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_postgres_is_not_migrated_automatically(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://localhost/test")
    assert not load_settings().should_migrate
