"""Upgrades that are tested (issue 17 §6): a catalogue written at an earlier schema
revision (`0013_community`, with nine migrations after it) by a committed SQL fixture
matching that revision's schema (tests/fixtures/schema_0013_community.sql) is upgraded to
head on both backends, and nothing is lost: rows, values, relations, layer rows, stored
files; what the later migrations derive (full-text index, CSW records, verified
addresses, licence names) is there. A backup made at that revision restores into the
current code, which migrates it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from niaouli.accounts import users
from niaouli.accounts.account_tables import ApiToken, Membership, User
from niaouli.backup import create_backup, restore_backup
from niaouli.backup.restore import head_revision
from niaouli.catalogue import service
from niaouli.catalogue.models import (
    CodeProject,
    Dataset,
    Event,
    Layer,
    Organisation,
    Resource,
    Reuse,
)
from niaouli.catalogue.search import fulltext
from niaouli.db import schema
from niaouli.db.engine import make_engine, writing
from niaouli.db.layers import layer_store
from niaouli.ingest.harvest.harvest_tables import HarvestedRecord, HarvestJob
from niaouli.settings import Settings
from tests.backup_support import empty_target
from tests.conftest import FIXTURES

OLD = "0013_community"
FIXTURE = FIXTURES / "schema_0013_community.sql"
PASSWORD = "lagon-bleu-2025"  # noqa: S105 - the fixture account's
KEY, FILENAME = "0013cafe0013cafe0013cafe0013cafe", "stations.geojson"
STORED = b'{"type": "FeatureCollection", "features": []}\n'
TABLE = "lyr_0013aaaabbbbccccddddeeeeffff0000"


def statements(dialect: str) -> list[str]:
    """The fixture's statements for `dialect` ("postgresql" or "sqlite"), in order."""
    chosen: list[str] = []
    section, current = None, []
    for line in FIXTURE.read_text(encoding="utf-8").splitlines():
        if line.startswith("-- @"):
            section = line[4:].strip()
            continue
        if line.startswith("--") or not line.strip() or section not in ("common", dialect):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            chosen.append("\n".join(current).rstrip().removesuffix(";"))
            current = []
    assert not current, "a statement of the fixture does not end with ';'"
    return chosen


@contextmanager
def old_catalogue(request: pytest.FixtureRequest, name: str, folder: Path) -> Iterator[Settings]:
    """A database at revision OLD filled by the fixture, with its stored file."""
    with empty_target(request, name, folder, suffix="old") as settings:
        engine = make_engine(settings)
        schema.upgrade(engine, OLD)
        assert schema.current_revision(engine) == OLD
        with writing(engine).begin() as conn:
            for statement in statements(conn.dialect.name):
                conn.exec_driver_sql(statement)
        engine.dispose()
        stored = settings.files_dir / KEY
        stored.mkdir(parents=True)
        (stored / FILENAME).write_bytes(STORED)
        yield settings


