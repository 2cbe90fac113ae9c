"""Campaigns, validation and staged contributions in the core, on both backends.

The campaign of `tests/campaign_support.py` (bus stops in Nouméa); each test calls the
core as the API, the portal and Part 4 do, and reads the tables back.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from niaouli.catalogue import gazetteer
from niaouli.catalogue.access import ANONYMOUS, Viewer
from niaouli.catalogue.campaigns import campaigns, contributions, validation
from niaouli.catalogue.campaigns.campaign_tables import (
    Campaign,
    CampaignState,
    Contribution,
    Submission,
)
from niaouli.catalogue.campaigns.contributions import ProposedFeature, submit
from niaouli.errors import CatalogueError, ConflictError, ForbiddenError, NotFoundError
from niaouli.ingest import ingest_file
from tests.campaign_support import AREA, ORG_A, STOPS, build_campaign, point
from tests.conftest import fresh_backend


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def site(request, tmp_path_factory):
    """One campaign per backend for the module; each test's changes are rolled back."""
    root = tmp_path_factory.mktemp(f"campaigns-{request.param}")
    with fresh_backend(request, request.param, root) as backend:
        yield build_campaign(backend, root)


@pytest.fixture
def session(site):
    with site.backend.session() as session:
        session.begin()
        try:
            yield session
        finally:
            session.rollback()


def _campaign(session, site, viewer=None) -> Campaign:
    return campaigns.get_campaign(session, site.campaign_slug, viewer or ANONYMOUS)


def test_valid_feature_is_staged_with_typed_values_and_a_report(site, session):
    campaign = _campaign(session, site)
    viewer = site.viewer(session, "volunteer")
    feature = ProposedFeature(
        "phone-1",
        point(166.43, -22.25),
        {"nom": "Baie des Citrons", "type": "abri", "bancs": "2", "accessible": "oui"},
    )
    result = submit(session, campaign, viewer, [feature], source="form", display_name="Léa")
    assert not result.refused
    assert result.submission.id is not None
    assert result.submission.report["accepted"] == 1
    [stored] = result.accepted
    assert stored.uid == "phone-1"
    assert stored.properties == {
        "nom": "Baie des Citrons",
        "type": "abri",
        "bancs": 2,
        "accessible": True,
    }
    assert stored.version == 1
    row = session.scalar(select(Contribution))
    assert row.uid == "phone-1" and row.state == "received"
    assert session.scalar(select(Submission.display_name)) == "Léa"


def test_schema_problems_name_the_field_in_french_and_english(site, session):
    campaign = _campaign(session, site)
    viewer = site.viewer(session, "volunteer")
    bad = ProposedFeature(
        None,
        point(166.43, -22.25),
        {"type": "kiosque", "bancs": "deux", "accessible": "peut-être"},
    )
    result = submit(session, campaign, viewer, [bad], source="form")
    assert result.accepted == [] and result.submission.id is None
    problems = {p.field: p for p in result.refused[0][1]}
    assert problems["nom"].code == "required"
    assert problems["nom"].message_fr == "le champ « Nom » est obligatoire"
    assert problems["nom"].message_en == "the field “Name” is required"
    assert problems["type"].code == "enum" and "kiosque" in problems["type"].message_fr
    assert problems["bancs"].message_fr == "le champ « Bancs » attend un nombre entier"
    assert problems["bancs"].message_en == "the field “Benches” expects a whole number"
    assert problems["accessible"].code == "type"
    assert problems["nom"].as_json()["message"] == {
        "fr": problems["nom"].message_fr,
        "en": problems["nom"].message_en,
    }
    assert session.scalar(select(func.count(Contribution.id))) == 0
    assert session.scalar(select(func.count(Submission.id))) == 0


GEOMETRY_CASES = [
    (None, "geometry"),
    ({"type": "LineString", "coordinates": [[166.43, -22.25], [166.44, -22.26]]}, "geometry_type"),
    (point(166.9, -22.25), "outside_area"),
    ({"type": "Point", "coordinates": [200.0, -22.25]}, "coordinates"),
    ({"type": "Point", "coordinates": [float("nan"), -22.25]}, "coordinates"),
    ({"type": "Point", "coordinates": ["166.4", -22.25]}, "geometry"),
    ({"type": "Point", "coordinates": [[[166.4, -22.25]]]}, "geometry"),
    ({"type": "Circle", "coordinates": [166.4, -22.25]}, "geometry"),
    ({"type": "LineString", "coordinates": [[166.4, -22.25]]}, "geometry"),
]


