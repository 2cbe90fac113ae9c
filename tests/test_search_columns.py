"""The portal search's columns (`search.columns`) against a brute-force count.

The search counts facets with numpy masks over one snapshot shared by every viewer
(`access.visible_mask`): on a random catalogue of 120 datasets (four access levels,
four organisations, themes, formats, licences, extents), for viewers of every kind and
combinations of filters, words and a map box, each facet's counts, the total and the
first page must equal what a plain Python loop over the ORM objects finds with the
documented rule (AND across facets, OR within one, each facet's counts applying the
*other* facets' filters). And the mask is the SQL access rule, dataset for dataset.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import shapely
from geoalchemy2.elements import WKTElement
from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from niaouli.catalogue import quality, service
from niaouli.catalogue.access import (
    ANONYMOUS,
    Viewer,
    can_see,
    visible_datasets,
    visible_mask,
)
from niaouli.catalogue.models import Dataset, Resource, ResourceKind
from niaouli.catalogue.quality_tables import DatasetQuality
from niaouli.catalogue.search import finder, fulltext
from niaouli.catalogue.search.columns import themes_of
from tests.conftest import Backend

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgis"], indirect=True)

THEMES = ["Transport", "Santé", "Éducation", "Environnement"]
FORMATS = ["CSV", "GeoJSON", "pdf ", "XLSX"]
LICENCES = ["Licence Ouverte 2.0", "ODbL", "CC-BY 4.0", ""]
LEVELS = ["public", "public", "public", "registered", "organisation", "draft"]
WORDS = ["Écoles", "Routes", "Forêts", "Marchés"]


def build(backend: Backend) -> list[int]:
    """120 datasets, drawn at random (fixed seed); returns the organisation ids."""
    rng = random.Random(20)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with backend.session() as session, session.begin():
        orgs = [
            service.create_organisation(session, f"org-{n}", f"Organisation {n}", "commune")
            for n in range(4)
        ]
        session.flush()
        for n in range(120):
            dataset = service.create_dataset(
                session,
                rng.choice(orgs),
                f"jeu-{n:03d}",
                f"{rng.choice(WORDS)} {n % 7}",  # equal titles: the order's ties
                themes=rng.sample(THEMES, rng.randint(0, 2)),
                licence=rng.choice(LICENCES),
                access_level=rng.choice(LEVELS),
            )
            dataset.published_at = now - timedelta(days=rng.randint(0, 5))  # equal dates too
            if rng.random() < 0.6:
                lon, lat = rng.uniform(164, 167), rng.uniform(-22.5, -20)
                box = (lon, lat, lon + 0.3, lat + 0.3)
                dataset.spatial_coverage = WKTElement(shapely.box(*box).wkt, srid=4326)
                dataset.is_spatial = True
            for fmt in rng.sample(FORMATS, rng.randint(0, 2)):
                dataset.resources.append(
                    Resource(title=fmt, kind=ResourceKind.LINK, url="https://x.nc/f", format=fmt)
                )
        return [o.id for o in orgs]


def load(session):  # noqa: ANN001, ANN201
    """Every dataset, with its resources and organisation, and the stored scores."""
    scores = dict(session.execute(select(DatasetQuality.dataset_id, DatasetQuality.score)).all())
    datasets = session.scalars(
        select(Dataset).options(selectinload(Dataset.resources), selectinload(Dataset.organisation))
    ).all()
    return datasets, scores


def brute_force(session, everything, viewer, filters):  # noqa: ANN001, ANN201
    """(total, facets, first page ids) by a loop over every dataset, as documented."""
    datasets, scores = everything
    ranks = None
    if filters.q:
        ranks = fulltext.match(session.connection(), fulltext.parse(filters.q))
    rows = []
    for d in datasets:
        if not can_see(viewer, d) or (ranks is not None and ("dataset", d.id) not in ranks):
            continue
        bounds = to_shape(d.spatial_coverage).bounds if d.spatial_coverage is not None else None
        if filters.bbox is not None:
            b = filters.bbox
            if bounds is None or not (
                bounds[0] <= b[2] and bounds[2] >= b[0] and bounds[1] <= b[3] and bounds[3] >= b[1]
            ):
                continue
        values = {
            "type": {"jeux-de-donnees"},
            "organisation": {d.organisation.slug},
            "theme": themes_of(d.themes),
            "format": {r.format.strip().upper() for r in d.resources if r.format.strip()},
            "licence": {d.licence.strip()} - {""},
            "acces": {d.access_level.value},
            "spatial": {"oui" if d.is_spatial else "non"},
            "donnees": set(),
            "qualite": {quality.band(scores.get(d.id))} - {None},
        }
        newest = (d.published_at or d.created_at).replace(tzinfo=UTC).timestamp()
        relevance = 0.0
        if ranks is not None and filters.effective_sort() == "pertinence":
            relevance = -ranks[("dataset", d.id)]
        rows.append((d, values, (relevance, -newest, d.title.casefold(), d.id)))
    selected = dict(filters.selected)

    def passes(values, but=None):  # noqa: ANN001, ANN202
        return all(values[n] & v for n, v in selected.items() if n != but)

    found = [r for r in rows if passes(r[1])]
    facets = {}
    for name in finder.FACETS:
        counts = Counter()
        for _d, values, _key in rows:
            if passes(values, but=name):
                counts.update(values[name])
        facets[name] = dict(counts)
    page = [d.id for d, _v, _k in sorted(found, key=lambda r: r[2])[:20]]
    return len(found), facets, page


FILTERS = [
    {},
    {"theme": {"Transport"}},
    {"theme": {"Transport", "Santé"}, "format": {"CSV"}},
    {"organisation": {"org-1", "org-2"}, "spatial": {"oui"}, "licence": {"ODbL"}},
    {"spatial": {"non"}, "acces": {"public", "draft"}},
    {"format": {"PDF"}, "theme": {"Éducation"}, "organisation": {"org-0"}},
    {"type": {"code"}},
    {"qualite": {"basse", "moyenne"}, "licence": {"Licence Ouverte 2.0"}},
]


def test_facets_total_page_and_mask_equal_a_brute_force_count(backend: Backend):
    orgs = build(backend)
    viewers = [
        ANONYMOUS,
        Viewer(user_id=1),
        Viewer(user_id=2, member_of={orgs[1]: "member"}),
        Viewer(user_id=3, member_of={orgs[2]: "editor", orgs[3]: "member"}),
        Viewer(user_id=5, member_of={orgs[1]: "admin"}),
        Viewer.system(),
    ]
    searches = [finder.Filters(selected={k: frozenset(v) for k, v in f.items()}) for f in FILTERS]
    searches += [
        finder.Filters(q="ecoles"),
        finder.Filters(q="routes", selected={"theme": frozenset({"Santé"})}),
        finder.Filters(bbox=(165.0, -22.0, 166.0, -21.0)),
        finder.Filters(q="forets", bbox=(164.0, -22.5, 166.5, -20.5)),
        # Words found in every dataset, then facets (the datasets' relevance is read for
        # all of them, as arrays), and words in the "recent" order (no relevance read).
        finder.Filters(
            q="ecoles or routes or forets or marches", selected={"licence": frozenset({"ODbL"})}
        ),
        finder.Filters(
            q="ecoles or routes", sort="recent", selected={"theme": frozenset({"Transport"})}
        ),
    ]
    checked = 0
    with backend.session() as session:
        everything = load(session)
        for viewer in viewers:
            for filters in searches:
                result = finder.search(
                    session, viewer, filters, kinds=["dataset"], page_size=20, show_access=True
                )
                total, facets, page = brute_force(session, everything, viewer, filters)
                assert result.total == total, (viewer, filters)
                assert {k: dict(v) for k, v in result.facets.items()} == facets, (viewer, filters)
                assert [i.id for i in result.items] == page, (viewer, filters)
                checked += total
        assert checked > 500  # the searches found something to compare
        # Page 3 of everything, "recent" order, for the admin: ties broken by title, id.
        third = finder.Filters(page=3)
        result = finder.search(session, Viewer.system(), third, kinds=["dataset"])
        rows = session.scalars(select(Dataset)).all()
        ordered = sorted(
            rows,
            key=lambda d: (
                -(d.published_at or d.created_at).replace(tzinfo=UTC).timestamp(),
                d.title.casefold(),
                d.id,
            ),
        )
        assert [i.id for i in result.items] == [d.id for d in ordered[40:60]]

        # The mask is the SQL access rule, dataset for dataset.
        cols = finder._columns(session)
        for viewer in [*viewers, Viewer(user_id=4, member_of={999_999: "editor"})]:
            mask = visible_mask(viewer, cols.access, cols.organisation_id)
            expected = set(session.scalars(select(Dataset.id).where(visible_datasets(viewer))))
            assert set(cols.ids[mask].tolist()) == expected, viewer
        # A change is seen by the next search (the snapshot follows the catalogue state).
        dataset = service.find_dataset(session, "jeu-000")
        service.update_dataset(session, dataset, access_level="draft", title="Renommé")
        session.commit()
        after = finder._columns(session)
        assert after is not cols
        position = int(after.positions([dataset.id])[0])
        assert after.titles[position] == "Renommé"
        assert str(after.access[position]) == "draft"


def test_find_gives_what_match_gives_as_arrays(backend: Backend):
    """`fulltext.find` (ids and relevances per kind as arrays, the datasets' relevance
    only when asked) finds what `fulltext.match` finds, with the same relevances: the
    float4 of PostgreSQL, which `match` reads through its shortest decimal (so equal as
    float32), and every dataset for words in all of them."""
    import numpy as np

    build(backend)
    with backend.session() as session:
        conn = session.connection()
        everything = len(session.scalars(select(Dataset.id)).all())
        for words in ("ecoles", "routes -ecoles", "ecoles or routes or forets or marches", "zzz"):
            query = fulltext.parse(words)
            expected = fulltext.match(conn, query)
            for ranked in (True, False):
                found = fulltext.find(conn, query, rank_datasets=ranked)
                got = {}
                for kind in found.ids:
                    ids, ranks = found.of_kind(kind)
                    assert ids.dtype == np.int64
                    if kind == "dataset" and not ranked and backend.name == "postgis":
                        assert ranks is None
                        ranks = np.array([expected[("dataset", i)] for i in ids.tolist()])
                    got.update(
                        {
                            (kind, i): np.float32(r)
                            for i, r in zip(ids.tolist(), ranks.tolist(), strict=True)
                        }
                    )
                assert got == {k: np.float32(v) for k, v in expected.items()}, (words, ranked)
            if words.startswith("ecoles or"):
                assert len(found.of_kind("dataset")[0]) == everything


def test_most_used_orders_code_projects_and_reuses_by_visible_linked_datasets(
    backend: Backend,
):
    """ "Most used": code projects and reuses by the datasets the viewer may see that they
    use (counted for that order only), then newest first; "recent" ignores them."""
    build(backend)
    with backend.session() as session, session.begin():
        organisation = service.get_organisation(session, "org-0")
        public = session.scalars(select(Dataset).where(Dataset.access_level == "public")).all()
        draft = session.scalars(select(Dataset).where(Dataset.access_level == "draft")).all()
        old = datetime(2020, 1, 1, tzinfo=UTC)
        used = service.create_code_project(
            session, organisation, "outil-utile", "Outil utile", datasets=public[:2]
        )
        used.created_at = old
        hidden = service.create_code_project(
            session, organisation, "outil-brouillons", "Outil brouillons", datasets=draft[:3]
        )
        hidden.created_at = old + timedelta(days=1)
        service.create_code_project(session, organisation, "outil-neuf", "Outil neuf")
        for slug, linked in (("carte-utile", public[:3]), ("carte-seule", public[3:4])):
            reuse = service.create_reuse(session, slug, slug, "application", datasets=linked)
            reuse.created_at = old
            if hasattr(reuse, "status"):
                reuse.status = "approved"
    with backend.session() as session:

        def order(sort: str, viewer: Viewer) -> list[str]:
            filters = finder.Filters(sort=sort)
            result = finder.search(session, viewer, filters, kinds=["code", "reuse"])
            return [i.title for i in result.items]

        assert order("populaire", ANONYMOUS) == [
            "carte-utile",  # 3 visible datasets
            "Outil utile",  # 2
            "carte-seule",  # 1
            "Outil neuf",  # 0, the newest
            "Outil brouillons",  # 3 drafts: none the anonymous visitor may see
        ]
        assert order("populaire", Viewer.system())[:2] == ["Outil brouillons", "carte-utile"]
        assert order("recent", ANONYMOUS)[0] == "Outil neuf"