def check_nothing_lost(settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        assert schema.current_revision(engine) == head_revision()
        with Session(engine) as session:
            _check_catalogue(session)
            _check_accounts(session)
            _check_community_and_harvest(session)
            conn = session.connection()
            # Derived by later migrations: full-text index (0014), CSW rows (0016, 0022).
            found = fulltext.match(conn, fulltext.parse("lagon"))
            assert ("dataset", 1) in found, found
            csw = dict(conn.execute(text("SELECT dataset_id, access_level FROM csw_records")).all())
            assert csw == {1: "public", 2: "organisation", 3: "draft"}
            assert conn.execute(text("SELECT version FROM catalogue_state")).scalar() >= 42
        # The upgraded catalogue takes new rows (PostgreSQL sequences follow the ids).
        with Session(writing(engine)) as session, session.begin():
            made = service.create_organisation(session, "ville-de-noumea", "Nouméa", "commune")
            session.flush()
            assert made.id > 2
    finally:
        engine.dispose()
    path = settings.files_dir / KEY / FILENAME
    assert hashlib.sha256(path.read_bytes()).hexdigest() == (
        "40731612d393519f9ce8894e0a22139bce972cb36b00166016106230d200d110"
    )


def _check_catalogue(session: Session) -> None:
    organisations = dict(session.execute(select(Organisation.slug, Organisation.name)).all())
    assert organisations == {
        "gouvernement-nc": "Gouvernement de la Nouvelle-Calédonie",
        "province-sud": "Province Sud",
    }
    datasets = {d.slug: d for d in session.scalars(select(Dataset))}
    assert sorted(datasets) == ["budget-primitif", "stations-lagon", "zones-humides"]
    lagoon = datasets["stations-lagon"]
    assert lagoon.title == "Stations de suivi du lagon"
    assert lagoon.organisation.slug == "province-sud"
    assert lagoon.keywords == ["lagon", "qualité de l'eau"] and lagoon.themes == ["ENVI"]
    assert (lagoon.temporal_start, lagoon.temporal_end) == (date(2020, 1, 1), date(2024, 12, 31))
    assert lagoon.spatial_coverage is not None
    assert session.get(User, lagoon.published_by_id).email == "editrice@province-sud.nc"
    # 0021 rewrote the spellings of known licences to their names.
    assert lagoon.licence == "Licence Ouverte 2.0"
    assert datasets["budget-primitif"].licence == "Open Database License (ODbL) 1.0"
    assert datasets["budget-primitif"].provenance == {"source": "import manuel"}
    assert datasets["zones-humides"].access_level.value == "draft"
    assert datasets["zones-humides"].original_metadata.startswith("<gmd:MD_Metadata")

    layer = session.scalar(select(Layer))
    assert (layer.collection_id, layer.table_name, layer.feature_count) == (
        "stations-lagon",
        TABLE,
        3,
    )
    assert [a["name"] for a in layer.attribute_schema] == ["code", "profondeur", "mesure"]
    assert layer.column_descriptions == {}  # 0018's default
    conn = session.connection()
    assert layer_store(conn).count(conn, TABLE) == 3
    qualified = layer_store(conn).qualified(TABLE)
    rows = conn.exec_driver_sql(f"SELECT code, profondeur FROM {qualified} ORDER BY fid").all()  # noqa: S608
    assert [tuple(r) for r in rows] == [("ST-01", 12.5), ("ST-02", 7.25), ("ST-03", None)]
    resources = {r.title: r for r in session.scalars(select(Resource))}
    assert resources["Fichier source"].storage_key == KEY
    assert resources["Fichier source"].size == len(STORED)
    assert resources["Site du budget"].url == "https://gouv.nc/budget"


def _check_accounts(session: Session) -> None:
    admin = users.authenticate(session, "admin@niaouli.nc", PASSWORD)
    assert admin is not None and admin.is_platform_admin
    people = {u.email: u for u in session.scalars(select(User))}
    assert len(people) == 2
    editor = people["editrice@province-sud.nc"]
    assert (editor.oidc_issuer, editor.oidc_subject) == ("https://sso.province-sud.nc", "sub-4242")
    # 0017: accounts made before address verification count as verified when made.
    for user in people.values():
        assert user.email_verified_at is not None
        assert user.email_verified_at.replace(tzinfo=None) == user.created_at.replace(tzinfo=None)
    roles = {
        (m.user.email, m.organisation.slug, m.role.value)
        for m in session.scalars(select(Membership))
    }
    assert roles == {
        ("editrice@province-sud.nc", "province-sud", "editor"),
        ("admin@niaouli.nc", "gouvernement-nc", "admin"),
    }
    token = session.scalar(select(ApiToken))
    assert token.user.email == editor.email and token.name == "qgis"


def _check_community_and_harvest(session: Session) -> None:
    reuse = session.scalar(select(Reuse))
    assert reuse.slug == "carte-lagon" and reuse.status.value == "approved"
    assert [d.slug for d in reuse.datasets] == ["stations-lagon"]
    assert reuse.submitted_by_id is not None
    event = session.scalar(select(Event))
    assert [d.slug for d in event.datasets] == ["stations-lagon"]
    assert (event.latitude, event.longitude) == (-22.27, 166.45)
    project = session.scalar(select(CodeProject))
    assert [d.slug for d in project.datasets] == ["stations-lagon"]
    assert project.releases == [{"tag": "v1.0"}]
    record = session.scalar(select(HarvestedRecord))
    assert record.dataset.slug == "budget-primitif" and record.source.slug == "csw-gouv"
    assert session.scalar(select(HarvestJob)).status.value == "success"


@pytest.mark.parametrize("name", ["sqlite", "postgis"])
def test_an_old_catalogue_upgrades_to_head_with_nothing_lost(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
):
    with old_catalogue(request, name, tmp_path) as settings:
        engine = make_engine(settings)
        schema.upgrade(engine)
        engine.dispose()
        check_nothing_lost(settings)


@pytest.mark.parametrize("name", ["sqlite", "postgis"])
def test_a_backup_of_an_old_catalogue_restores_into_the_current_code(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
):
    with old_catalogue(request, name, tmp_path) as old:
        archive = tmp_path / "old.tar.gz"
        manifest = create_backup(old, archive)
        assert manifest.schema_revision == OLD
        assert manifest.counts["datasets"] == 3 and manifest.counts["files"] == 1
    with empty_target(request, name, tmp_path) as target:
        report = restore_backup(target, archive)
        assert report.upgraded and report.revision == head_revision()
        check_nothing_lost(target)
