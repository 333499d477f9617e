"""Alembic revision scripts, oldest first (``0001_...``, ``0002_...``)."""
