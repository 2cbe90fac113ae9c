"""Uploads that ask before they replace good data (issue 15 §2), through a real
`niaouli serve`, on both backends.

The same file appended twice duplicated its rows silently; a replace that dropped the
columns or most of the rows went through; an append of 2 rows reported the layer's
total. Now the API answers 409 with a code and what would change (nothing written),
`confirm=true` goes on, and the result says what was added.
"""

from __future__ import annotations

import io

import pandas as pd
import pyogrio
import pytest

from tests.accounts_support import slug_of
from tests.api_support import ApiSite, geojson, snapshot, start_api_site


@pytest.fixture
def api_site(backend, tmp_path):
    with start_api_site(backend, tmp_path) as site:
        yield site


def _points(count: int, start: float = 166.4) -> list[tuple[float, float]]:
    return [(start + i / 1000, -22.2 - i / 1000) for i in range(count)]


def test_duplicates_and_big_replacements_ask_first(api_site: ApiSite, tmp_path):
    backend = api_site.backend
    slug = slug_of("public")
    layers = f"/api/datasets/{slug}/layers"
    with api_site.client("editor_a") as http:
        # Append 2 rows to the 7: the answer says 2 added, 9 in all.
        twice = geojson(_points(2))
        added = http.post(layers, params={"mode": "append"}, files={"file": ("a.geojson", twice)})
        assert added.status_code == 200, added.text
        assert (added.json()["added_count"], added.json()["feature_count"]) == (2, 9)

        # The same bytes again (another name): 409, nothing written; confirmed: added.
        before = snapshot(backend)
        again = http.post(layers, params={"mode": "append"}, files={"file": ("b.geojson", twice)})
        assert again.status_code == 409, again.text
        body = again.json()
        assert body["code"] == "DuplicateFile"
        assert "déjà été envoyé (« a.geojson », même empreinte SHA-256)" in body["description"]
        assert body["checksum"].startswith("sha256:")
        assert snapshot(backend) == before
        confirmed = http.post(
            layers,
            params={"mode": "append", "confirm": "true"},
            files={"file": ("b.geojson", twice)},
        )
        assert confirmed.status_code == 200
        assert (confirmed.json()["added_count"], confirmed.json()["feature_count"]) == (2, 11)

        # A replace that changes the columns: 409 with before/after, nothing written.
        before = snapshot(backend)
        other = geojson(_points(12), rang=3)
        changed = http.post(layers, files={"file": ("autre.geojson", other)})
        assert changed.status_code == 409, changed.text
        body = changed.json()
        assert body["code"] == "ReplaceChanges" and "les colonnes changent" in body["description"]
        assert body["added_columns"] == ["rang"] and body["removed_columns"] == []
        assert [layer["feature_count"] for layer in body["before"]] == [11]
        assert [layer["feature_count"] for layer in body["after"]] == [12]
        assert body["after"][0]["columns"] == ["nom", "rang"]
        assert snapshot(backend) == before

        # Same columns but 1 row instead of 11: asks too; in English when asked.
        one = http.post(
            layers, params={"lang": "en"}, files={"file": ("un.geojson", geojson(_points(1)))}
        )
        assert one.status_code == 409 and one.json()["code"] == "ReplaceChanges"
        assert "1 feature(s) instead of 11" in one.json()["description"], one.json()
        assert snapshot(backend) == before

        # Same columns, most rows kept: no question.
        fine = http.post(layers, files={"file": ("n.geojson", geojson(_points(8)))})
        assert fine.status_code == 200 and fine.json()["added_count"] == 8

        # A text named .pdf: refused as not a PDF; a workbook with its sheet named.
        text = http.post(layers, files={"file": ("rapport.pdf", b"a,b\n1,2\n3,4\n")})
        assert text.status_code == 422
        assert "ce n'est pas un fichier PDF malgré son nom" in text.json()["description"]
        frame = pd.DataFrame({"nom": ["x", "y"], "lon": [166.4, 166.5], "lat": [-22.2, -22.3]})
        pyogrio.write_dataframe(frame, tmp_path / "c.xlsx", layer="Arrets", driver="XLSX")
        sheet = http.post(
            layers,
            params={"confirm": "true"},
            data={"sheet": "Arrets"},
            files={"file": ("c.xlsx", io.BytesIO((tmp_path / "c.xlsx").read_bytes()))},
        )
        assert sheet.status_code == 200, sheet.text
        assert sheet.json()["format"] == "XLSX" and sheet.json()["added_count"] == 2
        notes = sheet.json()["layers"][0]["notes"]
        assert any(n.startswith("feuille « Arrets » lue") for n in notes), notes
