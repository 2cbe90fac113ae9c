"""Extreme numbers and characters get a clear 400/422, never a 500 (issue 13).

A live `niaouli serve` per backend (SQLite/SpatiaLite and PostGIS) answers hostile
numbers in OGC API Features and Records (property filters, CQL2 literals beyond 64 bits,
division by zero, arithmetic overflow, `sortby` with thousands of keys, non-finite
`bbox`, instants outside the years 1 to 9999 in UTC) and in the writing API (paging
beyond 64 bits, U+0000 in a query, a path, a JSON body, a form field or an upload's
file name) with a message that says what is wrong, in French (English with `?lang=en`
on the API). Rows of ../shared/SECURITY-CASES.md: S2 (filter literals converted to the
column type before they are bound), S3 (numbers parsed before anything reaches SQL),
S16 (a crafted file name or path), R5 (paging numbers, also CSW `startPosition`/`maxRecords`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from lxml import etree

from niaouli.accounts import tokens, users
from niaouli.demo import load_demo
from niaouli.ingest import ingest_file
from tests.accounts_support import csrf_of
from tests.api_support import snapshot
from tests.conftest import Backend, fresh_backend
from tests.csw_support import NS, csw_ready
from tests.ogc_support import ORG, serve

BIG = "1" * 60  # a 60-digit integer
OVER = str(2**63)  # one more than the largest bigint
UNDER = str(-(2**63) - 1)
MESURES = "/ogc/collections/mesures/items"
HORAIRES = "/ogc/collections/horaires/items"
RECORDS = "/ogc/collections/catalogue/items"


@dataclass
class Site:
    base: str  # http://127.0.0.1:PORT
    backend: Backend
    token: str  # a platform admin's `write` token

    def get(self, path: str, **params: object) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", params=params, timeout=60)

    def api(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=f"{self.base}/api", headers=headers, timeout=60)


def _points(properties: list[dict]) -> str:
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [166.4 + i / 100, -22.2]},
            "properties": p,
        }
        for i, p in enumerate(properties)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features})


def _load(backend: Backend, root) -> str:  # noqa: ANN001
    load_demo(backend.settings, echo=lambda _m: None)
    files = {
        "mesures": [
            {"nom": f"p{i}", "population": i * 1000, "valeur": i * 1.5, "jour": f"2024-01-0{i + 1}"}
            for i in range(5)
        ],
        "horaires": [{"instant": f"2024-01-0{i + 1}T10:00:00Z", "numero": i} for i in range(5)],
    }
    for slug, properties in files.items():
        path = root / f"{slug}.geojson"
        path.write_text(_points(properties), encoding="utf-8")
        ingest_file(
            path,
            organisation=ORG,
            dataset=slug,
            settings=backend.settings,
            engine=backend.engine,
            progress="none",
        )
    with backend.session() as session, session.begin():
        admin = users.create_user(
            session, "admin@exemple.nc", "Admin", "mot-de-passe-de-test", is_platform_admin=True
        )
        _token, secret = tokens.create_token(session, admin, "tests", "write")
    return secret


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    root = tmp_path_factory.mktemp(f"nombres-{request.param}")
    with fresh_backend(request, request.param, root) as backend:
        token = _load(backend, root)
        with serve(backend) as server:
            yield Site(server.url.removesuffix("/ogc"), backend, token)


def _refused(response: httpx.Response, *fragments: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    description = response.json()["description"]
    for fragment in fragments:
        assert fragment in description, description


def _ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [f["id"] for f in response.json()["features"]]


# --- OGC API Features: property filters and CQL2 ------------------------------------


def test_integer_filters_beyond_64_bits(site: Site):
    """An integer literal a bigint cannot hold: 400 naming the property, on both backends
    (SQLite's driver raised OverflowError, PostGIS 'bigint out of range': 500s)."""
    for value in (BIG, OVER, UNDER):
        _refused(site.get(MESURES, population=value), "entier hors limites", "« population »")
    assert _ids(site.get(MESURES, population=str(-(2**63)))) == []
    assert _ids(site.get(MESURES, population="2000")) == [3]
    for cql in (
        f"population = {OVER}",
        f"population IN (1, {OVER})",
        f"population NOT IN ({UNDER}, 2)",
        f"population BETWEEN 0 AND {BIG}",
        f"population = 2 OR population > {OVER}",
    ):
        _refused(site.get(MESURES, filter=cql), "entier hors limites", "« population »")
    # Without a property to take its type from, the literal is still checked.
    _refused(site.get(MESURES, filter=f"{OVER} = 1"), "entier hors limites")
    # A number column takes a huge integer as the double it is.
    assert _ids(site.get(MESURES, filter=f"valeur < {BIG}")) == [1, 2, 3, 4, 5]
    assert _ids(site.get(MESURES, valeur=BIG)) == []


def test_division_by_zero_and_overflow_in_cql(site: Site):
    """`valeur / 0 = 1` was a 500 on PostGIS ('division by zero'): a literal zero divisor
    is refused, a column that is zero gives no match on both backends (NULLIF), and
    division keeps its meaning."""
    _refused(site.get(MESURES, filter="valeur / 0 = 1"), "division par zéro")
    _refused(site.get(MESURES, filter="population / 0.0 > 1"), "division par zéro")
    assert _ids(site.get(MESURES, filter="population / (population - population) = 1")) == []
    assert _ids(site.get(MESURES, filter="valeur / (valeur - 1.5) = 1")) == []
    assert _ids(site.get(MESURES, filter="population / 2 = 1500")) == [4]
    assert _ids(site.get(MESURES, filter="population / 400 = 2.5")) == [2]
    # bigint arithmetic overflows in PostgreSQL (a clear 400); SQLite computes in floating
    # point, as it always does beyond 64 bits.
    overflow = site.get(MESURES, filter="population + 9223372036854775807 > 1")
    if site.backend.name == "postgis":
        _refused(overflow, "hors des limites")
    else:
        assert _ids(overflow) == [1, 2, 3, 4, 5]


def test_nul_character_in_filters(site: Site):
    """PostgreSQL text cannot hold U+0000 (a 500 before): refused on both backends."""
    _refused(site.get(MESURES, nom="p1\x00"), "caractère nul", "« nom »")
    _refused(site.get(MESURES, filter="nom = 'p1\x00'"), "caractère nul")
    _refused(site.get(MESURES, filter="nom LIKE 'p\x00%'"), "caractère nul")


def test_sortby_and_bbox_numbers(site: Site):
    """2,000 sort keys failed SQLite's ORDER BY (500); nan/inf boxes matched nothing or
    failed PostGIS's envelope (500 on Records)."""
    many = ",".join(["nom"] * 2000)
    _refused(site.get(MESURES, sortby=many), "« sortby » : 100 propriétés au plus")
    _refused(site.get(RECORDS, sortby=",".join(["title"] * 2000)), "100 propriétés au plus")
    assert _ids(site.get(MESURES, sortby=",".join(["-population"] * 100))) == [5, 4, 3, 2, 1]
    for path in (MESURES, RECORDS):
        for box in ("nan,nan,nan,nan", "1e999,-22,167,-21", "166,-inf,167,-21"):
            _refused(site.get(path, bbox=box), "« bbox » : nombres finis attendus")
        _refused(site.get(path, bbox="166,-22,167"), "« bbox » : 4 ou 6 nombres")
        _refused(site.get(path, bbox="166,-22,167,abc"), "« bbox » : nombres attendus")
    assert _ids(site.get(MESURES, bbox="166.39,-22.3,166.415,-22.1")) == [1, 2]


@pytest.mark.parametrize("path", [HORAIRES, RECORDS])
def test_datetime_at_the_ends_of_the_calendar(site: Site, path: str):
    """An instant whose UTC conversion leaves the years 1 to 9999 was an OverflowError
    (500) in the features and the records: a 400 saying so. 9999-12-31 as an open end is
    fine (no 'next day' computed past it)."""
    for value in (
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00/..",
        "2024-01-01/9999-12-31T23:30:00-05:00",
    ):
        _refused(site.get(path, datetime=value), "datetime hors limites", "années 1 à 9999")
    assert site.get(path, datetime="9999-12-31").status_code == 200
    assert site.get(path, datetime="0001-01-01/0001-01-02").status_code == 200
    everything = site.get(path, datetime="2000-01-01/9999-12-31")
    assert everything.status_code == 200 and everything.json()["numberMatched"] >= 4
    if path == HORAIRES:
        assert _ids(site.get(path, datetime="2024-01-03/9999-12-31")) == [3, 4, 5]
        _refused(
            site.get(path, filter="instant = '9999-12-31T23:59:59-14:00'"),
            "date et heure hors limites pour « instant »",
        )


# --- CSW ------------------------------------------------------------------------------


def test_csw_paging_numbers(site: Site):
    """startPosition=0 or a negative one was 'Invalid query syntax' on PostgreSQL (a
    negative OFFSET) and a made-up page on SQLite, maxRecords=-1 answered
    numberOfRecordsReturned="-1", and a 23-digit startPosition failed both: an
    ExceptionReport (400, InvalidParameterValue) naming the parameter."""
    deadline = time.monotonic() + 60
    while not csw_ready(site.base):
        assert time.monotonic() < deadline, "pycsw did not start"
        time.sleep(0.3)
    kvp = {
        "service": "CSW",
        "version": "2.0.2",
        "request": "GetRecords",
        "typeNames": "csw:Record",
        "elementSetName": "brief",
        "resultType": "results",
    }
    for name, value in (
        ("startPosition", "0"),
        ("startPosition", "-5"),
        ("startPosition", OVER),
        ("startPosition", BIG),
        ("maxRecords", "-1"),
        ("maxRecords", "1e999"),
        ("maxRecords", BIG),
    ):
        answer = site.get("/csw", **kvp, **{name: value})
        assert answer.status_code == 400, (name, value, answer.text)
        report = etree.fromstring(answer.content)
        exception = report.find("ows:Exception", NS)
        assert exception.get("exceptionCode") == "InvalidParameterValue"
        assert exception.get("locator") == name
        assert name in exception.findtext("ows:ExceptionText", namespaces=NS)
    page = etree.fromstring(site.get("/csw", **kvp, startPosition="2", maxRecords=BIG[:12]).content)
    results = page.find(".//csw:SearchResults", NS)
    matched = int(results.get("numberOfRecordsMatched"))
    assert matched >= 4 and int(results.get("numberOfRecordsReturned")) == matched - 1
    post = (
        '<csw:GetRecords xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" service="CSW" '
        f'version="2.0.2" resultType="results" startPosition="{OVER}" maxRecords="5">'
        '<csw:Query typeNames="csw:Record"><csw:ElementSetName>brief</csw:ElementSetName>'
        "</csw:Query></csw:GetRecords>"
    )
    answer = httpx.post(
        f"{site.base}/csw",
        content=post,
        headers={"Content-Type": "application/xml"},
        timeout=60,
    )
    assert answer.status_code == 400 and 'locator="startPosition"' in answer.text


# --- the writing API --------------------------------------------------------------------


def test_api_paging_numbers(site: Site):
    """`offset=2**63` overflowed SQLite's driver and PostgreSQL's bigint (500s)."""
    with site.api() as http:
        for name, value in (
            ("offset", OVER),
            ("offset", BIG),
            ("offset", "-1"),
            ("offset", "1e3"),
            ("limit", "0"),
            ("limit", "101"),
            ("limit", "\u0663"),  # ARABIC-INDIC DIGIT THREE: int() takes it, we do not
            ("limit", " 5"),
        ):
            answer = http.get("/datasets", params={name: value})
            _refused(answer, f"« {name} » : un entier de")
            assert answer.json()["code"] == "InvalidParameter"
        english = http.get("/datasets", params={"offset": OVER, "lang": "en"})
        _refused(english, "“offset”: an integer from 0 to 9007199254740992")
        deep = http.get("/datasets", params={"offset": str(2**53)})
        assert deep.status_code == 200 and deep.json()["items"] == []


def test_api_refuses_nul_characters_and_changes_nothing(site: Site):
    """U+0000 in a JSON body, a form field, a query or a path was a 500 on PostgreSQL
    (SQLite stored it): a 422/400/404 naming the place, and nothing written."""
    before = snapshot(site.backend)
    with site.api() as http:
        created = http.post("/datasets", json={"organisation": ORG, "title": "a\x00b"})
        _refused(created, "caractère nul (U+0000) refusé dans « title »", status=422)
        nested = http.patch("/datasets/mesures", json={"keywords": ["a", "b\x00"]})
        _refused(nested, "« keywords.1 »", status=422)
        english = http.patch("/datasets/mesures?lang=en", json={"description": "\x00"})
        _refused(english, "null character (U+0000) refused in “description”", status=422)
        _refused(http.get("/datasets", params={"organisation": ORG + "\x00"}), "caractère nul")
        _refused(http.get("/datasets/mesures%00"), "adresse inconnue", status=404)
        field = http.post(
            "/datasets/mesures/resources",
            files={"file": ("notice.txt", b"notice\n", "text/plain")},
            data={"title": "Notice\x00"},
        )
        _refused(field, "caractère nul (U+0000) refusé dans « title »", status=422)
        deep = http.patch(
            "/datasets/mesures",
            content=b"[" * 100_000,
            headers={"content-type": "application/json"},
        )
        _refused(deep, "JSON attendu")
    assert snapshot(site.backend) == before


def test_nul_in_any_path_is_not_found(site: Site):
    """A slug with U+0000 reached PostgreSQL from the portal's pages (500) and broke the
    CSW proxy on both backends (500): one 404 for every interface."""
    for path in (
        "/organisations/gouvernement-nc%00",
        "/reutilisations/x%00",
        "/code/x%00",
        "/evenements/x%00",
        "/jeux-de-donnees/mesures%00",
        "/csw/x%00",
        "/ogc/collections/mesures%00/items",
        "/api/organisations/x%00",
    ):
        answer = httpx.get(site.base + path, timeout=60)
        assert answer.status_code == 404, (path, answer.text)
        assert "caractère nul (U+0000)" in answer.text
    assert httpx.get(f"{site.base}/organisations/gouvernement-nc", timeout=60).status_code == 200


def test_portal_forms_refuse_nul_characters(site: Site):
    """Signing in with U+0000 in the e-mail was a 500 on PostgreSQL (the user lookup): a
    400 page that says what is wrong, for every form of the portal (one check where the
    forms are read)."""
    with httpx.Client(base_url=site.base, timeout=60) as http:
        token = csrf_of(http.get("/connexion").text)
        fields = {"csrf": token, "email": "admin\x00@exemple.nc", "password": "x", "next": "/"}
        answer = http.post("/connexion", data=fields)
        assert answer.status_code == 400
        assert "Requête invalide" in answer.text and "caractère nul" in answer.text
        fields.update(email="admin@exemple.nc", password="mot-de-passe-de-test")
        assert http.post("/connexion", data=fields).status_code == 303  # signed in


def _multipart(filename: bytes) -> bytes:
    """A multipart body with the file name as raw bytes (clients percent-encode NUL)."""
    return (
        b"--LIMITE\r\n"
        b'Content-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        b"Content-Type: text/csv\r\n\r\n"
        b"code,nom\n1,un\n\r\n"
        b"--LIMITE--\r\n"
    )


@pytest.mark.parametrize("name", [b"pi\x00ece.csv", b"x.csv\x00.exe", b"\x00", b"a\nb.csv"])
def test_upload_file_name_with_control_characters(site: Site, name: bytes):
    """A NUL in the upload's file name was a 500 on PostgreSQL: a French 422 (English with
    ?lang=en) for files and layer data alike, and nothing stored (S16)."""
    before = snapshot(site.backend)
    headers = {"content-type": "multipart/form-data; boundary=LIMITE"}
    with site.api() as http:
        for path in ("/datasets/mesures/resources", "/datasets/mesures/layers"):
            answer = http.post(path, content=_multipart(name), headers=headers)
            _refused(answer, "nom de fichier invalide : caractères de contrôle", status=422)
            assert answer.json()["code"] == "InvalidUpload"
        english = http.post(
            "/datasets/mesures/layers?lang=en", content=_multipart(name), headers=headers
        )
        _refused(english, "invalid file name: control characters", status=422)
    assert snapshot(site.backend) == before
    incoming = site.backend.settings.data_dir / "incoming"
    assert not incoming.exists() or not any(incoming.iterdir())
