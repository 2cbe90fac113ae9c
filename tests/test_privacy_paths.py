"""The personal-data guard on the two paths it missed (issue 21 §3), on both backends:
a cartoparty merge that brings people's names into a public layer keeps the dataset as
a draft with the findings (the credit column, published by the volunteers' choice, is
confirmed with that reason, not held); a harvested record whose description names a
person and gives their phone number is created as a draft with the report, and a later
run leaves it a draft; a clean record stays public.
"""

from __future__ import annotations

from pathlib import Path

from niaouli.catalogue import service
from niaouli.catalogue.campaigns import merge
from niaouli.catalogue.campaigns.campaign_tables import MergeState
from niaouli.catalogue.models import AccessLevel
from niaouli.db.engine import writing
from niaouli.privacy import guard, scan
from tests.campaign_review_support import contributions, points, submission, world
from tests.conftest import Backend
from tests.harvest_support import (
    FakeCkan,
    FakeRemote,
    add_source_for,
    commune_items,
    harvest,
    harvested,
)

PEOPLE = ["Marie Wamytan", "Jean Dupont", "Sosefo Tuihani", "Thi Nguyen", "Paul Lafleur"]


def _stage(backend: Backend, w, items, name: str) -> None:  # noqa: ANN001
    from sqlalchemy.orm import Session

    sub = submission(backend, w, w.volunteer_ids[0], name)
    with Session(writing(backend.engine)) as session, session.begin():
        contributions(session, w, sub, w.volunteer_ids[0], items)


def _level(backend: Backend, slug: str) -> AccessLevel:
    with backend.session() as session:
        return service.find_dataset(session, slug).access_level


def test_a_merge_bringing_names_into_a_public_layer_is_held(
    backend: Backend, tmp_path: Path
) -> None:
    w = world(backend, tmp_path)
    _stage(backend, w, points("a", 3), "Jeanne des Palétuviers")
    clean = merge.run_merge(backend.engine, w.campaign_id, started_by_id=w.editor_id)
    assert clean.state == MergeState.DONE and clean.created == 3 and clean.held == []
    assert _level(backend, w.dataset_slug) == AccessLevel.PUBLIC

    named = [
        {
            "uid": f"n-{i}",
            "wkt": f"POINT({166.46 + i / 1000} -22.29)",
            "properties": {"name": person, "releves": i},
        }
        for i, person in enumerate(PEOPLE * 4)
    ]
    _stage(backend, w, named, "Kim Wamytan")
    outcome = merge.run_merge(backend.engine, w.campaign_id, started_by_id=w.editor_id)
    assert outcome.state == MergeState.DONE and outcome.created == 20
    assert {(f["column"], f["kind"]) for f in outcome.held} == {("name", "name")}
    assert _level(backend, w.dataset_slug) == AccessLevel.DRAFT
    with backend.session() as session:
        dataset = service.find_dataset(session, w.dataset_slug)
        review = guard.review_of(session, dataset, create=False)
        assert review.held
        credit = [c for c in review.confirmations if c["column"] == "contribution_auteur"]
        assert credit and credit[0]["reason"] == guard.CONSENTED_REASON
        from niaouli.catalogue.campaigns.campaign_tables import Merge

        report = session.get(Merge, outcome.merge_id).report
        assert report["privacy"][0]["column"] == "name"
        # Publishing again is refused until the column is handled (the usual guard).
        try:
            guard.guard(session, dataset, AccessLevel.PUBLIC)
        except guard.PersonalDataError as exc:
            assert "colonne « name »" in str(exc)
        else:
            raise AssertionError("published with names")


def test_metadata_text_naming_a_person_is_found_not_a_service() -> None:
    class Record:
        title = "Relevés de la plage de la baie des Citrons"
        description = "Contact : M. Wamytan, 75 12 34, marie.wamytan@gmail.com"
        keywords = ["baignade", "Nouméa"]
        lineage = "Service de l'eau, contact@noumea.nc"

    found = {(f.layer, f.column): f.detail for f in scan.scan_metadata(Record)}
    assert set(found) == {(scan.METADATA, "description")}
    assert {"e-mail", "téléphone", "nom"} <= set(found[(scan.METADATA, "description")].split(", "))


def test_a_harvested_record_with_personal_data_is_held_as_a_draft(backend: Backend, org) -> None:
    fake = FakeRemote(FakeCkan())
    fake.handler.base = fake.url
    items = commune_items(fake.url)[:2]
    items[1] = {
        **items[1],
        "description": "Relevés transmis par M. Wamytan (tél. 75 12 34, "
        "marie.wamytan@gmail.com), agent recenseur.",
    }
    fake.handler.items = items
    try:
        slug = add_source_for(backend, org, fake.url + "/", "ckan-sud", "ckan")
        report = harvest(backend, slug)
        by_id = {i.remote_id: i for i in report.items}
        held_id, clean_id = f"0000-{items[1]['id']}", f"0000-{items[0]['id']}"
        assert report.counts["created"] == 2, report.message
        assert "gardé en brouillon" in by_id[held_id].diff["données personnelles"]
        assert "métadonnées, champ « description »" in by_id[held_id].diff["données personnelles"]
        assert "données personnelles" not in by_id[clean_id].diff
        found = harvested(backend)
        assert found[held_id].access_level == AccessLevel.DRAFT
        assert found[clean_id].access_level == AccessLevel.PUBLIC
        with backend.session() as session:
            dataset = service.find_dataset(session, found[held_id].slug)
            review = guard.review_of(session, dataset, create=False)
            assert review.held and review.findings[0]["column"] == "description"
        fake.handler.items[1] = {**items[1], "modified": "2030-01-01"}  # changed remotely
        again = harvest(backend, slug)
        assert again.counts["failed"] == 0
        assert harvested(backend)[held_id].access_level == AccessLevel.DRAFT
    finally:
        fake.close()