def test_geometry_problems(site, session):
    campaign = _campaign(session, site)
    assert not campaign.creates_layer and campaigns.campaign_layer(session, campaign)
    for geometry, code in GEOMETRY_CASES:
        feature = ProposedFeature(None, geometry, {"nom": "x"})
        problems = validation.validate(session, campaign, feature)
        assert [p.code for p in validation.errors(problems)] == [code], (geometry, problems)


def test_invalid_polygon_and_huge_geometry_are_refused(site, session):
    campaign = _campaign(session, site)
    campaign.geometry_type = "Polygon"
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [
                [166.41, -22.30],
                [166.45, -22.26],
                [166.45, -22.30],
                [166.41, -22.26],
                [166.41, -22.30],
            ]
        ],
    }
    [found] = validation.validate(session, campaign, ProposedFeature(None, bowtie, {"nom": "x"}))
    assert found.code == "geometry_invalid" and "Self-intersection" in found.message_fr
    ring = [[166.41 + i * 1e-6, -22.30] for i in range(12_000)] + [[166.41, -22.30]]
    huge = {"type": "Polygon", "coordinates": [ring]}
    [found] = validation.validate(session, campaign, ProposedFeature(None, huge, {"nom": "x"}))
    assert found.code == "too_big"


def test_duplicates_of_layer_features_and_contributions_are_warnings(site, session):
    campaign = _campaign(session, site)
    viewer = site.viewer(session, "volunteer")
    x, y = STOPS[0]
    near_stop = ProposedFeature("a", point(x + 0.00002, y), {"nom": "près de l'arrêt 0"})
    far = ProposedFeature("b", point(x + 0.01, y - 0.01), {"nom": "loin"})
    near_far = ProposedFeature("c", point(x + 0.01, y - 0.01 + 0.00001), {"nom": "doublon"})
    result = submit(session, campaign, viewer, [near_stop, far, near_far], source="file")
    assert not result.refused
    by_uid = {c.uid: c for c in result.accepted}
    [warning] = by_uid["a"].problems
    assert warning["code"] == "duplicate" and warning["severity"] == "warning"
    assert "objet n°1 de la couche" in warning["message"]["fr"]  # ~2 m from the first stop
    assert by_uid["b"].problems == []
    [warning] = by_uid["c"].problems
    assert "« b »" in warning["message"]["fr"]


def test_resubmitting_a_uid_is_idempotent_and_others_cannot_take_it(site, session):
    campaign = _campaign(session, site)
    volunteer = site.viewer(session, "volunteer")
    feature = ProposedFeature("mon-id", point(166.43, -22.25), {"nom": "un"})
    first = submit(session, campaign, volunteer, [feature], source="offline")
    again = submit(
        session,
        campaign,
        volunteer,
        [ProposedFeature("mon-id", point(166.43, -22.25), {"nom": "un"})],
        source="offline",
    )
    assert again.accepted[0].id == first.accepted[0].id
    assert again.submission.id is None  # nothing new: no second submission
    other = submit(
        session,
        campaign,
        site.viewer(session, "volunteer2"),
        [ProposedFeature("mon-id", point(166.44, -22.25), {"nom": "deux"})],
        source="offline",
    )
    assert other.accepted == [] and other.refused[0][1][0].code == "uid_taken"
    assert session.scalar(select(func.count(Contribution.id))) == 1
    assert session.scalar(select(func.count(Submission.id))) == 1


def test_who_may_contribute_and_see_staged_data(site, session):
    campaign = _campaign(session, site)
    feature = ProposedFeature("x1", point(166.43, -22.25), {"nom": "un"})
    with pytest.raises(ForbiddenError):
        submit(session, campaign, ANONYMOUS, [feature], source="form")
    read_only = site.viewer(session, "volunteer", read_only=True)
    with pytest.raises(ForbiddenError):
        submit(session, campaign, read_only, [feature], source="form")
    submit(session, campaign, site.viewer(session, "volunteer"), [feature], source="form")
    submit(
        session,
        campaign,
        site.viewer(session, "volunteer2"),
        [ProposedFeature("x2", point(166.44, -22.26), {"nom": "deux"})],
        source="form",
    )

    def seen(name: str | None) -> set[str]:
        viewer = site.viewer(session, name) if name else ANONYMOUS
        query = contributions.visible_contributions(session, campaign, viewer)
        return {c.uid for c in session.scalars(query)}

    assert seen("editor_a") == {"x1", "x2"}
    assert seen("volunteer") == {"x1"}
    assert seen("volunteer2") == {"x2"}
    assert seen("editor_b") == set()
    assert seen(None) == set()
    assert seen("editor_a") == {
        c.uid
        for c in session.scalars(
            contributions.visible_contributions(
                session, campaign, site.viewer(session, "editor_a", read_only=True)
            )
        )
    }


