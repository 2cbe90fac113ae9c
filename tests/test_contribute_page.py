"""The volunteer's contribution page and its JSON endpoints over a live server, on both
backends (issue 18 §2): the form generated from the schema, CSRF on every write,
property names checked against the schema, uids idempotent, photos stripped of EXIF and
shown only to who may see the contribution, field files with a per-feature report,
hostile files refused with nothing stored, "my contributions" with state and comment.

Before: none of these routes existed (the page was a 404).
"""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from niaouli import storage
from niaouli.catalogue import lifecycle
from niaouli.catalogue.campaigns.campaign_tables import Contribution, ContributionState
from niaouli.ingest import photos
from tests.accounts_support import LoggedServer, sign_in
from tests.conftest import fresh_backend
from tests.contribute_support import (
    EDITOR,
    INSIDE,
    OTHER,
    PASSWORD,
    SLUG,
    VOLUNTEER,
    VOLUNTEER_NAME,
    make_campaign,
)
from tests.portal_support import validate_html5
from tests.test_contribute_photos import GPS, phone_jpeg

BASE = f"/campagnes/{SLUG}/contribuer"
GPX = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="eTrex 32x" xmlns="http://www.topografix.com/GPX/1/1">
  <wpt lat="-22.2761" lon="166.4569"><name>B-101</name><type>poteau</type></wpt>
  <wpt lat="-22.2702" lon="166.4490"><name>B-102</name></wpt>
  <wpt lat="-21.5000" lon="165.9000"><name>B-103</name><type>bouche</type></wpt>
