"""Table Schema validation of the files sent to a dataset (issue 21 §2, docs/schemas.md).

On both backends: a schema attached from the command line, the API and the portal; a
conforming file passes and its report is kept; a failing file is refused with nothing
written, or published with its report, as the organisation chose (its admins only);
errors are told by row and column, in French and, asked, in English; hostile files (a
line of megabytes, thousands of errors, a hundred thousand rows) give a bounded report.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import func, select
from starlette.testclient import TestClient

from niaouli.accounts import tokens, users
from niaouli.accounts.account_tables import AuditEvent
from niaouli.catalogue import quality_store, service
from niaouli.catalogue.models import Dataset
from niaouli.i18n import speaking
from niaouli.ingest import ingest_file
from niaouli.settings import pin
from niaouli.tableschema import examples, reports, validate
from niaouli.tableschema.schema_tables import ValidationRecord
from tests.accounts_support import PASSWORD, csrf_of, sign_in
from tests.conftest import GEODATA, Backend

ORG = "gouvernement-nc"
COMMUNES = GEODATA / "nc_communes_population.csv"
HEADER = "code_commune,nom_commune,code_collectivite,nom_collectivite,code_postal,population\n"
# Row 3: a population that is not a number; row 4: a code outside 98801-98833, a
# postcode that is not 988xx.
BAD = HEADER + (
    "98801,Belep,988,Nouvelle-Calédonie,98811,686\n"
    "98802,Bouloupari,988,Nouvelle-Calédonie,98812,beaucoup\n"
    "98850,Ailleurs,988,Nouvelle-Calédonie,75001,12\n"
)


def _bad(tmp_path: Path) -> Path:
    path = tmp_path / "communes_erreurs.csv"
    path.write_text(BAD, encoding="utf-8")
    return path


def _ingest(backend: Backend, path: Path, slug: str, **options):  # noqa: ANN003, ANN202
    return ingest_file(
        path,
        organisation=ORG,
        dataset=slug,
        settings=backend.settings,
        engine=backend.engine,
        progress="none",
        **options,
    )


def _counts(backend: Backend, slug: str) -> tuple[int, int, str]:
    """(features, kept reports, source checksum) of a dataset: what a refusal must leave."""
    with backend.session() as session:
        dataset = service.find_dataset(session, slug)
        kept = session.scalar(
            select(func.count())
            .select_from(ValidationRecord)
            .where(ValidationRecord.dataset_id == dataset.id)
        )
        source = next(r for r in dataset.resources if r.role == "source")
        return sum(x.feature_count for x in dataset.layers), kept, source.checksum


# --- the validator alone -------------------------------------------------------------


def test_examples_are_schemas_and_the_demo_table_conforms():
    assert set(examples.examples()) == {
        "communes-population-nc",
        "equipements-publics-nc",
        "budget-communal-nc",
    }
    for descriptor in examples.examples().values():
        assert validate.check_schema(descriptor)["fields"]
        assert descriptor["sources"] and descriptor["description"]
    communes = validate.check_schema(examples.example("communes-population-nc"))
    report = validate.validate_file(COMMUNES, communes, title="communes")
    assert report.valid and report.rows == 33 and report.errors == []


def test_errors_by_row_and_column_in_french_and_english(tmp_path):
    communes = validate.check_schema(examples.example("communes-population-nc"))
    report = validate.validate_file(_bad(tmp_path), communes, title="Communes")
    assert not report.valid and report.error_count == 3 and not report.capped
    found = {(e.row, e.column): e.message for e in report.errors}
    assert found[(3, "population")] == "« beaucoup » n'est pas du type attendu : nombre entier"
    assert found[(4, "code_commune")].startswith("valeur qui ne suit pas le motif attendu")
    assert (4, "code_postal") in found
    with speaking("en"):
        english = {(e.row, e.column): e.message for e in report.errors}
        assert english[(3, "population")] == "“beaucoup” is not of the expected type: integer"
        assert validate.summary(report).startswith("3 error(s) against the schema")
    missing = tmp_path / "sans_population.csv"
    missing.write_text("nom_commune,code_commune\nBelep,98801\n", encoding="utf-8")
    columns = validate.validate_file(missing, communes).errors
    assert any(e.column == "population" and e.type == "missing-label" for e in columns)


def test_bad_schemas_are_refused_with_a_reason():
    for bad, words in [
        ("pas du json", "JSON"),
        ("[]", "fields"),
        ('{"fields": []}', "entre 1 et 500"),
        ('{"fields": [{"name": "a", "type": "inconnu"}]}', "schéma invalide"),
        ("x" * (validate.MAX_SCHEMA + 1), "trop grand"),
    ]:
        try:
            validate.check_schema(bad)
        except validate.SchemaError as exc:
            assert words in str(exc)
        else:
            raise AssertionError(bad)
    remote = {
        "fields": [{"name": "a", "type": "string"}],
        "foreignKeys": [
            {"fields": "a", "reference": {"resource": "http://example.org/x", "fields": "b"}}
        ],
    }
    assert "foreignKeys" not in validate.check_schema(remote)


def test_hostile_files_give_a_bounded_report(tmp_path):
    schema = {"fields": [{"name": "n", "type": "integer"}, {"name": "t", "type": "string"}]}
    long_line = tmp_path / "ligne.csv"
    with long_line.open("w") as out:
        out.write("n,t\n1,")
        out.write("x" * 3_000_000)  # one line of 3 MB: refused before frictionless reads it
        out.write("\n")
    started = time.monotonic()
    report = validate.validate_file(long_line, schema)
    assert time.monotonic() - started < 1
    assert not report.valid and report.errors[0].type == "line-too-long"
    assert report.errors[0].row == 2
    errors = tmp_path / "erreurs.csv"
    errors.write_text("n,t\n" + "".join(f"x{i},t\n" for i in range(20_000)))
    started = time.monotonic()
    report = validate.validate_file(errors, schema, max_errors=500)
    assert time.monotonic() - started < 10
    assert report.capped and report.error_count == 500 and len(report.errors) == validate.LISTED
    rows = tmp_path / "lignes.csv"
    rows.write_text("n,t\n" + "".join(f"{i},t\n" for i in range(5000)))
    report = validate.validate_file(rows, schema, max_rows=1000)
    assert report.valid and report.capped and report.rows == 1000


# --- through the ingestion and the command line (both backends) ----------------------


def _cli(backend: Backend):  # noqa: ANN202
    """`niaouli` in-process (a subprocess costs seconds of imports each)."""
    from click.testing import CliRunner

    from niaouli.cli import main

    runner = CliRunner(env=backend.env())

    def run(*args: str, check: bool = True):  # noqa: ANN202
        result = runner.invoke(main, list(args), catch_exceptions=False)
        if check:
            assert result.exit_code == 0, (args, result.output, result.stderr)
        return result

    return run


def _schema_criterion(backend: Backend, slug: str) -> str:
    """The stored quality score's verdict on the table-schema criterion."""
    with backend.session() as session:
        dataset = service.find_dataset(session, slug)
        stored = quality_store.scores(session.connection(), [dataset.id])[dataset.id]
    return next(c["status"] for c in stored["criteria"] if c["key"] == "table_schema")


