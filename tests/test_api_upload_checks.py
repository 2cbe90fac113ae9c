"""Uploads that ask before they replace good data (issue 15 §2), through a real
`niaouli serve`, on both backends.

The same file appended twice duplicated its rows silently; a replace that dropped the
columns or most of the rows went through; an append of 2 rows reported the layer's
total. Now the API answers 409 with a code and what would change (nothing written),
`confirm=true` goes on, and the result says what was added.
"""

from __future__ import annotations

import io
import json

import httpx
import pandas as pd
import pyogrio
import pytest
from sqlalchemy import text

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


def _tables(backend) -> set[str]:
    from niaouli.db.layers import layer_store

    with backend.engine.connect() as conn:
        return set(layer_store(conn).list_tables(conn))


def test_previous_versions_kept_and_restored(api_site: ApiSite):
    """A replace keeps the previous layers (the last 3 by default); an editor restores one
    from the API or the dataset page, all or nothing, and can undo it the same way."""
    backend = api_site.backend
    slug = slug_of("public")
    layers = f"/api/datasets/{slug}/layers"
    items = f"{api_site.url}/ogc/collections/{api_site.matrix.collections['public']}/items"
    with api_site.client("editor_a") as http:
        assert http.get(f"/api/datasets/{slug}/versions").json() == {"kept": 3, "versions": []}
        tables_before = _tables(backend)
        replaced = http.post(
            layers, params={"confirm": "true"}, files={"file": ("un.geojson", geojson(_points(1)))}
        )
        assert replaced.status_code == 200
        assert httpx.get(items).json()["numberMatched"] == 1
        listed = http.get(f"/api/datasets/{slug}/versions").json()["versions"]
        assert [(v["feature_count"], len(v["layers"])) for v in listed] == [(7, 1)]
        assert listed[0]["layers"][0]["columns"] == ["nom"]
        assert tables_before <= _tables(backend)  # the old table is still there

        # Restore: the 7 points again; the 1-point layer becomes a version.
        restored = http.post(f"/api/datasets/{slug}/versions/{listed[0]['id']}/restore")
        assert restored.status_code == 200, restored.text
        assert restored.json()["feature_count"] == 7
        assert httpx.get(items).json()["numberMatched"] == 7
        listed = http.get(f"/api/datasets/{slug}/versions").json()["versions"]
        assert [v["feature_count"] for v in listed] == [1]
        assert [v["file"] for v in listed] == ["un.geojson"]
        source = [
            r
            for r in http.get(f"/api/datasets/{slug}").json()["resources"]
            if r["title"] != "un.geojson"
        ]
        assert source  # the restored version's source file is listed again

        # Unknown version, other callers: refused, nothing changed.
        before = snapshot(backend)
        assert http.post(f"/api/datasets/{slug}/versions/999999/restore").status_code == 404
        assert snapshot(backend) == before
    for role, status in (("anonymous", 401), ("member_a", 403), ("member_b", 403)):
        with api_site.client(role) as other:
            answer = other.post(f"/api/datasets/{slug}/versions/{listed[0]['id']}/restore")
            assert answer.status_code == status, (role, answer.text)
    assert snapshot(backend) == before

    # Only the last 3 are kept: older tables and files go in the same replace.
    with api_site.client("editor_a") as http:
        for count in (2, 3, 4, 5):
            done = http.post(
                layers,
                params={"confirm": "true"},
                files={"file": (f"v{count}.geojson", geojson(_points(count, 166.0 + count)))},
            )
            assert done.status_code == 200, done.text
        listed = http.get(f"/api/datasets/{slug}/versions").json()["versions"]
        assert [v["feature_count"] for v in listed] == [4, 3, 2]
        with backend.engine.connect() as conn:
            kept_tables = {
                layer["table_name"]
                for (raw,) in conn.execute(text("SELECT layers FROM dataset_versions"))
                for layer in (raw if isinstance(raw, list) else json.loads(raw))
            }
            current = set(conn.execute(text("SELECT table_name FROM layers")).scalars())
        assert kept_tables | current == _tables(backend)  # older tables dropped
        assert len(kept_tables) == 3 and not kept_tables & current

        # A version whose table disappeared cannot be restored: 404, nothing changed.
        from niaouli.db.layers import layer_store

        oldest = listed[-1]
        with backend.engine.begin() as conn:
            raw = conn.execute(
                text("SELECT layers FROM dataset_versions WHERE id = :i"), {"i": oldest["id"]}
            ).scalar()
            table = (raw if isinstance(raw, list) else json.loads(raw))[0]["table_name"]
            layer_store(conn).drop(conn, table, True)
        before = snapshot(backend)
        gone = http.post(f"/api/datasets/{slug}/versions/{oldest['id']}/restore")
        assert gone.status_code == 404
        assert "ne sont plus disponibles" in gone.json()["description"]
        assert snapshot(backend) == before
        assert httpx.get(items).json()["numberMatched"] == 5


def test_dataset_page_lists_versions_and_restores(api_site: ApiSite):
    from tests.accounts_support import csrf_of, email_of, sign_in

    slug = slug_of("public")
    with api_site.client("editor_a") as http:
        replaced = http.post(
            f"/api/datasets/{slug}/layers",
            params={"confirm": "true"},
            files={"file": ("un.geojson", geojson(_points(1)))},
        )
        assert replaced.status_code == 200
    # Anonymous visitors see no version list.
    public = httpx.get(f"{api_site.url}/jeux-de-donnees/{slug}").text
    assert "Versions précédentes" not in public
    with httpx.Client(base_url=api_site.url, timeout=60) as browser:
        sign_in(browser, email_of("editor_a"))
        page = browser.get(f"/jeux-de-donnees/{slug}").text
        assert "Versions précédentes des données" in page
        assert "les 3 dernières sont conservées" in page
        assert "7 objets" in page
        listing = browser.get(f"/jeux-de-donnees/{slug}/versions")
        assert listing.status_code == 200 and "Restaurer cette version" in listing.text
        action = listing.text.split('action="')[1].split('"')[0]
        refused = browser.post(action, data={"csrf": "faux"})
        assert refused.status_code == 403
        done = browser.post(action, data={"csrf": csrf_of(listing.text)}, follow_redirects=True)
        assert done.status_code == 200 and "Version restaurée" in done.text
    items = f"{api_site.url}/ogc/collections/{api_site.matrix.collections['public']}/items"
    assert httpx.get(items).json()["numberMatched"] == 7
