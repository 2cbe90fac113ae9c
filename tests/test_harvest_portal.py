"""Harvested datasets on the portal: provenance shown, with a link to the original."""

from __future__ import annotations

from starlette.testclient import TestClient

from niaouli.ingest.harvest.service import add_source
from niaouli.portal.app import create_app
from tests.harvest_support import (
    FakeCsw,
    FakeRemote,
    harvest,
    harvested,
    real_iso_records,
)


def test_dataset_page_says_where_it_was_harvested_from(backend, org):
    remote = FakeRemote(FakeCsw(real_iso_records()))
    try:
        with backend.session() as session, session.begin():
            add_source(
                session,
                org,
                "csw",
                remote.url + "/geonetwork/srv/fre/csw",
                slug="geobretagne",
                name="GéoBretagne <CSW>",
                allow_private_network=True,
            )
        assert harvest(backend, "geobretagne").counts["created"] == 3
    finally:
        remote.close()
    dataset = harvested(backend)["955c3e47-411e-4969-b61b-3556d1b9f879"]
    client = TestClient(create_app(backend.settings), raise_server_exceptions=False)
    page = client.get(f"/jeux-de-donnees/{dataset.slug}")
    assert page.status_code == 200
    html = page.text
    assert "Moissonné depuis GéoBretagne &lt;CSW&gt; — <a href=" in html
    assert "request=GetRecordById&amp;elementSetName=full" in html
    assert "id=955c3e47-411e-4969-b61b-3556d1b9f879" in html
    assert "Identifiant distant" in html
    client.close()


def test_other_dataset_pages_say_nothing_about_harvesting(backend, org):
    """A dataset that was not harvested (no harvest keys in its provenance) still renders."""
    from niaouli.catalogue import service

    with backend.session() as session, session.begin():
        organisation = service.get_organisation(session, org)
        service.create_dataset(
            session, organisation, "saisi-a-la-main", "Saisi à la main", provenance={"x": 1}
        )
    client = TestClient(create_app(backend.settings), raise_server_exceptions=False)
    page = client.get("/jeux-de-donnees/saisi-a-la-main")
    client.close()
    assert page.status_code == 200
    assert "Moissonné depuis" not in page.text