def test_command_line_attach_refuse_then_publish_with_report(backend: Backend, org, tmp_path):
    run = _cli(backend)
    _ingest(backend, COMMUNES, "population")
    out = run("schema", "attach", "population", "--example", "communes-population-nc")
    assert "Population des communes" in out.stdout
    good = run("ingest", str(COMMUNES), "--org", ORG, "--dataset", "population")
    assert "fichier conforme au schéma" in good.stdout
    assert _schema_criterion(backend, "population") == "ok"  # the quality score reads it
    before = _counts(backend, "population")
    assert before[:2] == (33, 1)

    refused = run(
        "ingest", str(_bad(tmp_path)), "--org", ORG, "--dataset", "population", check=False
    )
    assert refused.exit_code == 1
    assert "fichier refusé" in refused.stderr
    assert "ligne 3\tcolonne population" in refused.stderr
    assert _counts(backend, "population") == before  # nothing written

    run("schema", "policy", ORG, "publish")
    published = run("ingest", str(_bad(tmp_path)), "--org", ORG, "--dataset", "population")
    assert "3 erreur(s)" in published.stdout and "publié malgré son schéma" in published.stdout
    features, kept, _checksum = _counts(backend, "population")
    assert (features, kept) == (3, 2)
    assert _schema_criterion(backend, "population") == "fail"
    shown = json.loads(run("schema", "show", "population", "--json").stdout)
    assert shown["policy"] == "publish"
    latest = shown["reports"][0]
    assert not latest["valid"] and latest["error_count"] == 3
    assert {(e["row"], e["column"]) for e in latest["errors"]} >= {(3, "population")}
    with backend.session() as session:
        dataset = service.find_dataset(session, "population")
        record = reports.latest_report(session, dataset)
        assert record is not None and record.error_count == 3
        assert reports.latest_report(session, dataset.layers[0]).id == record.id
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.subject == "population")
        ).all()
        assert "dataset.schema_attach" in actions
    check = run(
        "schema",
        "validate",
        str(_bad(tmp_path)),
        "--example",
        "communes-population-nc",
        check=False,
    )
    assert check.exit_code == 1 and "colonne code_postal" in check.stdout
    run("schema", "detach", "population")
    again = run("schema", "show", "population").stdout
    assert "aucun schéma joint" in again
    _ingest(backend, COMMUNES, "population")  # sent without a schema: no current report
    with backend.session() as session:
        assert reports.latest_report(session, service.find_dataset(session, "population")) is None


