"""Alembic migrations of the catalogue schema (`niaouli db upgrade`)."""
