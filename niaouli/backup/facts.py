"""What a database holds, read with plain SQL (the schema may be any revision): its
Alembic revision, a few counts for the manifest, and the stored-file keys it references."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import Connection, inspect, text

COUNTED = ("organisations", "datasets", "layers", "resources", "users")
# Rows that mean "this catalogue is in use": a restore over them needs --force.
IN_USE = ("organisations", "datasets", "users")


@dataclass
class Facts:
    revision: str | None
    counts: dict[str, int] = field(default_factory=dict)
    file_keys: set[str] = field(default_factory=set)


def read(conn: Connection) -> Facts:
    tables = set(inspect(conn).get_table_names())
    revision = None
    if "alembic_version" in tables:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    counts = {
        name: int(conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())  # noqa: S608 - constant names
        for name in COUNTED
        if name in tables
    }
    keys: set[str] = set()
    if "resources" in tables:
        keys.update(
            k for k in conn.execute(text("SELECT storage_key FROM resources")).scalars() if k
        )
    if "dataset_versions" in tables:  # files kept with older versions of a dataset
        for (sources,) in conn.execute(text("SELECT sources FROM dataset_versions")):
            items = json.loads(sources) if isinstance(sources, str) else sources
            keys.update(s["storage_key"] for s in items or [] if s.get("storage_key"))
    return Facts(revision, counts, keys)


def in_use(conn: Connection) -> dict[str, int]:
    """Counts of the tables that make a catalogue non-empty (only those with rows)."""
    tables = set(inspect(conn).get_table_names())
    found = {
        name: int(conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())  # noqa: S608
        for name in IN_USE
        if name in tables
    }
    return {k: v for k, v in found.items() if v}
