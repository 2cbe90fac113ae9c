"""OGC API Records at /ogc/collections/catalogue: every public dataset (spatial or not),
searchable with q, bbox and datetime, paged, live, and nothing the public may not see —
against a live `niaouli serve` on both backends, read with OWSLib and httpx."""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import shapely
from geoalchemy2 import WKTElement
from owslib.ogcapi.records import Records
from sqlalchemy import select, text

from niaouli.catalogue import service
from niaouli.catalogue.access import ANONYMOUS
from niaouli.catalogue.models import AccessLevel
from tests.conftest import FIXTURES
from tests.ogc_support import ORG, XSS, ogc, serve, wait_for  # noqa: F401 - fixture

ITEMS = "/collections/catalogue/items"
PERSONAL_EMAIL = "jean.dupont@exemple.nc"
NOUMEA = "166.40,-22.32,166.50,-22.24"
LIFOU = (167.0, -21.2, 167.5, -20.7)
PRIVATE = {"brouillon-prive", "hienghene-inscrits", "hienghene-organisation"}


@pytest.fixture(scope="module")
def catalogue(ogc):  # noqa: F811, ANN001, ANN201
    """The server of `ogc`, plus datasets for searching: accents, far away, dated, private."""
    with ogc.backend.session() as session, session.begin():
        org = service.get_organisation(session, ORG)
        service.create_dataset(
            session,
            org,
            "tribus-hienghene",
            "Tribus de Hienghène",
            description="Liste des tribus de la commune de Hienghène.",
            keywords=["tribus", "coutume"],
            themes=["Population et société"],
            contact_name="Jean Dupont",
            contact_email=PERSONAL_EMAIL,
            temporal_start=date(2019, 1, 1),
            temporal_end=date(2019, 12, 31),
        )
        far = service.create_dataset(
            session,
            org,
            "recifs-lifou",
            "Récifs de Lifou",
            description="Récifs coralliens autour de Lifou (îles Loyauté).",
            temporal_start=date(2009, 1, 1),
            temporal_end=date(2009, 12, 31),
        )
        far.spatial_coverage = WKTElement(shapely.box(*LIFOU).wkt, srid=4326)
        service.create_dataset(
            session,
            org,
            "hienghene-inscrits",
            "Hienghène réservé aux inscrits",
            access_level=AccessLevel.REGISTERED,
        )
        service.create_dataset(
            session,
            org,
            "hienghene-organisation",
            "Hienghène réservé à l'organisation",
            access_level=AccessLevel.ORGANISATION,
        )
    return ogc


def _public_slugs(server) -> set[str]:  # noqa: ANN001
    with server.backend.session() as session:
        return {d.slug for d in service.list_datasets(session, ANONYMOUS)}


def _items(server, **params: object) -> dict:  # noqa: ANN001
    response = server.get(ITEMS, **params)
    assert response.status_code == 200, response.text[:500]
    return response.json()


def _ids(server, **params: object) -> set[str]:  # noqa: ANN001
    page = _items(server, limit=1000, **params)
    assert page["numberMatched"] == page["numberReturned"] == len(page["features"])
    return {record["id"] for record in page["features"]}


