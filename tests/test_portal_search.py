"""Accent-insensitive search text: normalisation, upkeep by the catalogue, migration."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from niaouli.catalogue import service
from niaouli.catalogue.access import ANONYMOUS
from niaouli.catalogue.search import text as search
from niaouli.db import schema
from niaouli.portal.rendering import safe_url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hienghène", "hienghene"),
        ("NOUMÉA", "noumea"),
        ("L'Île-des-Pins", "l ile des pins"),
        ("Œuvre  Kaala-Gomen", "oeuvre kaala gomen"),
        ("Ouvéa\u0301", "ouvea"),  # combining accent
        ("", ""),
        (None, ""),
    ],
)
def test_normalise(raw, expected):
    assert search.normalise(raw) == expected


def test_query_terms_are_bounded_and_like_wildcards_escaped():
    assert search.query_terms("a " * 100) == ["a"] * search.MAX_QUERY_TERMS
    assert search.query_terms("%_ 100%") == ["_", "100"]
    assert search._like_escape("a_b%c\\") == "a\\_b\\%c\\\\"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://data.gouv.nc/x", True),
        ("http://example.nc", True),
        ("ftp://ftp.example.nc/a.zip", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        (" javascript:alert(1)", False),
        ("java\tscript:alert(1)", False),
        ("data:text/html,<b>x</b>", False),
        ("vbscript:x", False),
        ("//evil.example/x", False),
        ("/relative", False),
        ("https://", False),
        (None, False),
    ],
)
def test_only_http_https_ftp_urls_become_links(url, shown):
    assert (safe_url(url) is not None) is shown


def ids(session, query):
    items, total = service.search_datasets(session, ANONYMOUS, query)
    assert total == len(items)
    return sorted(d.slug for d in items)


def test_search_text_follows_every_change(backend, org):
    with backend.session() as session, session.begin():
        organisation = service.get_organisation(session, org)
        service.create_dataset(session, organisation, "ecoles", "Écoles de Nouméa")
    with backend.session() as session, session.begin():
        assert ids(session, "ecoles noumea") == ["ecoles"]
        assert ids(session, "ECOLE") == ["ecoles"]
        assert ids(session, "gouvernement caledonie") == ["ecoles"]  # organisation name
        dataset = service.find_dataset(session, "ecoles")
        service.update_dataset(
            session, dataset, title="Établissements scolaires", keywords=["Koné"]
        )
    with backend.session() as session, session.begin():
        assert ids(session, "noumea") == []
        assert ids(session, "etablissements kone") == ["ecoles"]
        service.get_organisation(session, org).name = "Province Sud"
    with backend.session() as session:
        assert ids(session, "province sud") == ["ecoles"]
        assert ids(session, "gouvernement") == []
        service.update_dataset(
            session, service.find_dataset(session, "ecoles"), access_level="draft"
        )
        session.commit()
        assert ids(session, "kone") == []  # the access rule still applies


def test_migration_fills_existing_datasets(tmp_path):
    """Datasets that exist before migration 0005 get their search text (SQLite file)."""
    path = tmp_path / "fresh.sqlite"
    from niaouli.db.engine import make_engine
    from niaouli.settings import Settings

    engine = make_engine(
        Settings(
            data_dir=tmp_path, database_url=f"sqlite:///{path}", spatialite_library="mod_spatialite"
        )
    )
    schema.upgrade(engine, "0002")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO organisations (slug, name, kind, description, created_at, updated_at)"
                " VALUES ('o', 'Commune de Hienghène', 'commune', '', '2026-01-01', '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO datasets (slug, organisation_id, title, description, themes,"
                " keywords, licence, lineage, provenance, access_level, is_spatial,"
                " created_at, updated_at) VALUES ('d', 1, 'Tribus', '', '[]', '[\"Wérap\"]',"
                " 'LO', '', '{}', 'public', 0, '2026-01-01', '2026-01-01')"
            )
        )
    schema.upgrade(engine)
    with engine.connect() as conn:
        value = conn.execute(text("SELECT search_text FROM datasets")).scalar()
    engine.dispose()
    assert value == " tribus werap commune de hienghene "
