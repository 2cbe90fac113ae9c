"""Uploads that used to be guessed wrong (issue 15 §2), on both backends.

Any text was taken as a CSV: a prose `notes.txt` became a 2-row layer, a 45-byte text
named `rapport.pdf` "3 objets intégrés". Now the type comes from the content, and what
is neither tabular nor spatial is refused in French with nothing written. XLSX and ODS
workbooks (zips, told from a zipped shapefile by their entries) are read like CSV, the
sheet chosen (first with rows, or named) and reported.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd
import pyogrio
import pytest

from niaouli.ingest import IngestError
from niaouli.ingest.sniff import SourceKind, identify
from tests.ingest_support import NOTHING, ingest, read_layer, traces, write_zip

PROSE = (
    "Compte rendu de la réunion du 3 mars.\n"
    "Nous avons parlé du budget, des routes et des écoles.\n"
    "La prochaine réunion aura lieu en avril.\n"
)


def _write(tmp: Path, name: str, data: bytes | str) -> Path:
    path = tmp / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


REFUSED = {
    # name, content, words the message must hold
    "prose": ("notes.txt", PROSE, ["texte qui n'est pas un tableau", "une seule colonne"]),
    "prose-virgules": (
        "notes.txt",
        "Bonjour, voici les notes, enfin.\nUne ligne sans virgule.\n"
        "Une autre, avec une virgule.\nEncore une ligne.\n",
        ["séparateur « , » irrégulier"],
    ),
    "liste": ("communes.csv", "nom\nNouméa\nThio\n", ["une seule colonne"]),
    "texte-nomme-pdf": (
        "rapport.pdf",
        "a,b\n1,2\n3,4\n5,6\nfin du rapport en texte\n",
        ["ce n'est pas un fichier PDF malgré son nom"],
    ),
    "vrai-pdf": (
        "rapport.pdf",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
        ["document PDF : ce n'est pas un format de données", "document joint"],
    ),
    "image": ("photo.csv", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, ["image PNG"]),
    "entete-phrase": (
        "a.csv",
        "Ce fichier rassemble les mesures relevées pendant toute la campagne de l'année "
        "dernière par les équipes;x\n1;2\n",
        ["ne ressemble pas à un en-tête"],
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_text_that_is_not_a_table_is_refused(backend, org, tmp_path, case):
    name, content, fragments = REFUSED[case]
    path = _write(tmp_path, name, content)
    with pytest.raises(IngestError) as caught:
        ingest(backend, path, dataset="notes")
    message = str(caught.value)
    assert message.startswith(f"fichier « {name} » : "), message
    for fragment in fragments:
        assert fragment in message, message
    assert traces(backend) == NOTHING


def test_tables_are_still_tables(tmp_path):
    """Tab-separated `.txt`, `;` with a ragged row (reported later with its line)."""
    assert identify(_write(tmp_path, "t.txt", "nom\tval\nA\t1\nB\t2\n")) is SourceKind.CSV
    ragged = _write(tmp_path, "r.csv", "nom;lon;lat\nA;166.4;-22.2\nB;166.5\n")
    assert identify(ragged) is SourceKind.CSV
    # The name as sent counts, not the stored copy's.
    stored = _write(tmp_path, "fichier", "a,b\n1,2\n")
    with pytest.raises(IngestError, match="pas un fichier PDF"):
        identify(stored, "rapport.pdf")


def _workbook(path: Path, driver: str, sheets: dict[str, pd.DataFrame]) -> Path:
    for index, (sheet, frame) in enumerate(sheets.items()):
        pyogrio.write_dataframe(frame, path, layer=sheet, driver=driver, append=index > 0)
    return path


COMMUNES = pd.DataFrame(
    {
        "code_commune": ["98818", "98829", "98817"],
        "nom": ["Nouméa", "Thio", "Mont-Dore"],
        "population": [94285, 2524, 27620],
        "longitude": [166.4572, 166.2147, 166.5694],
        "latitude": [-22.2758, -21.6125, -22.2631],
    }
)


@pytest.mark.parametrize(
    ("suffix", "driver", "label"), [("xlsx", "XLSX", "XLSX"), ("ods", "ODS", "ODS")]
)
def test_spreadsheet_read_like_a_csv(backend, org, tmp_path, suffix, driver, label):
    empty = pd.DataFrame({"notes": pd.Series([], dtype=str)})
    path = _workbook(
        tmp_path / f"communes.{suffix}", driver, {"Lisez-moi": empty, "Communes": COMMUNES}
    )
    assert identify(path) is SourceKind(suffix)
    report = ingest(backend, path, dataset="communes")
    assert report.format == label
    [layer] = report.layers
    assert (layer.feature_count, layer.geometry_type) == (3, "Point")
    sheets = "Lisez-moi, Communes" if suffix == "xlsx" else "Communes"  # GDAL's ODS writer
    count = sheets.count(",") + 1  # leaves out a sheet without rows
    assert f"feuille « Communes » lue (classeur de {count} feuille(s) : {sheets})" in layer.notes
    assert "points construits à partir des colonnes « longitude » et « latitude »" in layer.notes
    rows = read_layer(backend, layer.table_name)
    assert [r["nom"] for r in rows] == ["Nouméa", "Thio", "Mont-Dore"]
    assert [r["code_commune"] for r in rows] == ["98818", "98829", "98817"]  # codes stay text
    assert rows[0]["geom"].x == pytest.approx(166.4572)
    assert rows[0]["geom"].y == pytest.approx(-22.2758)


def test_spreadsheet_sheet_option_and_wkt(backend, org, tmp_path):
    zones = pd.DataFrame(
        {
            "zone": ["A", "B"],
            "wkt": [
                "POLYGON((166.4 -22.3, 166.5 -22.3, 166.5 -22.2, 166.4 -22.3))",
                "POLYGON((166.2 -21.7, 166.3 -21.7, 166.3 -21.6, 166.2 -21.7))",
            ],
        }
    )
    path = _workbook(tmp_path / "zones.ods", "ODS", {"Communes": COMMUNES, "Zones": zones})
    report = ingest(backend, path, dataset="zones", sheet="zones")
    [layer] = report.layers
    assert (layer.feature_count, layer.geometry_type) == (2, "MultiPolygon")
    assert any(n.startswith("feuille « Zones » lue") for n in layer.notes)
    assert ingest(backend, path, dataset="zones", sheet="1").layers[0].feature_count == 3

    with pytest.raises(IngestError) as caught:
        ingest(backend, path, dataset="autre", sheet="Budget")
    assert "feuille « Budget » introuvable (feuilles : Communes, Zones)" in str(caught.value)


def test_zips_told_apart_and_hostile_workbooks_refused(backend, org, tmp_path):
    # A Word document is a zip too: refused as such, not "no .shp in the archive".
    docx = write_zip(
        tmp_path / "note.docx",
        {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<document/>"},
    )
    with pytest.raises(IngestError, match="document Office"):
        ingest(backend, docx, dataset="note")
    # An XLSX whose parts declare entities (billion laughs): refused before GDAL.
    path = _workbook(tmp_path / "bombe.xlsx", "XLSX", {"Communes": COMMUNES})
    with zipfile.ZipFile(path) as source:
        parts = {n: source.read(n) for n in source.namelist()}
    parts["xl/sharedStrings.xml"] = (
        b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><sst>&b;</sst>'
    )
    bomb = write_zip(tmp_path / "bombe2.xlsx", parts)
    with pytest.raises(IngestError, match="DTD ou entités refusé"):
        ingest(backend, bomb, dataset="bombe")
    assert traces(backend) == NOTHING