def test_owslib_pages_through_every_public_dataset(catalogue):  # noqa: ANN001
    client = Records(catalogue.url)
    assert client.records() == ["catalogue"]
    assert client.collection("catalogue")["itemType"] == "record"

    expected = _public_slugs(catalogue)
    # Spatial and non-spatial datasets alike; nothing private.
    assert {"communes-nc", "population-communes-nc", "tribus-hienghene"} <= expected
    assert not PRIVATE & expected

    seen: list[str] = []
    offset = 0
    while True:
        page = client.collection_items("catalogue", limit=2, offset=offset)
        assert page["numberMatched"] == len(expected)
        assert page["numberReturned"] == len(page["features"]) <= 2
        if not page["features"]:
            break
        seen += [record["id"] for record in page["features"]]
        rels = {link["rel"] for link in page["links"]}
        if offset + 2 < len(expected):
            assert "next" in rels
        if len(page["features"]) < 2:  # (a full last page may still link to an empty one)
            assert "next" not in rels
        assert ("prev" in rels) == (offset > 0)
        offset += 2
    assert len(seen) == len(set(seen)), "a record came twice while paging"
    assert set(seen) == expected

    # The next links alone walk through the same records in the same order.
    walked: list[str] = []
    url: str | None = f"{catalogue.url}{ITEMS}?limit=3"
    while url:
        page = httpx.get(url, timeout=30).json()
        walked += [record["id"] for record in page["features"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    assert walked == seen


def test_record_content(catalogue):  # noqa: ANN001
    record = Records(catalogue.url).collection_item("catalogue", "communes-nc")
    assert record["id"] == "communes-nc" and record["type"] == "Feature"
    assert (
        "http://www.opengis.net/spec/ogcapi-records-1/1.0/req/record-core" in (record["conformsTo"])
    )
    props = record["properties"]
    assert props["type"] == "dataset"
    assert props["title"].startswith("Communes de Nouvelle-Calédonie")
    assert "communes" in props["keywords"]
    assert props["language"]["code"] == "fr"
    assert props["license"] == "Licence Ouverte 2.0"
    assert props["contacts"][0]["organization"] == "Gouvernement de la Nouvelle-Calédonie"
    for name in ("created", "updated"):  # RFC 3339, UTC, on both backends
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", props[name]), props[name]
    assert record["geometry"]["type"] == "Polygon"
    west, south = record["geometry"]["coordinates"][0][0]
    assert 163 < west < 165 and -23 < south < -22

    links = record["links"]
    root = catalogue.url.removesuffix("/ogc")
    assert {
        "rel": "item",
        "type": "application/geo+json",
        "href": f"{catalogue.url}/collections/communes-nc/items",
    }.items() <= next(link for link in links if link["rel"] == "item").items()
    page = next(
        link for link in links if link["type"] == "text/html" and "portail" in link["title"]
    )
    assert page["href"] == f"{root}/jeux-de-donnees/communes-nc"
    # The CSW link names the record pycsw serves (csw_records.identifier).
    csw = next(link for link in links if "GetRecordById" in link["href"])
    query = parse_qs(urlsplit(csw["href"]).query)
    assert query["outputSchema"] == ["http://www.isotc211.org/2005/gmd"]
    with catalogue.backend.engine.connect() as conn:
        identifier = conn.scalar(
            text(
                "SELECT identifier FROM csw_records r JOIN datasets d ON d.id = r.dataset_id "
                "WHERE d.slug = 'communes-nc'"
            )
        )
    assert query["id"] == [identifier]
    # The layer's collection answers GeoJSON at the linked address.
    items = catalogue.get("/collections/communes-nc/items", limit=1).json()
    assert items["features"]

    table = catalogue.get(f"{ITEMS}/population-communes-nc").json()
    assert table["geometry"] is None
    assert any(link["rel"] == "item" for link in table["links"])

    dated = catalogue.get(f"{ITEMS}/tribus-hienghene")
    assert dated.json()["time"] == {"interval": ["2019-01-01", "2019-12-31"]}
    # A contact's personal address is not published; the organisation is.
    assert PERSONAL_EMAIL not in dated.text and "Jean Dupont" not in dated.text


def test_q_is_accent_insensitive(catalogue):  # noqa: ANN001
    found = _items(catalogue, q="Hienghene")
    assert [r["id"] for r in found["features"]] == ["tribus-hienghene"]
    assert found["numberMatched"] == 1
    assert found["features"][0]["properties"]["title"] == "Tribus de Hienghène"
    assert _ids(catalogue, q="HIENGHÈNE tribus") == {"tribus-hienghene"}
    assert _ids(catalogue, q="introuvablexyz") == set()
    # Punctuation only is no search at all (as on the portal), never a LIKE wildcard.
    assert _ids(catalogue, q="%") == _ids(catalogue) == _ids(catalogue, q="")
    assert _ids(catalogue, q="tribus%hienghene") == {"tribus-hienghene"}


def test_bbox_finds_spatial_datasets_near_noumea(catalogue):  # noqa: ANN001
    near = _ids(catalogue, bbox=NOUMEA)
    assert {"communes-nc", "communes-lambert", "sites-visites"} <= near
    assert "recifs-lifou" not in near
    assert "population-communes-nc" not in near and "tribus-hienghene" not in near
    assert _ids(catalogue, bbox=",".join(str(v) for v in LIFOU)) >= {"recifs-lifou"}
    assert _ids(catalogue, bbox="2.2,48.8,2.4,48.9") == set()  # Paris
    assert catalogue.get(ITEMS, bbox="1,2,abc,4").status_code == 400


def test_datetime_filters_on_coverage_else_update_date(catalogue):  # noqa: ANN001
    assert "tribus-hienghene" in _ids(catalogue, datetime="2019-06-01")
    assert "recifs-lifou" not in _ids(catalogue, datetime="2019-06-01")
    assert _ids(catalogue, datetime="2009-01-01/2009-12-31") == {"recifs-lifou"}
    assert _ids(catalogue, datetime="../2010-01-01") == {"recifs-lifou"}
    assert _ids(catalogue, datetime="2019-12-31T12:00:00Z") == {"tribus-hienghene"}
    # Datasets without a temporal coverage are dated by their last update (today).
    recent = _ids(catalogue, datetime=f"{date.today().replace(day=1).isoformat()}/..")
    assert {"communes-nc", "population-communes-nc"} <= recent
    assert not {"tribus-hienghene", "recifs-lifou"} & recent
    # Combined with q and bbox.
    lifou = ",".join(map(str, LIFOU))
    assert _ids(catalogue, q="lifou", bbox=lifou, datetime="2009-06-01") == {"recifs-lifou"}
    assert _ids(catalogue, q="lifou", bbox=lifou, datetime="2019-06-01") == set()
    assert catalogue.get(ITEMS, datetime="hier").status_code == 400


def test_private_datasets_appear_nowhere(catalogue):  # noqa: ANN001
    everything = _items(catalogue, limit=1000)
    ids = {r["id"] for r in everything["features"]}
    assert not PRIVATE & ids
    assert everything["numberMatched"] == len(_public_slugs(catalogue))
    # Their titles match "hienghene": still only the public one, and counted alone.
    assert _items(catalogue, q="hienghene")["numberMatched"] == 1
    assert _items(catalogue, ids=",".join(PRIVATE))["numberMatched"] == 0
    for slug in PRIVATE:
        for params in ({}, {"f": "html"}):
            response = catalogue.get(f"{ITEMS}/{slug}", **params)
            assert response.status_code == 404, slug
        assert slug not in catalogue.get(ITEMS, q="réservé", f="html").text


def test_sortby_ids_type_and_hits(catalogue):  # noqa: ANN001
    titles = [
        r["properties"]["title"] for r in _items(catalogue, sortby="-title", limit=100)["features"]
    ]
    assert len(titles) == len(_public_slugs(catalogue))
    initials = [t[0].casefold() for t in titles]  # (full order: the database's collation)
    assert initials == sorted(initials, reverse=True) and initials[0] == "t"
    assert _items(catalogue, sortby="title")["features"][0]["properties"]["title"][0] == "C"
    assert _ids(catalogue, ids="communes-nc,population-communes-nc,inconnu") == {
        "communes-nc",
        "population-communes-nc",
    }
    assert _ids(catalogue, type="service") == set()
    assert "communes-nc" in _ids(catalogue, type="dataset")
    hits = _items(catalogue, resulttype="hits")
    assert hits["features"] == [] and hits["numberMatched"] == len(_public_slugs(catalogue))


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"inconnu": "1"}, "paramètre inconnu"),
        ({"properties": "title"}, "paramètre inconnu"),
        ({"title": "Communes"}, "paramètre inconnu"),
        ({"sortby": "description"}, "tri impossible"),
        ({"limit": "0"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"q": ["a", "b"]}, "paramètre répété"),
        ({"filter": "title = 'x'"}, "paramètre inconnu"),
    ],
)
def test_bad_parameters_are_refused(catalogue, params, fragment):  # noqa: ANN001
    response = catalogue.get(ITEMS, **params)
    assert response.status_code == 400, response.text[:300]
    assert fragment in response.json()["description"]


