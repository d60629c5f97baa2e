"""Operations: backup and restore, garbage collection, consistency checks, retention."""
