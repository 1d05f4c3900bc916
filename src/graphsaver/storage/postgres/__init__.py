"""The PostgreSQL engine: psycopg 3 pools, pipeline mode, one transaction per operation."""

from graphsaver.storage.postgres.engine import PostgresEngine

__all__ = ["PostgresEngine"]