def test_closed_or_draft_campaign_refuses_contributions(site, session):
    editor = site.viewer(session, "editor_a")
    campaign = _campaign(session, site)
    campaigns.close_campaign(session, editor, campaign)
    with pytest.raises(ConflictError, match="close"):
        submit(
            session,
            campaign,
            site.viewer(session, "volunteer"),
            [ProposedFeature(None, point(166.43, -22.25), {"nom": "un"})],
            source="form",
        )
    campaign.state = CampaignState.DRAFT
    session.flush()
    with pytest.raises(NotFoundError):
        campaigns.get_campaign(session, campaign.slug, site.viewer(session, "volunteer"))
    assert campaigns.get_campaign(session, campaign.slug, editor).id == campaign.id


def test_updates_record_the_base_version_and_need_edits_allowed(site, session):
    campaign = _campaign(session, site)
    volunteer = site.viewer(session, "volunteer")
    current = validation.target_feature(session, campaign, 2)
    assert current["properties"]["nom"] == "Arrêt 1"
    update = ProposedFeature(
        None, point(*STOPS[1]), {"nom": "Arrêt 1 (corrigé)"}, action="update", target_fid=2
    )
    retire = ProposedFeature(None, None, {}, action="retire", target_fid=3)
    result = submit(session, campaign, volunteer, [update, retire], source="part4")
    assert not result.refused
    updated, retired = result.accepted
    assert updated.base_version == contributions.geojson_version(current)
    assert updated.base_feature["properties"]["nom"] == "Arrêt 1"
    assert retired.action == "retire" and retired.geom is None
    unknown = ProposedFeature(None, None, {}, action="retire", target_fid=999)
    assert submit(session, campaign, volunteer, [unknown], source="part4").refused
    campaign.allow_edits = False
    session.flush()
    [(_, problems)] = submit(
        session,
        campaign,
        volunteer,
        [ProposedFeature(None, None, {}, action="retire", target_fid=1)],
        source="part4",
    ).refused
    assert problems[0].code == "edits_not_allowed"


def test_feature_version_ignores_key_order_and_z():
    import shapely

    a = contributions.feature_version({"a": 1, "b": "x"}, shapely.Point(1, 2).wkb)
    b = contributions.feature_version({"b": "x", "a": 1}, shapely.Point(1, 2, 5).wkb)
    assert a == b and len(a) == 64
    assert a != contributions.feature_version({"a": 2, "b": "x"}, shapely.Point(1, 2).wkb)


def test_replace_and_withdraw_with_versions(site, session):
    campaign = _campaign(session, site)
    volunteer = site.viewer(session, "volunteer")
    feature = ProposedFeature(None, point(166.43, -22.25), {"nom": "un"})
    made, created = contributions.replace_contribution(session, campaign, volunteer, "p1", feature)
    assert created and made.version == 1
    again = ProposedFeature(None, point(166.431, -22.25), {"nom": "un bis"})
    changed, created = contributions.replace_contribution(
        session, campaign, volunteer, "p1", again, expected_version=1
    )
    assert not created and changed.version == 2 and changed.properties["nom"] == "un bis"
    with pytest.raises(contributions.PreconditionFailedError):
        contributions.replace_contribution(
            session, campaign, volunteer, "p1", again, expected_version=1
        )
    with pytest.raises(ForbiddenError):
        contributions.replace_contribution(
            session, campaign, site.viewer(session, "volunteer2"), "p1", again
        )
    with pytest.raises(contributions.InvalidFeatureError) as refused:
        contributions.replace_contribution(
            session, campaign, volunteer, "p1", ProposedFeature(None, None, {"nom": "x"})
        )
    assert refused.value.problems[0].field == "geometry"
    contributions.withdraw_contribution(session, campaign, volunteer, "p1", expected_version=2)
    assert session.scalar(select(func.count(Contribution.id))) == 0


