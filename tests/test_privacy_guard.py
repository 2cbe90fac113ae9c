"""The personal-data guard on both backends (niaouli/privacy, docs/privacy.md).

A CSV of people uploaded as public is held as a draft; it cannot be published through
the command line, the API or the portal until each column found is dropped, hashed,
generalised or confirmed with a reason; the actions change what every interface serves
(OGC API items, the portal's exports); the confirmation is in the audit log; columns
that only look personal (RIDET, 988xx postcodes, ordinary dates, communes) are never
named; a layer of a million rows and a value of megabytes are scanned in bounded time.
"""

from __future__ import annotations

import csv
import io
import json
import time

import httpx
from sqlalchemy import select

from niaouli.accounts import tokens, users
from niaouli.accounts.account_tables import AuditEvent
from niaouli.catalogue import service
from niaouli.catalogue.models import AccessLevel, Dataset
from niaouli.ingest import ingest_file
from niaouli.privacy import scan
from tests.accounts_support import PASSWORD, LoggedServer, csrf_of, sign_in

ORG = "province-sud"
EDITOR = "editrice@exemple.nc"
ROWS = [
    # nom, prenom, telephone, date_naissance, adresse, commune, ridet, code_postal, date_releve
    ("WAMYTAN", "Waïa", "+687 75 12 34", "1978-03-12", "12 rue Higginson, Nouméa", "Nouméa"),
    ("TUIHANI", "Malia", "28.45.12", "1985-06-30", "BP 123 98860 Koné", "Koné"),
    ("NGUYEN", "Thi", "79 01 02", "2001-01-01", "3 avenue James Cook, Nouméa", "Nouméa"),
    (
        "LAFLEUR",
        "Jean-Marc",
        "00687 951234",
        "1969-11-23",
        "Lot 4 route de Poé, Bourail",
        "Bourail",
    ),
    ("GOROMIDO", "Sosefo", "+687 27 99 88", "1990-02-14", "8 rue Duquesne, Païta", "Païta"),
    ("HNAWIA", "Hnalaine", "52 11 22", "1955-07-01", "14 rue Jean Jaurès, Lifou", "Lifou"),
]
PERSONAL = {"nom", "prenom", "telephone", "date_naissance", "adresse"}


def _csv(path) -> None:  # noqa: ANN001
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "nom",
                "prenom",
                "telephone",
                "date_naissance",
                "adresse",
                "commune",
                "ridet",
                "code_postal",
                "date_releve",
                "lon",
                "lat",
            ]
        )
        for i, row in enumerate(ROWS * 3):
            writer.writerow(
                [
                    *row,
                    f"{1234560 + i}.00{i % 9 + 1}",
                    "98800",
                    f"2024-0{i % 9 + 1}-15",
                    166.44 + i / 1000,
                    -22.27,
                ]
            )


def _setup(backend, tmp_path, slug: str) -> str:  # noqa: ANN001
    """An organisation, its editor (a write token, returned) and the CSV ingested as public."""
    with backend.session() as session, session.begin():
        try:
            org = service.get_organisation(session, ORG)
        except service.NotFoundError:
            org = service.create_organisation(session, ORG, "Province Sud", "province")
        user = users.find_user(session, EDITOR) or users.create_user(
            session, EDITOR, "Éditrice", PASSWORD
        )
        users.set_membership(session, org, user, "editor")
        _token, secret = tokens.create_token(session, user, "tests", "write")
    path = tmp_path / f"{slug}.csv"
    _csv(path)
    report = ingest_file(
        path,
        organisation=ORG,
        dataset=slug,
        access_level="public",
        settings=backend.settings,
        engine=backend.engine,
        progress="none",
    )
    assert report.held and {f["column"] for f in report.privacy} == PERSONAL
    assert any("brouillon" in n for layer in report.layers for n in layer.notes)
    return secret


def _dataset(backend, slug: str):  # noqa: ANN001, ANN202
    with backend.session() as session:
        dataset = service.find_dataset(session, slug)
        return dataset.access_level, dataset.layers[0].collection_id, dataset.layers[0].name


