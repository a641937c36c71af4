"""One instance of several does a job (the journey service's measure gauges): the one holding a
PostgreSQL advisory lock on the store they share.

The lock belongs to a database session kept open for it, so when the leading process dies its
session ends, the lock is released, and another instance takes it at its next try. A SQLite
store is single-instance, so its one instance always leads.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)


class Leadership:
    def __init__(self, engine: Engine, job: str):
        self.engine = engine
        self.job = job
        self._held: Connection | None = None

    def leading(self) -> bool:
        """Whether this instance does the job now, trying to take it if nobody does."""
        if self.engine.dialect.name != "postgresql":
            return True
        if self._held is not None:
            try:
                self._held.execute(text("SELECT 1"))
                return True
            except SQLAlchemyError:
                log.warning("lost the database session holding %s; trying to lead again", self.job)
                self._drop()
        connection = self.engine.connect()
        try:
            taken = connection.execute(
                text("SELECT pg_try_advisory_lock(hashtextextended(:job, 0))"), {"job": f"ndtms|{self.job}"}
            ).scalar()
            connection.commit()
        except SQLAlchemyError:
            connection.close()
            raise
        if not taken:
            connection.close()
            return False
        log.info("this instance now does %s", self.job)
        self._held = connection
        return True

    def _drop(self) -> None:
        if self._held is not None:
            try:
                self._held.invalidate()
            finally:
                self._held = None

    def resign(self) -> None:
        """Let another instance take the job (the lock goes with the session)."""
        if self._held is not None:
            self._held.close()
            self._held = None
