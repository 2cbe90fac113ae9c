"""The `niaouli` command line on each backend.

The main paths run the installed `niaouli` as a real subprocess (entry point, exit code,
stdout/stderr); the extra error paths run in-process through click's runner, with the same
environment, to keep the suite fast.
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from niaouli.catalogue import service
from niaouli.cli import main
from tests.ingest_support import NOTHING, ORG, fixture, ingest, traces


@pytest.fixture
def cli(backend):
    """`niaouli` in-process on the test backend: `cli(*args)` -> click's result."""
    runner = CliRunner(env=backend.env(), catch_exceptions=False)
    return lambda *args: runner.invoke(main, list(args))


def test_org_create(backend, cli):
    result = backend.run(
        "org", "create", "province-nord", "--name", "Province Nord", "--kind", "province"
    )
    assert result.stdout.strip() == "organisation créée : province-nord"
    with backend.session() as session:
        assert service.get_organisation(session, "province-nord").name == "Province Nord"

    again = cli("org", "create", "province-nord", "--name", "Autre", "--kind", "province")
    assert again.exit_code == 1
    assert again.stderr.strip() == "erreur : l'organisation « province-nord » existe déjà"
    bad = cli("org", "create", "../nord", "--name", "Nord", "--kind", "province")
    assert bad.exit_code == 1 and "identifiant invalide « ../nord »" in bad.stderr
    listed = cli("org", "list")
    assert listed.stdout.splitlines() == ["province-nord\tprovince\tProvince Nord"]


def test_ingest_success_then_failure(backend, org, cli, tmp_path):
    result = backend.run(
        "ingest",
        str(fixture("communes_3163_latin1.zip")),
        "--org",
        ORG,
        "--dataset",
        "communes",
        "--title",
        "Communes de Nouvelle-Calédonie",
        "--progress",
        "none",
    )
    lines = result.stdout.splitlines()
    assert re.fullmatch(
        r"jeu de données créé : communes — 33 entités en [0-9.]+ s \(Shapefile \(zip\)\)", lines[0]
    )
    assert lines[1] == "  couche communes : 33 entités, MultiPolygon, SCR source EPSG:3163"
    assert "    - 2 géométrie(s) invalide(s) réparée(s)" in lines
    with backend.session() as session:
        assert service.find_dataset(session, "communes").title == "Communes de Nouvelle-Calédonie"
    before = traces(backend)

    broken = tmp_path / "communes.zip"
    broken.write_bytes(fixture("communes_3163_latin1.zip").read_bytes()[:1000])
    failed = backend.run(
        "ingest", str(broken), "--org", ORG, "--dataset", "communes", "--progress", "none",
        check=False,
    )  # fmt: skip
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert failed.stderr.strip() == (
        "erreur : fichier « communes.zip » : archive zip illisible ou tronquée"
    )
    assert traces(backend) == before

    replaced = cli(
        "ingest", str(fixture("communes_cp1252.csv")), "--org", ORG, "--dataset", "communes",
        "--json", "--progress", "none",
    )  # fmt: skip
    assert replaced.exit_code == 0, replaced.stderr
    report = json.loads(replaced.stdout)
    assert report["created"] is False and report["dataset"] == "communes"
    assert report["format"] == "CSV"
    [layer] = report["layers"]
    assert layer["feature_count"] == 33 and layer["geometry_type"] == "Point"
    assert "encodage Windows-1252 / Latin-1 détecté et converti en UTF-8" in layer["notes"]

    unknown = cli("ingest", str(fixture("communes_lonlat.csv")), "--org", "personne")
    assert unknown.exit_code == 1
    assert unknown.stderr.strip() == "erreur : organisation inconnue : « personne »"


def test_ingest_progress_lines(backend, org, cli):
    result = cli("ingest", str(fixture("communes_lonlat.csv")), "--org", ORG, "--progress", "lines")
    assert result.exit_code == 0, result.stderr
    assert "progression communes_lonlat.csv : 33/33 entités" in result.stderr