def test_command_line_refuses_then_publishes_once_handled(backend, tmp_path):
    _setup(backend, tmp_path, "registre-cli")
    level, collection, _name = _dataset(backend, "registre-cli")
    assert level == AccessLevel.DRAFT  # held by the ingestion
    refused = backend.run("dataset", "publish", "registre-cli", check=False)
    assert refused.returncode == 1
    for column in PERSONAL:
        assert f"colonne « {column} »" in refused.stderr
    for kind in ("nom de personne", "numéro de téléphone", "date de naissance", "adresse postale"):
        assert kind in refused.stderr
    for look_alike in ("commune", "ridet", "code_postal", "date_releve"):
        assert f"« {look_alike} »" not in refused.stderr
    found = json.loads(backend.run("privacy", "scan", "registre-cli", "--json").stdout)
    assert {(f["column"], f["kind"]) for f in found["open"]} == {
        ("nom", "name"),
        ("prenom", "name"),
        ("telephone", "phone"),
        ("date_naissance", "birth_date"),
        ("adresse", "address"),
    }
    assert found["held"] is True
    backend.run("privacy", "anonymise", "registre-cli", collection, "telephone", "--action", "drop")
    backend.run(
        "privacy",
        "confirm",
        "registre-cli",
        collection,
        "nom",
        "prenom",
        "date_naissance",
        "adresse",
        "--reason",
        "registre public par arrêté n° 2024-12",
    )
    backend.run("dataset", "publish", "registre-cli")
    assert _dataset(backend, "registre-cli")[0] == AccessLevel.PUBLIC
    with backend.session() as session:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("dataset.privacy_%"))
        ).all()
    confirms = [r for r in rows if r.action == "dataset.privacy_confirm"]
    assert len(confirms) == 4 and all(r.via == "cli" for r in confirms)
    assert confirms[0].details["reason"] == "registre public par arrêté n° 2024-12"
    assert [r.details["column"] for r in rows if r.action == "dataset.privacy_drop"] == [
        "telephone"
    ]


def _items(http: httpx.Client, collection: str) -> list[dict]:
    answer = http.get(f"/ogc/collections/{collection}/items", params={"f": "json", "limit": 50})
    assert answer.status_code == 200, answer.text[:300]
    return [f["properties"] for f in answer.json()["features"]]


