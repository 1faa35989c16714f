"""Storage backends. The SQLite store is the embedded default."""
