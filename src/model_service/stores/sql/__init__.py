"""The SQLAlchemy metadata store: SQLite (the embedded default) and PostgreSQL, one code path."""