def test_conformance_landing_and_collections(catalogue):  # noqa: ANN001
    conformance = catalogue.get("/conformance").json()["conformsTo"]
    for part in ("core", "json", "html"):
        assert f"http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/{part}" in conformance
    # sortby works, but neither the sortables resource nor an OpenSearch description
    # document is served: those classes are not claimed (services/ogc/conformance.py).
    for part in ("sorting", "opensearch"):
        assert f"http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/{part}" not in conformance
    landing = catalogue.get("/").json()
    assert any(
        link["rel"].endswith("/ogc-catalog") and link["href"].endswith("/collections/catalogue")
        for link in landing["links"]
    )
    collection = catalogue.get("/collections/catalogue").json()
    assert collection["itemType"] == "record" and collection["title"].startswith("Catalogue")
    assert catalogue.get("/collections/catalogue/queryables").status_code == 200


def test_reserved_slug_is_refused(catalogue):  # noqa: ANN001
    with catalogue.backend.session() as session, session.begin():
        org = service.get_organisation(session, ORG)
        with pytest.raises(service.CatalogueError, match="réservé"):
            service.create_dataset(session, org, "catalogue", "Catalogue")
    result = catalogue.backend.run(
        "ingest",
        str(FIXTURES / "communes.gpkg"),
        "--org",
        ORG,
        "--dataset",
        "catalogue",
        "--progress",
        "none",
        check=False,
    )
    assert result.returncode != 0
    assert "réservé" in result.stdout + result.stderr
    with catalogue.backend.session() as session:
        assert service.find_dataset(session, "catalogue") is None
    # A slug made from a title never is the reserved one (imports and harvests go on).
    assert service.make_slug("Catalogue") == "catalogue-donnees"