def test_other_formats_are_validated_from_their_rows(backend: Backend, org, tmp_path):
    """A GeoJSON's attributes go through the same schema (streamed to a CSV first)."""
    schema = {
        "title": "Points",
        "fields": [
            {"name": "nom", "type": "string", "constraints": {"required": True}},
            {"name": "releves", "type": "integer", "constraints": {"minimum": 0}},
        ],
    }
    points = tmp_path / "points.geojson"
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [166.4, -22.2]},
            "properties": {"nom": f"P{i}", "releves": i - 1},
        }
        for i in range(3)
    ]
    points.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    _ingest(backend, points, "points")
    with backend.session() as session, session.begin():
        dataset = service.find_dataset(session, "points")
        from niaouli.accounts import audit
        from niaouli.catalogue.access import Viewer

        reports.attach(session, Viewer.system(), audit.COMMAND_LINE, dataset, descriptor=schema)
    try:
        _ingest(backend, points, "points")
    except Exception as exc:  # noqa: BLE001 - the refusal is the point
        assert "ligne 2, colonne « releves »" in str(exc)
    else:
        raise AssertionError("a failing GeoJSON was published")


# --- through the API and the portal (in-process) -------------------------------------


@contextmanager
def _client(backend: Backend) -> Iterator[TestClient]:
    settings = backend.settings.model_copy(update={"jobs": "inline"})
    try:
        with TestClient(create_app_for(settings), follow_redirects=False) as client:
            yield client
    finally:
        pin(None)


def create_app_for(settings):  # noqa: ANN001, ANN201
    from niaouli.web import create_app

    return create_app(settings)


def _people(backend: Backend) -> dict[str, str]:
    """An editor and an admin of the organisation, each with a write token."""
    secrets = {}
    with backend.session() as session, session.begin():
        organisation = service.get_organisation(session, ORG)
        for role in ("editor", "admin"):
            user = users.create_user(session, f"{role}@exemple.nc", role.title(), PASSWORD)
            users.set_membership(session, organisation, user, role)
            _token, secrets[role] = tokens.create_token(session, user, "tests", "write")
    return secrets