def test_api_and_portal_refuse_and_the_actions_change_served_data(backend, tmp_path):
    secret = _setup(backend, tmp_path, "registre-api")
    _level, collection, layer_name = _dataset(backend, "registre-api")
    _setup(backend, tmp_path, "registre-portail")
    _level, portal_collection, _ = _dataset(backend, "registre-portail")
    auth = {"Authorization": f"Bearer {secret}"}
    with (
        LoggedServer(backend, tmp_path / "server.log") as server,
        httpx.Client(base_url=server.url, timeout=120) as http,
    ):
        api = "/api/datasets/registre-api"
        refused = http.post(f"{api}/publish", json={"access_level": "public"}, headers=auth)
        assert refused.status_code == 409, refused.text
        body = refused.json()
        assert body["code"] == "PersonalData" and "« telephone »" in body["description"]
        assert {f["column"] for f in body["findings"]} == PERSONAL
        english = http.post(f"{api}/publish?lang=en", json={}, headers=auth).json()
        assert "personal data" in english["description"]
        short = http.post(
            f"{api}/privacy/confirm",
            headers=auth,
            json={"layer": collection, "column": "prenom", "reason": "bof"},
        )
        assert short.status_code == 422
        for column, action in (
            ("nom", "hash"),
            ("telephone", "drop"),
            ("date_naissance", "generalise"),
            ("adresse", "generalise"),
        ):
            done = http.post(
                f"{api}/privacy/anonymise",
                headers=auth,
                json={"layer": collection, "column": column, "action": action},
            )
            assert done.status_code == 200, done.text
        status = done.json()
        assert [f["column"] for f in status["open"]] == ["prenom"]
        bad = http.post(
            f"{api}/privacy/anonymise",
            headers=auth,
            json={"layer": collection, "column": "prenom", "action": "generalise"},
        )
        assert bad.status_code == 422  # a first name has no generalisation
        ok = http.post(
            f"{api}/privacy/confirm",
            headers=auth,
            json={"layer": collection, "column": "prenom", "reason": "prénoms seuls, sans nom"},
        )
        assert ok.status_code == 200 and ok.json()["open"] == []
        assert http.post(f"{api}/publish", json={}, headers=auth).status_code == 200
        # What everyone is served: OGC API items and the portal's CSV export.
        served = _items(http, collection)
        assert len(served) == len(ROWS) * 3 and "telephone" not in served[0]
        originals = {r[0] for r in ROWS}
        hashed = {p["nom"] for p in served}
        assert len(hashed) == len(originals) and not hashed & originals
        assert all(len(h) == 16 for h in hashed)
        assert {p["date_naissance"] for p in served} == {int(r[3][:4]) for r in ROWS}
        assert {p["adresse"] for p in served} == {r[5] for r in ROWS}
        assert {p["prenom"] for p in served} == {r[1] for r in ROWS}  # confirmed: kept
        export = http.get(f"/jeux-de-donnees/registre-api/couches/{layer_name}/{collection}.csv")
        assert export.status_code == 200
        table = list(csv.DictReader(io.StringIO(export.text)))
        assert "telephone" not in table[0] and {r["nom"] for r in table} == hashed
        assert {r["adresse"] for r in table} == {r[5] for r in ROWS}

        # The portal: the management page lists the findings and the ways out;
        # publishing is refused with the columns named; a hash by form changes the data.
        assert sign_in(http, EDITOR).status_code == 303
        page = "/jeux-de-donnees/registre-portail"
        edit = http.get(f"{page}/modifier")
        assert edit.status_code == 200 and "<code>telephone</code>" in edit.text
        assert 'value="hash"' in edit.text and 'name="reason"' in edit.text
        token = csrf_of(edit.text)
        published = http.post(f"{page}/publier", data={"csrf": token, "access_level": "public"})
        assert published.status_code == 303
        assert published.headers["location"].endswith("/donnees-personnelles?refus=1")
        shown = http.get(published.headers["location"])
        assert shown.status_code == 409 and "Publication refusée" in shown.text
        assert "<code>date_naissance</code>" in shown.text
        for column in ("nom", "prenom", "telephone", "date_naissance", "adresse"):
            action = (
                {"do": "drop"}
                if column != "prenom"
                else {"do": "confirm", "reason": "prénoms d'usage, sans nom associé"}
            )
            sent = http.post(
                f"{page}/donnees-personnelles",
                data={"csrf": token, "layer": portal_collection, "column": column, **action},
            )
            assert sent.status_code == 303, sent.text[:500]
        after = http.get(f"{page}/donnees-personnelles")
        assert "Aucune donnée" in after.text or "<code>nom</code>" not in after.text
        again = http.post(f"{page}/publier", data={"csrf": token, "access_level": "public"})
        assert again.headers["location"].endswith("/modifier?ok=1")
        served = _items(http, portal_collection)
        assert set(served[0]) >= {"prenom", "commune"} and "nom" not in served[0]
    assert _dataset(backend, "registre-portail")[0] == AccessLevel.PUBLIC


class _Layer:
    collection_id = "grande"
    table_name = "lyr_0000000000grande"
    attribute_schema = [{"name": "valeur", "column": "valeur", "type": "string"}]


