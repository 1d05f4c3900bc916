"""The SQLite engine (also the engine of the in-memory saver)."""