def test_live_ingest_and_delete(catalogue):  # noqa: ANN001
    slug = "fiche-en-direct"
    assert catalogue.get(f"{ITEMS}/{slug}").status_code == 404
    before = _items(catalogue, resulttype="hits")["numberMatched"]
    catalogue.backend.run(
        "ingest",
        str(FIXTURES / "communes.gpkg"),
        "--org",
        ORG,
        "--dataset",
        slug,
        "--title",
        "Fiche publiée en direct",
        "--progress",
        "none",
    )
    waited = wait_for(lambda: catalogue.get(f"{ITEMS}/{slug}").status_code == 200)
    assert waited < 5
    assert slug in _ids(catalogue, q="publiee en direct")
    assert _items(catalogue, resulttype="hits")["numberMatched"] == before + 1

    catalogue.backend.run("dataset", "delete", slug)
    wait_for(lambda: catalogue.get(f"{ITEMS}/{slug}").status_code == 404)
    assert slug not in _ids(catalogue)
    assert _items(catalogue, resulttype="hits")["numberMatched"] == before


def test_live_in_every_worker(catalogue):  # noqa: ANN001
    """Two server processes: each answers from the catalogue itself, none lags behind."""
    if catalogue.backend.name != "postgis":
        # Starting a second, two-process server costs ~20 s on a busy machine; the
        # behaviour does not depend on the backend, so once is enough.
        pytest.skip("multi-process serving is checked once, on PostGIS")
    slug = "fiche-deux-processus"

    def everywhere(status: int) -> bool:  # new connections: spread over the workers
        return all(server.get(f"{ITEMS}/{slug}").status_code == status for _ in range(12))

    with serve(catalogue.backend, timeout=60, workers=2) as server:
        assert everywhere(404)
        catalogue.backend.run(
            "ingest",
            str(FIXTURES / "communes.gpkg"),
            "--org",
            ORG,
            "--dataset",
            slug,
            "--progress",
            "none",
        )
        wait_for(lambda: everywhere(200), 15)  # (12 requests a round: slow on a busy machine)
        catalogue.backend.run("dataset", "delete", slug)
        wait_for(lambda: everywhere(404), 15)


