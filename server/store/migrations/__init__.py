"""Alembic migrations of augur's store; run by :meth:`augur.server.store.database.Store.migrate`."""
