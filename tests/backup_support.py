"""Restore targets and catalogue snapshots for the backup and upgrade tests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from niaouli.accounts.account_tables import Membership, User
from niaouli.catalogue.models import Dataset, Layer, Organisation, Resource, Reuse
from niaouli.db.engine import make_engine, release_engine
from niaouli.db.layers import layer_store
from niaouli.settings import Settings


@contextmanager
def empty_target(
    request: pytest.FixtureRequest, name: str, folder: Path, suffix: str = "target"
) -> Iterator[Settings]:
    """A data directory with no database yet: on SQLite no file, on PostgreSQL a new,
    empty database (no PostGIS, no schema), dropped afterwards."""
    data_dir = folder / f"{suffix}-data"
    data_dir.mkdir()
    admin = None
    if name == "sqlite":
        url = f"sqlite:///{data_dir / 'niaouli.sqlite'}"
    else:
        base = make_url(request.getfixturevalue("postgis_url"))
        database = f"{base.database}_{suffix}"
        url = base.set(database=database).render_as_string(hide_password=False)
        admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{database}"'))
    settings = Settings(data_dir=data_dir, database_url=url, spatialite_library="mod_spatialite")
    try:
        yield settings
    finally:
        release_engine(settings)
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            admin.dispose()


def file_checksums(files_dir: Path) -> dict[str, str]:
    return {
        path.relative_to(files_dir).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(files_dir.rglob("*"))
        if path.is_file()
    }


def snapshot(settings: Settings) -> dict[str, object]:
    """What a restore must bring back: catalogue rows, layer rows, accounts, files."""
    engine = make_engine(settings)
    try:
        with Session(engine) as session:
            conn = session.connection()
            store = layer_store(conn)
            return {
                "organisations": sorted(session.scalars(select(Organisation.slug))),
                "datasets": sorted(
                    (d.slug, d.title, d.access_level.value, d.licence, d.organisation.slug)
                    for d in session.scalars(select(Dataset))
                ),
                "layers": sorted(
                    (layer.collection_id, layer.feature_count, store.count(conn, layer.table_name))
                    for layer in session.scalars(select(Layer))
                ),
                "resources": sorted(
                    (r.dataset.slug, r.title, r.storage_key or "", r.checksum or "")
                    for r in session.scalars(select(Resource))
                ),
                "users": sorted(
                    (u.email, u.password_hash or "", u.is_platform_admin)
                    for u in session.scalars(select(User))
                ),
                "memberships": sorted(
                    (m.user.email, m.organisation.slug, m.role.value)
                    for m in session.scalars(select(Membership))
                ),
                "reuses": sorted(
                    (r.slug, tuple(sorted(d.slug for d in r.datasets)))
                    for r in session.scalars(select(Reuse))
                ),
                "files": file_checksums(settings.files_dir),
            }
    finally:
        engine.dispose()
