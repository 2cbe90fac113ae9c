"""The database engine the OGC providers read from, set once by the app.

pygeoapi instantiates providers itself from a plain configuration dict, so they cannot
receive the engine as an argument; and the engine (with its URL and password) must not
be written into the generated configuration. The app registers it here instead.
"""

from __future__ import annotations

from sqlalchemy import Engine

from niaouli.db.engine import get_engine

_engine: Engine | None = None


def set_engine(engine: Engine) -> None:
    global _engine
    _engine = engine


def engine() -> Engine:
    """The registered engine, else the one of the environment's settings."""
    return _engine if _engine is not None else get_engine()


def is_postgis() -> bool:
    return engine().dialect.name == "postgresql"
