"""The quality score (issue 21 §1), on both backends.

Scores are computed in the writing transaction and stored; fixing a criterion moves the
score (and the CSW record with it); search facets and sorts on it; the dataset page
shows each criterion with its advice; the organisation's dashboard is for its editors
only; DCAT carries DQV measurements and still passes DCAT-AP 3's SHACL shapes; the ISO
record has the reports in its data quality section; link checks run as a job against a
real loopback server that answers 404 for a missing file.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lxml import etree
from rdflib import Graph, Namespace
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from niaouli.accounts import users
from niaouli.catalogue import quality, quality_store, service
from niaouli.catalogue.models import Dataset, Resource, ResourceKind
from niaouli.db.engine import writing
from niaouli.ingest import linkcheck
from niaouli.jobs import inline, registry
from tests.accounts_support import PASSWORD
from tests.ports import free_port

DQV = Namespace("http://www.w3.org/ns/dqv#")
GMD = "http://www.isotc211.org/2005/gmd"
GCO = "http://www.isotc211.org/2005/gco"
LONG = (
    "Arrêts du réseau de bus de l'agglomération de Nouméa, relevés sur le terrain par la "
    "province Sud en 2025, avec leur nom, leur commune et les lignes qui les desservent."
)
ORG = "province-sud"


def _make(backend, slug: str, **fields) -> int:  # noqa: ANN001, ANN003
    with backend.session() as session, session.begin():
        try:
            org = service.get_organisation(session, ORG)
        except service.NotFoundError:
            org = service.create_organisation(session, ORG, "Province Sud", "province")
        return service.create_dataset(session, org, f"{ORG}--{slug}", slug.title(), **fields).id


def _stored(backend, dataset_id: int) -> dict:  # noqa: ANN001
    with backend.engine.connect() as conn:
        return quality_store.scores(conn, [dataset_id])[dataset_id]


def _statuses(stored: dict) -> dict[str, str]:
    return {entry["key"]: entry["status"] for entry in stored["criteria"]}


def test_rules_exclude_what_does_not_apply_and_judge_freshness():
    now = datetime(2026, 12, 7, tzinfo=UTC)
    base = quality.DatasetFacts(
        id=1,
        licence="Licence Ouverte 2.0",
        description=LONG,
        temporal_start=None,
        temporal_end=None,
        has_spatial_coverage=False,
        update_frequency="monthly",
        last_update=now - timedelta(days=20),
    )
    score = quality.evaluate(base, now)
    statuses = {k: o.status for k, o in score.results.items()}
    # No layer, no resource: their criteria are left out, not failed.
    for key in ("crs_declared", "extent", "geometries", "columns", "features", "table_schema"):
        assert statuses[key] == quality.NA, key
    assert statuses["reachable"] == statuses["documented"] == quality.NA
    assert statuses["on_time"] == quality.OK
    assert (score.passed, score.counted, score.score) == (4, 6, 67)
    late = quality.evaluate(
        quality.DatasetFacts(**{**base.__dict__, "last_update": now - timedelta(days=40)}), now
    )
    assert late.results["on_time"].status == quality.FAIL
    irregular = quality.evaluate(
        quality.DatasetFacts(**{**base.__dict__, "update_frequency": "irregular"}), now
    )
    assert irregular.results["on_time"].status == quality.NA
    layer = quality.LayerFacts(
        name="arrets",
        has_geometry=True,
        native_crs="EPSG:3163",
        crs_guessed=True,
        extent=(2.0, 48.0, 3.0, 49.0),  # Paris: coordinates read in the wrong CRS
        feature_count=100,
        repaired=5,
        columns=(("nom", "text", "Nom de l'arrêt"), ("ligne", "integer", "")),
    )
    table = quality.LayerFacts("lignes", False, None, False, None, 10, 0, (("n", "text", "x"),))
    with_layers = quality.evaluate(
        quality.DatasetFacts(**{**base.__dict__, "layers": (layer, table)}), now
    )
    statuses = {k: o.status for k, o in with_layers.results.items()}
    assert statuses["crs_declared"] == statuses["extent"] == quality.FAIL
    assert statuses["geometries"] == statuses["columns"] == quality.FAIL
    assert statuses["features"] == statuses["spatial"] == quality.OK
    assert statuses["table_schema"] == quality.PENDING  # TODO hook: no schema attached
    assert with_layers.results["columns"].detail["columns"] == "ligne"
    assert quality.band(90) == "haute" and quality.band(60) == "moyenne"
    assert quality.band(10) == "basse" and quality.band(None) is None


def test_score_is_stored_and_fixing_a_criterion_moves_it_and_the_iso_record(backend):
    dataset_id = _make(backend, "arrets", description="Arrêts de bus.", update_frequency="")
    before = _stored(backend, dataset_id)
    assert _statuses(before)["description"] == quality.FAIL
    assert _statuses(before)["frequency"] == quality.FAIL
    with backend.session() as session, session.begin():
        dataset = session.get(Dataset, dataset_id)
        service.update_dataset(session, dataset, description=LONG, update_frequency="annual")
    after = _stored(backend, dataset_id)
    assert _statuses(after)["description"] == _statuses(after)["frequency"] == quality.OK
    assert after["score"] > before["score"]
    assert (after["passed"], after["counted"]) == (before["passed"] + 3, before["counted"] + 1)
    # The ISO record, rebuilt in the same transaction, carries it.
    with backend.engine.connect() as conn:
        xml = conn.execute(
            text("SELECT xml FROM csw_records WHERE dataset_id = :id"), {"id": dataset_id}
        ).scalar_one()
    root = etree.fromstring(xml.encode("utf-8"))
    section = root.find(f"{{{GMD}}}dataQualityInfo/{{{GMD}}}DQ_DataQuality")
    tags = [etree.QName(child).localname for child in section]
    assert tags[0] == "scope" and tags[-1] == "lineage" and tags.count("report") == 1 + 6
    codes = {
        c.text
        for c in section.iterfind(f".//{{{GMD}}}measureIdentification//{{{GCO}}}CharacterString")
    }
    assert {"niaouli-qualite:score", "niaouli-qualite:description"} <= codes
    score_value = section.find(f".//{{{GMD}}}DQ_QuantitativeResult/{{{GMD}}}value/{{{GCO}}}Record")
    assert score_value.text == str(after["score"])
    passes = section.findall(f".//{{{GMD}}}pass/{{{GCO}}}Boolean")
    assert len(passes) == 6 and sum(p.text == "true" for p in passes) == after["passed"]


class _Remote(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200 if self.path == "/present.csv" else 404)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: object) -> None:
        return


@contextmanager
def remote() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Remote)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _link(backend, dataset_id: int, url: str, title: str) -> None:  # noqa: ANN001
    with backend.session() as session, session.begin():
        dataset = session.get(Dataset, dataset_id)
        dataset.resources.append(
            Resource(title=title, kind=ResourceKind.LINK, url=url, format="CSV")
        )


def test_link_checks_run_as_a_job_and_mark_an_unreachable_link(backend):
    dataset_id = _make(backend, "liens", description=LONG)
    with remote() as base:
        _link(backend, dataset_id, f"{base}/present.csv", "Fichier présent")
        _link(backend, dataset_id, f"{base}/absent.csv", "Fichier absent")
        assert _statuses(_stored(backend, dataset_id))["reachable"] == quality.PENDING
        # The safe client refuses loopback unless asked (as harvest sources are).
        refused = linkcheck.check_links(backend.settings, [dataset_id])
        assert refused["unreachable"] == 2
        with backend.engine.connect() as conn:
            errors = [r[0] for r in conn.execute(text("SELECT error FROM link_checks ORDER BY 1"))]
        assert all("adresse refusée" in e for e in errors)
        # The registered job, run by the inline backend as `jobs.submit` does on SQLite.
        job = registry.get(linkcheck.LINK_CHECK)
        thread = inline.start(
            job, backend.settings, dataset_ids=[dataset_id], allow_private_network=True
        )
        thread.join(30)
        assert not thread.is_alive()
    with backend.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT url, reachable, status FROM link_checks ORDER BY resource_id")
        ).all()
    assert [(r[1], r[2]) for r in rows] == [(True, 200), (False, 404)]
    stored = _stored(backend, dataset_id)
    assert _statuses(stored)["reachable"] == quality.FAIL
    entry = next(e for e in stored["criteria"] if e["key"] == "reachable")
    assert entry["detail"]["titles"] == "Fichier absent"
    # Changing the link's address forgets its old check until the next run.
    with backend.session() as session, session.begin():
        session.scalar(
            select(Resource).where(Resource.title == "Fichier absent")
        ).url = "http://x.nc/"
    assert _statuses(_stored(backend, dataset_id))["reachable"] == quality.PENDING


@contextmanager
def portal(backend, monkeypatch) -> Iterator[TestClient]:  # noqa: ANN001
    from niaouli.web import create_app

    monkeypatch.setenv("NIAOULI_DATA_DIR", str(backend.settings.data_dir))
    monkeypatch.setenv("NIAOULI_DATABASE_URL", backend.settings.database_url)
    with TestClient(create_app()) as client:
        yield client


def _sign_in(client: TestClient, email: str) -> None:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/connexion").text)[1]
    data = {"csrf": token, "email": email, "password": PASSWORD}
    assert client.post("/connexion", data=data, follow_redirects=False).status_code == 303


def _people(backend) -> None:  # noqa: ANN001
    with backend.session() as session, session.begin():
        other = service.create_organisation(session, "province-nord", "Province Nord", "province")
        org = service.get_organisation(session, ORG)
        for email, where, role in (
            ("editrice@exemple.nc", org, "editor"),
            ("membre@exemple.nc", org, "member"),
            ("ailleurs@exemple.nc", other, "editor"),
        ):
            user = users.create_user(session, email, email.split("@")[0], PASSWORD)
            users.set_membership(session, where, user, role)


def test_page_search_and_dashboard_show_the_score(backend, monkeypatch):
    poor = _make(backend, "pauvre", description="Court.", update_frequency="")
    good = _make(
        backend,
        "riche",
        description=LONG,
        update_frequency="annual",
        temporal_start=datetime(2025, 1, 1).date(),
    )
    _people(backend)
    poor_score, good_score = _stored(backend, poor)["score"], _stored(backend, good)["score"]
    assert poor_score < 50 and good_score >= 80
    with portal(backend, monkeypatch) as client:
        page = client.get(f"/jeux-de-donnees/{ORG}--pauvre")
        assert page.status_code == 200
        assert f"Score de qualité : {poor_score}/100" in page.text
        section = page.text.split('id="qualite"')[1].split("</section>")[0]
        assert 'data-criterion="description"' in section and "à améliorer" in section
        assert "6 caractères sur 100." in section
        assert "Décrivez le contenu, la méthode de production" in section  # the advice
        english = client.get(f"/jeux-de-donnees/{ORG}--pauvre?lang=en").text
        assert f"Quality score: {poor_score}/100" in english
        assert "Describe the content, how the data were produced" in english
        client.get("/?lang=fr")
        # Facet and sort.
        listing = client.get("/jeux-de-donnees?tri=qualite").text
        assert listing.index(f"{ORG}--riche") < listing.index(f"{ORG}--pauvre")
        assert "Meilleure qualité" in listing and "Haute (80 % et plus)" in listing
        basse = client.get("/jeux-de-donnees?qualite=basse").text
        assert f"{ORG}--pauvre" in basse and f"{ORG}--riche" not in basse
        assert f"qualité {poor_score}/100" in basse
        assert client.get("/qualite").status_code == 200
        # The dashboard: the organisation's editors only.
        dashboard = f"/organisations/{ORG}/qualite"
        assert client.get(dashboard).status_code == 404  # anonymous
        for email in ("membre@exemple.nc", "ailleurs@exemple.nc"):
            _sign_in(client, email)
            assert client.get(dashboard).status_code == 404, email
            client.cookies.clear()
        _sign_in(client, "editrice@exemple.nc")
        board = client.get(dashboard)
        assert board.status_code == 200
        assert board.text.index(f"{ORG}--pauvre") < board.text.index(f"{ORG}--riche")
        average = round((poor_score + good_score) / 2)
        with backend.session() as session:  # the partners' list (/partenaires): public only
            org_id = service.get_organisation(session, ORG).id
            averages = quality_store.public_averages(session, [org_id])
            assert averages == {org_id: (poor_score + good_score) / 2}
        assert f"Score moyen : {average}/100" in board.text
        token = re.search(r'name="csrf" value="([^"]+)"', board.text)[1]
        assert client.post(dashboard + "/liens", data={}).status_code == 403  # no CSRF
        asked = client.post(dashboard + "/liens", data={"csrf": token}, follow_redirects=False)
        assert asked.status_code == 303 and asked.headers["location"].endswith("?etat=lancee")


def test_dcat_carries_dqv_measurements_and_still_passes_shacl(backend):
    from niaouli.dcat.mapping import dataset_graph
    from niaouli.dcat.urls import PublicUrls
    from tests.test_dcat import DCAT_AP_3, shacl_results

    dataset_id = _make(backend, "dcat", description=LONG, update_frequency="annual")
    stored = _stored(backend, dataset_id)
    with backend.session() as session:
        built = dataset_graph(session.get(Dataset, dataset_id), PublicUrls("https://data.nc"))
    graph = Graph().parse(data=built.serialize(format="turtle"), format="turtle")
    measurements = list(graph.objects(None, DQV.hasQualityMeasurement))
    assert len(measurements) == 1 + stored["counted"]
    values = {
        str(graph.value(m, DQV.isMeasurementOf)): graph.value(m, DQV.value).toPython()
        for m in measurements
    }
    assert float(values["https://data.nc/qualite#score"]) == stored["score"]
    assert values["https://data.nc/qualite#description"] is True
    assert values["https://data.nc/qualite#temporal"] is False
    assert shacl_results(graph, DCAT_AP_3) == []


def test_days_passing_move_on_time_through_recheck(backend):
    dataset_id = _make(backend, "hebdo", description=LONG, update_frequency="weekly")
    assert _statuses(_stored(backend, dataset_id))["on_time"] == quality.OK
    old = datetime.now(UTC) - timedelta(days=30)
    with backend.engine.begin() as conn:  # time passing: no catalogue write
        conn.execute(
            update(Dataset).where(Dataset.id == dataset_id).values(updated_at=old, published_at=old)
        )
    version = "SELECT version FROM catalogue_state"
    with backend.engine.connect() as conn:
        before = conn.execute(text(version)).scalar()
    with Session(writing(backend.engine)) as session, session.begin():
        assert quality_store.recheck(session) == [dataset_id]
    stored = _stored(backend, dataset_id)
    assert _statuses(stored)["on_time"] == quality.FAIL
    assert next(e for e in stored["criteria"] if e["key"] == "on_time")["detail"]["age"] >= 29
    with backend.engine.connect() as conn:
        assert conn.execute(text(version)).scalar() == before + 1  # the search sees it
    with Session(writing(backend.engine)) as session, session.begin():
        assert quality_store.recheck(session) == []  # nothing moved since