def test_campaign_checks_and_editing_rules(site, session):
    editor = site.viewer(session, "editor_a")
    base = {"organisation": ORG_A, "title": "Deuxième", "dataset": "arrets-bus"}
    with pytest.raises(CatalogueError, match="n'a pas de champ"):
        campaigns.create_campaign(
            session, editor, **base, attribute_schema=[{"name": "inconnu", "type": "string"}]
        )
    with pytest.raises(CatalogueError, match="contient des Point"):
        campaigns.create_campaign(session, editor, **base, geometry_type="Polygon")
    with pytest.raises(CatalogueError, match="pas une cartopartie|inconnu"):
        campaigns.create_campaign(session, editor, **base, event="nulle-part")
    with pytest.raises(CatalogueError, match="polygone"):
        campaigns.create_campaign(session, editor, **base, area=point(166.4, -22.3))
    with pytest.raises(CatalogueError):
        campaigns.create_campaign(
            session, site.viewer(session, "editor_b"), **{**base, "title": "Intrus"}
        )
    made = campaigns.create_campaign(session, editor, **base, area=AREA)
    assert made.state == "draft" and made.collection_id == "contributions.deuxieme"
    assert [f["name"] for f in made.attribute_schema] == ["nom", "type", "bancs", "accessible"]
    new_layer = campaigns.create_campaign(
        session,
        editor,
        **{**base, "title": "Défibrillateurs"},
        layer="defibrillateurs",
        geometry_type="Point",
        attribute_schema='[{"name": "lieu", "type": "string", "required": true}]',
    )
    assert new_layer.creates_layer and campaigns.campaign_layer(session, new_layer) is None
    own = campaigns.create_campaign(
        session,
        editor,
        organisation=ORG_A,
        title="Bornes à eau",
        new_dataset="Bornes à eau relevées",
        layer="bornes",
        geometry_type="Point",
        attribute_schema=[{"name": "etat", "type": "enum", "enum": ["bon", "cassé"]}],
    )
    assert own.dataset.slug.endswith("bornes-a-eau-relevees")
    assert own.dataset.access_level == "draft"
    assert own.creates_layer and own.dataset.organisation_id == own.organisation_id
    campaign = _campaign(session, site)
    submit(
        session,
        campaign,
        site.viewer(session, "volunteer"),
        [ProposedFeature(None, point(166.43, -22.25), {"nom": "un"})],
        source="form",
    )
    with pytest.raises(ConflictError):
        campaigns.update_campaign(session, editor, campaign, layer="autre-couche")
    campaigns.update_campaign(session, editor, campaign, title="Arrêts, saison 2")
    assert campaign.title == "Arrêts, saison 2"
    with pytest.raises(ForbiddenError):
        campaigns.update_campaign(
            session, site.viewer(session, "volunteer"), campaign, title="Piraté"
        )
    read_only = Viewer(editor.user_id, False, editor.member_of, True)
    with pytest.raises(ForbiddenError):
        campaigns.close_campaign(session, read_only, campaign)


def test_area_taken_from_a_commune_of_the_gazetteer(site, session, tmp_path):
    """The form's « commune du répertoire »: the area is the place's polygon."""
    communes = tmp_path / "communes.geojson"
    square = [[166.42, -22.29], [166.46, -22.29], [166.46, -22.25], [166.42, -22.25]]
    communes.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Polygon", "coordinates": [[*square, square[0]]]},
                        "properties": {"nom": "Nouméa"},
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    ingest_file(
        communes,
        organisation=ORG_A,
        dataset="communes-essai",
        settings=site.backend.settings,
        engine=site.backend.engine,
        progress="none",
    )
    gazetteer.set_source(session, "communes-essai", None, "nom")
    editor = site.viewer(session, "editor_a")
    made = campaigns.create_campaign(
        session,
        editor,
        organisation=ORG_A,
        title="Dans la commune",
        dataset="arrets-bus",
        area_place="Nouméa",
    )
    assert made.area_source == "Nouméa"
    assert campaigns.area_geometry(made).bounds == pytest.approx((166.42, -22.29, 166.46, -22.25))
    outside = ProposedFeature(None, point(166.48, -22.27), {"nom": "x"})  # in AREA, not in it
    inside = ProposedFeature(None, point(166.43, -22.26), {"nom": "x"})
    assert [p.code for p in validation.validate(session, made, outside)] == ["outside_area"]
    assert validation.errors(validation.validate(session, made, inside)) == []
    with pytest.raises(CatalogueError, match="lieu inconnu"):
        campaigns.create_campaign(
            session,
            editor,
            organisation=ORG_A,
            title="Ailleurs",
            dataset="arrets-bus",
            area_place="Atlantide",
        )