def test_access_change_applies_at_once(catalogue):  # noqa: ANN001
    def set_access(level: str) -> None:
        with catalogue.backend.session() as session, session.begin():
            dataset = service.find_dataset(session, "recifs-lifou")
            service.update_dataset(session, dataset, access_level=level)

    set_access("organisation")
    try:
        wait_for(lambda: catalogue.get(f"{ITEMS}/recifs-lifou").status_code == 404)
        assert "recifs-lifou" not in _ids(catalogue, q="lifou")
    finally:
        set_access("public")
    wait_for(lambda: catalogue.get(f"{ITEMS}/recifs-lifou").status_code == 200)


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("script", "img") and values.get("src"):
            self.urls.append(values["src"] or "")
        elif tag == "link" and values.get("rel") in ("stylesheet", "icon", "preload"):
            self.urls.append(values.get("href") or "")


@pytest.mark.parametrize(
    "path",
    [ITEMS, f"{ITEMS}/communes-nc", f"{ITEMS}/population-communes-nc", "/collections/catalogue"],
)
def test_html_pages_are_french_and_local(catalogue, path):  # noqa: ANN001
    params = {"f": "html", "q": "Hienghene"} if path == ITEMS else {"f": "html"}
    response = catalogue.get(path, **params)
    assert response.status_code == 200, response.text[:500]
    html = response.text
    assert '<html lang="fr">' in html
    assert "Traceback" not in html
    parser = _Assets()
    parser.feed(html)
    for url in parser.urls:
        assert url.startswith(catalogue.url + "/static/"), url
        assert httpx.get(url, timeout=30).status_code == 200, url  # served, locally
    assert not re.search(r"<script>(?!\s*</script>)", html), "inline script"
    if path == ITEMS:
        assert "Tribus de Hienghène" in html and "Fiches correspondantes : 1" in html
        assert f"{catalogue.url}/static/niaouli/search.js" in parser.urls
        # Titles are text: the dataset titled with a <script> is escaped in the full list.
        listing = catalogue.get(ITEMS, f="html", limit=100).text
        assert "Sites visités &lt;script&gt;" in listing and XSS not in listing
    elif path.endswith("/population-communes-nc"):
        assert "sans emprise géographique" in html
    elif path == "/collections/catalogue":
        assert "Rechercher dans les fiches" in html and "Systèmes de coordonnées" not in html
    elif path.endswith("/communes-nc"):
        assert "Communes de Nouvelle-Calédonie" in html and "Licence" in html
        assert 'data-source="record-data"' in html


def test_database_untouched_by_queries(catalogue):  # noqa: ANN001
    """Hostile input is data: the catalogue is unchanged and still answers."""
    with catalogue.backend.session() as session:
        before = session.scalar(select(text("count(*)")).select_from(text("datasets")))
    for q in ["'; DROP TABLE datasets; --", '" OR 1=1 --', "é" * 400]:
        assert catalogue.get(ITEMS, q=q).status_code == 200
    with catalogue.backend.session() as session:
        after = session.scalar(select(text("count(*)")).select_from(text("datasets")))
    assert before == after
