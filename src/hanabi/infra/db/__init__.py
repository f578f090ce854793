"""PostgreSQL: the pool, the embedded server, and the migrations runner."""

from hanabi.infra.db.database import Database, open_database

__all__ = ["Database", "open_database"]