</gpx>"""


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def site(request, tmp_path_factory):
    """One live server per backend for the module (the tests use their own uids)."""
    folder = tmp_path_factory.mktemp(f"contribuer-{request.param}")
    with fresh_backend(request, request.param, folder) as backend:
        made = make_campaign(backend, folder)
        with LoggedServer(backend, folder / "server.log") as live:
            yield live, made, backend


def client(live, email: str | None = VOLUNTEER) -> tuple[httpx.Client, str]:
    http = httpx.Client(base_url=live.url, timeout=60)
    if email is None:
        return http, ""
    assert sign_in(http, email, PASSWORD).status_code == 303
    page = http.get(BASE)
    assert page.status_code == 200, page.text[:500]
    match = re.search(r'data-csrf="([^"]+)"', page.text)
    assert match, "page without CSRF token"
    return http, match.group(1)


def feature(uid: str | None = None, **properties):
    return {
        "uid": uid or str(uuid.uuid4()),
        "geometry": {"type": "Point", "coordinates": list(INSIDE)},
        "properties": {"nom": "B-200", "type_borne": "bouche", **properties},
    }


def post(http: httpx.Client, token: str, body, **headers) -> httpx.Response:
    return http.post(f"{BASE}/envoi", json=body, headers={"X-CSRF-Token": token, **headers})


def test_page_form_sending_and_my_contributions(site):
    live, made, backend = site
    anonymous = httpx.get(live.url + BASE, follow_redirects=False)
    assert anonymous.status_code == 303 and "/connexion?suivant=" in anonymous.headers["location"]

    http, token = client(live)
    html = http.get(BASE).text
    # The form from the schema: labels, help, required, the enumeration as a select.
    assert "Nom de la borne" in html and "Le numéro peint sur la borne." in html
    assert '<select id="champ-1" name="type_borne"' in html and '<option value="bouche">' in html
    assert 'name="nom" data-kind="string" maxlength="100" required' in html
    assert 'type="checkbox" id="champ-3" name="accessible"' in html
    # Credit: the account's display name, never its e-mail.
    assert f'value="{VOLUNTEER_NAME}"' in html and VOLUNTEER not in html
    assert "ODbL" in html and "/static/js/contribute.js" in html
    if backend.name == "sqlite":  # the same template on both: checked once
        assert validate_html5({"contribuer": html}, made_folder(live)) == []
    english = http.get(BASE, params={"lang": "en"}).text
    assert "Hydrant name" in english and "Send a field file" in english
    assert "Envoyer" in http.get(BASE, params={"lang": "fr"}).text  # back to French

    # No CSRF token, another account's queue, unknown property: refused, nothing stored.
    assert http.post(f"{BASE}/envoi", json={"features": [feature()]}).status_code == 403
    other = post(http, token, {"features": [feature()]}, **{"X-Niaouli-User": "999999"})
    assert other.status_code == 409 and other.json()["code"] == "OtherAccount"
    bad = post(http, token, {"features": [feature(**{"exec(1)": "x"})]})
    assert bad.status_code == 400 and "champ inconnu de la campagne" in bad.json()["error"]
    assert "exec" not in str(_contributions(backend))

    # A valid one, then the same uid again: one contribution (idempotent).
    uid = str(uuid.uuid4())
    first = post(http, token, {"features": [feature(uid, debit=60.5)], "display_name": "Jeanne B."})
    assert first.status_code == 200, first.text
    (row,) = first.json()["results"]
    assert row["status"] == "sent" and row["uid"] == uid
    again = post(http, token, {"features": [feature(uid, debit=60.5)], "source": "offline"})
    assert again.json()["results"][0]["id"] == row["id"]
    assert [u for u, _p in _contributions(backend)].count(uid) == 1

    # A refused one (required field missing): its reason, in French.
    refused = post(http, token, {"features": [feature(nom=None)]})
    (answer,) = refused.json()["results"]
    assert answer["status"] == "refused" and answer["problems"]
    assert any(p["field"] == "nom" for p in answer["problems"])

    # An e-mail as display name is refused.
    assert post(http, token, {"features": [feature()], "display_name": "a@b.nc"}).status_code == 400

    # My contributions: state and the reviewer's comment; another volunteer sees none.
    with backend.session() as session, session.begin():
        stored = session.scalar(select(Contribution).where(Contribution.uid == uid))
        stored.state = ContributionState.HAS_ISSUES
        stored.review_comment = "Précisez le débit mesuré."
    mine = {c["uid"]: c for c in http.get(f"{BASE}/mes-contributions").json()["contributions"]}
    assert (mine[uid]["state_label"], mine[uid]["comment"]) == (
        "à corriger",
        "Précisez le débit mesuré.",
    )
    assert {"label": "Débit (m³/h)", "value": 60.5} in mine[uid]["properties"]
    other_http, _token = client(live, OTHER)
    theirs = other_http.get(f"{BASE}/mes-contributions").json()["contributions"]
    assert uid not in {c["uid"] for c in theirs}


def made_folder(live) -> Path:
    """A folder of the module's for the HTML checker's files (beside the server log)."""
    return live.log_path.parent


def _contributions(backend) -> list[tuple[str, dict]]:
    with backend.session() as session:
        return [(c.uid, c.properties) for c in session.scalars(select(Contribution))]


def test_photo_is_stripped_and_shown_only_to_who_may_see_it(site):
    live, made, backend = site
    http, token = client(live)
    sent = phone_jpeg((1200, 900), orientation=1)
    assert Image.open(io.BytesIO(sent)).getexif().get_ifd(0x8825) == GPS
    headers = {"X-CSRF-Token": token, "X-Filename": "IMG_0001.JPG", "Content-Type": "image/jpeg"}
    answer = http.post(f"{BASE}/photo", content=sent, headers=headers)
    assert answer.status_code == 200, answer.text
    key = answer.json()["key"]
    assert photos.is_photo_key(key)
    stored = b"".join(storage.read(backend.settings, key, photos.FILENAME))
    assert b"Exif" not in stored and b"NiaouliPhone" not in stored
    assert dict(Image.open(io.BytesIO(stored)).getexif()) == {}

    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    posing = http.post(f"{BASE}/photo", content=svg, headers=headers)
    assert posing.status_code == 400 and "SVG" in posing.json()["error"]
    assert http.post(f"{BASE}/photo", content=sent).status_code == 403  # no CSRF token

    uid = str(uuid.uuid4())
    body = {"features": [{**feature(uid), "photo_key": key}]}
    assert post(http, token, body).json()["results"][0]["status"] == "sent"
    forged = post(http, token, {"features": [{**feature(), "photo_key": "../../etc"}]})
    assert forged.status_code == 400
    url = f"{BASE}/photos/{key}"
    shown = http.get(url)
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
    assert shown.headers["x-content-type-options"] == "nosniff" and shown.content == stored
    other_http, _token = client(live, OTHER)
    assert other_http.get(url).status_code == 404
    editor_http, _token = client(live, EDITOR)
    assert editor_http.get(url).status_code == 200

    # The clean-up keeps the photo a contribution names, and removes a stray one.
    stray = photos.store(photos.sanitise(sent), backend.settings)
    report = lifecycle.cleanup(backend.engine, backend.settings, min_age_seconds=0)
    assert stray in report.files and key not in report.files
    assert photos.exists(backend.settings, key) and not photos.exists(backend.settings, stray)


def test_field_file_report_and_hostile_files(site):
    live, made, backend = site
    http, token = client(live)
    headers = {
        "X-CSRF-Token": token,
        "X-Filename": "releve-etrex.gpx",
        "X-Display-Name": "Jeanne%20B.",
    }
    answer = http.post(f"{BASE}/fichier", content=GPX.encode(), headers=headers)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["format"] == "GPX" and report["filename"] == "releve-etrex.gpx"
    rows = {r["where"]: r for r in report["results"]}
    assert len(rows) == 3
    assert rows["objet 1 de « waypoints »"]["status"] == "sent"  # B-101, a poteau
    # B-102 has no type (required): refused with the field named.
    assert rows["objet 2 de « waypoints »"]["status"] == "refused"
    second = rows["objet 2 de « waypoints »"]["problems"]
    assert [(p["code"], p["field"]) for p in second] == [("required", "type_borne")]
    assert second[0]["message"] == "le champ « Type » est obligatoire"
    # B-103 was taken far from Nouméa: outside the campaign's area.
    third = rows["objet 3 de « waypoints »"]
    assert third["status"] == "refused"
    assert [p["code"] for p in third["problems"]] == ["outside_area"]
    with backend.session() as session:
        count = session.scalar(select(func.count()).select_from(Contribution))
    # The same file again: nothing new.
    again = http.post(f"{BASE}/fichier", content=GPX.encode(), headers=headers).json()
    assert again["sent"] == report["sent"]
    with backend.session() as session:
        assert session.scalar(select(func.count()).select_from(Contribution)) == count

    xxe = GPX.replace("<gpx", '<!DOCTYPE gpx [<!ENTITY e SYSTEM "file:///etc/passwd">]><gpx', 1)
    xxe = xxe.replace("<name>B-101</name>", "<name>&e;</name>")
    hostile = http.post(f"{BASE}/fichier", content=xxe.encode(), headers=headers)
    assert hostile.status_code == 400 and "DTD ou entités refusé" in hostile.json()["error"]
    traversal = {**headers, "X-Filename": "..%2F..%2Fetc%2Fpasswd"}
    named = http.post(f"{BASE}/fichier", content=b"%PDF-1.7", headers=traversal)
    assert named.status_code == 400 and "passwd" in named.json()["error"]
    assert "/etc" not in named.json()["error"]
    too_big = http.post(f"{BASE}/fichier", content=b"0" * ((20 << 20) + 10), headers=headers)
    assert too_big.status_code == 413 and "trop gros" in too_big.json()["error"]
    with backend.session() as session:
        assert session.scalar(select(func.count()).select_from(Contribution)) == count
    assert http.get(BASE).status_code == 200