def test_api_and_portal_attach_refuse_publish_and_show(backend: Backend, org, tmp_path):
    _ingest(backend, COMMUNES, "population")
    secrets = _people(backend)
    editor = {"Authorization": f"Bearer {secrets['editor']}"}
    admin = {"Authorization": f"Bearer {secrets['admin']}"}
    descriptor = examples.example("communes-population-nc")
    with _client(backend) as http:
        attached = http.put(
            "/api/datasets/population/schema", json={"schema": descriptor}, headers=editor
        )
        assert attached.status_code == 200, attached.text
        assert attached.json()["schema"]["source"] == "upload"
        invalid = http.put(
            "/api/datasets/population/schema", json={"schema": {"x": 1}}, headers=editor
        )
        assert invalid.status_code == 422 and "fields" in invalid.json()["description"]

        def send(path: Path, lang: str = "fr"):  # noqa: ANN202
            with path.open("rb") as handle:
                return http.post(
                    f"/api/datasets/population/layers?confirm=true&lang={lang}",
                    files={"file": (path.name, handle, "text/csv")},
                    headers=editor,
                )

        good = send(COMMUNES)
        assert good.status_code == 200, good.text
        assert good.json()["validation"][0]["valid"] is True
        before = _counts(backend, "population")
        refused = send(_bad(tmp_path))
        assert refused.status_code == 422
        body = refused.json()
        assert body["code"] == "SchemaInvalid"
        errors = body["validation"][0]["errors"]
        assert {"row": 3, "column": "population"}.items() <= errors[0].items()
        assert "nombre entier" in errors[0]["message"]
        english = send(_bad(tmp_path), "en").json()
        assert "integer" in english["validation"][0]["errors"][0]["message"]
        assert _counts(backend, "population") == before

        policy = {"schema_policy": "publish"}
        assert (
            http.patch(f"/api/organisations/{ORG}", json=policy, headers=editor).status_code == 403
        )
        changed = http.patch(f"/api/organisations/{ORG}", json=policy, headers=admin)
        assert changed.status_code == 200 and changed.json()["schema_policy"] == "publish"
        published = send(_bad(tmp_path))
        assert published.status_code == 200, published.text
        assert published.json()["validation"][0]["error_count"] == 3
        latest = http.get("/api/datasets/population/validation").json()["report"]
        assert latest["error_count"] == 3 and latest["errors"][0]["row"] == 3

        # The portal: the dataset's schema page shows the report; an example is picked.
        sign_in(http, "editor@exemple.nc")
        page = http.get("/jeux-de-donnees/population/schema")
        assert page.status_code == 200
        assert "3 erreur(s)" in page.text and "population" in page.text
        assert "ligne" in page.text.lower()
        picked = http.post(
            "/jeux-de-donnees/population/schema",
            data={"csrf": csrf_of(page.text), "do": "example", "example": "budget-communal-nc"},
        )
        assert picked.status_code == 303
        assert "Budget" in http.get("/jeux-de-donnees/population/schema").text
        report = http.get("/jeux-de-donnees/population/schema/rapport.json")
        assert report.status_code == 200 and report.json()["error_count"] == 3
        # The organisation's admin sets the choice back on the members page.
        sign_in(http, "admin@exemple.nc")
        team = http.get(f"/organisations/{ORG}/membres")
        assert 'value="publish" checked' in team.text
        back = http.post(
            f"/organisations/{ORG}/membres/validation",
            data={"csrf": csrf_of(team.text), "schema_policy": "refuse"},
        )
        assert back.status_code == 303
        assert http.get("/api/datasets/population/schema", headers=editor).json()["policy"] == (
            "refuse"
        )
    with backend.session() as session:
        assert session.scalar(select(Dataset.id).where(Dataset.slug == "population"))