def test_scan_of_a_large_layer_and_a_huge_value_is_bounded(backend):
    """A million distinct values and one value of 20 MB: a few hundred look-ups, cut."""
    qualified = ("layers." if backend.name == "postgis" else "") + _Layer.table_name
    with backend.engine.begin() as conn:
        if backend.name == "postgis":
            conn.exec_driver_sql(
                f"CREATE TABLE {qualified} AS SELECT g::bigint AS fid, md5(g::text) AS valeur "
                "FROM generate_series(1, 1000000) g"
            )
            conn.exec_driver_sql(f"ALTER TABLE {qualified} ADD PRIMARY KEY (fid)")
        else:
            conn.exec_driver_sql(f"CREATE TABLE {qualified} (fid INTEGER PRIMARY KEY, valeur TEXT)")
            conn.exec_driver_sql(
                f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g "
                f"WHERE n < 1000000) INSERT INTO {qualified} SELECT n, hex(randomblob(8)) FROM g"
            )
        conn.exec_driver_sql(
            f"UPDATE {qualified} SET valeur = :v WHERE fid = 1".replace(
                ":v", "'" + "x" * 20_000_000 + "'"
            )
        )
    with backend.engine.connect() as conn:
        started = time.perf_counter()
        found = scan.scan_layer(conn, _Layer())
        seconds = time.perf_counter() - started
    assert found == [] and seconds < 3, seconds


def test_a_harvest_holds_a_copied_table_of_people_as_a_draft(backend, tmp_path, monkeypatch):
    """A CKAN record whose CSV lists people: created public, its data copied, then held."""
    from niaouli.ingest.harvest.harvest_tables import JobStatus
    from tests import harvest_support
    from tests.harvest_support import FakeCkan, FakeRemote, add_source_for, commune_items

    people = tmp_path / "population.csv"
    _csv(people)
    monkeypatch.setattr(harvest_support, "POPULATION", people)
    with backend.session() as session, session.begin():
        service.create_organisation(session, ORG, "Province Sud", "province")
    remote = FakeRemote(FakeCkan())
    try:
        remote.handler.base = remote.url
        remote.handler.items = [
            i for i in commune_items(remote.url) if i["id"] == "isee-population"
        ]
        slug = add_source_for(backend, ORG, remote.url + "/", "ckan-sud", "ckan", data="true")
        report = harvest_support.harvest(backend, slug)
        assert report.status == JobStatus.SUCCESS, report.message
        item = report.items[0]
        assert "« telephone »" in item.diff["données personnelles"]
        with backend.session() as session:
            dataset = session.scalars(select(Dataset)).one()
            assert dataset.access_level == AccessLevel.DRAFT and dataset.layers
        again = harvest_support.harvest(backend, slug, force=True)  # no publication by itself
        assert again.status == JobStatus.SUCCESS, again.message
        with backend.session() as session:
            assert session.scalars(select(Dataset)).one().access_level == AccessLevel.DRAFT
    finally:
        remote.close()


def test_restoring_a_version_with_people_into_a_public_dataset_holds_it(backend, tmp_path):
    """Members-only data with people, replaced by a clean file and published, then the
    old version restored: the guard holds the dataset as a draft again."""
    from niaouli.catalogue import publication, versions
    from niaouli.catalogue.access import Viewer

    people, clean = tmp_path / "people.csv", tmp_path / "clean.csv"
    _csv(people)
    clean.write_text("commune,population\nNouméa,94285\nKoné,8144\n", encoding="utf-8")
    with backend.session() as session, session.begin():
        service.create_organisation(session, ORG, "Province Sud", "province")
    options = {"organisation": ORG, "dataset": "registre-v", "progress": "none"}
    options |= {"settings": backend.settings, "engine": backend.engine}
    assert not ingest_file(people, access_level="organisation", **options).held
    assert not ingest_file(clean, keep_version=True, **options).held
    with backend.session() as session, session.begin():
        dataset = service.find_dataset(session, "registre-v")
        publication.publish(session, dataset, Viewer.system(), "public")
    with backend.session() as session, session.begin():
        dataset = service.find_dataset(session, "registre-v")
        [kept] = versions.listed(session, dataset.id)
        versions.restore_version(session, Viewer.system(), dataset, kept.id)
    assert _dataset(backend, "registre-v")[0] == AccessLevel.DRAFT
