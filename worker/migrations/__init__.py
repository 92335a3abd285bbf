"""Alembic migrations of the adreview schema (run by ``worker.db.upgrade``)."""