def test_db_upgrade_is_idempotent(backend, org):
    ingest(backend, fixture("communes_lonlat.csv"), dataset="communes")
    before = traces(backend)
    first = backend.run("db", "upgrade")
    second = backend.run("db", "upgrade")
    assert re.match(r"schéma à jour \(révision \w+\) : ", first.stdout), first.stdout
    assert second.stdout == first.stdout
    assert traces(backend) == before


def test_dataset_delete(backend, org, cli):
    report = ingest(backend, fixture("communes.gpkg"), dataset="communes")
    assert len(report.layers) == 2
    result = backend.run("dataset", "delete", "communes")
    assert result.stdout.strip() == "jeu de données supprimé : communes"
    assert traces(backend) == NOTHING

    again = cli("dataset", "delete", "communes")
    assert again.exit_code == 1
    assert again.stderr.strip() == "erreur : jeu de données introuvable : « communes »"


def test_a_database_never_upgraded_gets_one_sentence(backend, tmp_path):
    """A command on a database without the schema (`db upgrade` never run) says what to
    do, in French, without a traceback; the same command works once it is upgraded."""
    import subprocess

    from tests.conftest import NIAOULI

    if backend.name == "postgis":
        pytest.skip("an empty PostgreSQL database would need creating; SQLite shows it")
    env = {**backend.env(), "NIAOULI_DATA_DIR": str(tmp_path / "vide")}
    env.pop("NIAOULI_DATABASE_URL", None)
    command = [str(NIAOULI) if NIAOULI.exists() else "niaouli"]
    found = subprocess.run(
        [*command, "harvest", "list"], env=env, capture_output=True, text=True, timeout=120
    )
    assert found.returncode == 1
    assert "n'est pas initialisée" in found.stderr and "niaouli db upgrade" in found.stderr
    assert "Traceback" not in found.stderr
    subprocess.run([*command, "db", "upgrade"], env=env, check=True, capture_output=True)
    again = subprocess.run(
        [*command, "harvest", "list"], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr


def test_commands_loaded_when_asked_for_are_all_there():
    """The groups kept in modules of their own (`cli.LAZY_COMMANDS`) are listed by
    `--help` and run: each module registers the names it is loaded for."""
    from niaouli import cli as cli_module

    runner = CliRunner()
    listing = runner.invoke(main, ["--help"])
    assert listing.exit_code == 0, listing.output
    for name in [*cli_module.LAZY_COMMANDS, "harvest", "dataset"]:
        assert re.search(rf"^  {name}\b", listing.output, re.M), name
        found = runner.invoke(main, [name, "--help"])
        assert found.exit_code == 0 and "Usage: " in found.output, (name, found.output)
    published = runner.invoke(main, ["dataset", "publish", "--help"])
    assert published.exit_code == 0 and "données personnelles" in published.output


def test_a_harvest_command_starts_without_the_heavy_libraries(backend, tmp_path):
    """`niaouli harvest list` (and so the start of every harvest run) imports neither
    GDAL's Python packages nor pandas, rdflib, pygeometa or OWSLib: their imports were
    most of a command's 2 s start-up (issue 20: an unchanged re-harvest of 1,000
    records is mostly start-up)."""
    import subprocess
    import sys

    env = {**backend.env(), "NIAOULI_DATA_DIR": str(tmp_path / "donnees")}
    subprocess.run(
        [sys.executable, "-m", "niaouli.cli", "db", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
    )
    heavy = ("pandas", "pyogrio", "fiona", "rasterio", "rdflib", "pygeometa", "owslib")
    script = (
        "import sys\n"
        "from niaouli.cli import main\n"
        "try:\n"
        "    main(['harvest', 'list'])\n"
        "except SystemExit as done:\n"
        "    assert not done.code, done.code\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
