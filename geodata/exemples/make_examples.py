"""Rebuild the README's example files in geodata/exemples/ from the real data they come from.

Run from the repository root: `.venv/bin/python geodata/exemples/make_examples.py [DIR]`.
Sources are the project's shared data folder (`NIAOULI_SHARED_DIR`, by default
`../shared` beside the checkout, then `data/`) and geodata/ itself; provenance and
licences are in geodata/README.md. The output is deterministic, so rebuilding gives
the same bytes (fixed dates in the zip entries and the GeoPackage).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path

import geopandas as gpd
from shapely.geometry import Point

HERE = Path(__file__).resolve().parent
GEODATA = HERE.parent
SHARED = Path(os.environ.get("NIAOULI_SHARED_DIR", GEODATA.parent.parent / "shared")) / "data"

LAMBERT_NC = "EPSG:3163"  # RGNC91-93 / Lambert New Caledonia, Géorep's native CRS
# The communes of the Province Sud (INSEE codes), Poya being counted in the Province Nord.
PROVINCE_SUD = [
    "98802", "98803", "98805", "98806", "98809", "98813", "98816",
    "98817", "98818", "98821", "98828", "98829", "98832",
]  # fmt: skip
FIXED_DATE = (2025, 1, 1, 0, 0, 0)


def communes_province_sud(target: Path) -> None:
    """A zipped Shapefile in EPSG:3163 (with .prj and .cpg), as Géorep publishes them."""
    communes = gpd.read_file(GEODATA / "nc_communes.geojson")
    sud = communes[communes["CODGEO"].isin(PROVINCE_SUD)][["CODGEO", "LIBGEO", "geometry"]]
    sud = sud.sort_values("CODGEO").to_crs(LAMBERT_NC)
    with tempfile.TemporaryDirectory() as tmp:
        shp = Path(tmp) / "communes_province_sud.shp"
        sud.to_file(shp, driver="ESRI Shapefile", encoding="UTF-8", engine="pyogrio")
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for part in sorted(Path(tmp).iterdir()):
                info = zipfile.ZipInfo(part.name, FIXED_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, part.read_bytes())


def _french_date(value: str) -> str:
    """'20/02/2017 08:36:00' → '2017-02-20T08:36'."""
    return datetime.strptime(value, "%d/%m/%Y %H:%M:%S").strftime("%Y-%m-%dT%H:%M")


def sampling_points_2017(target: Path) -> None:
    """The sampling points of the 2016–2017 season as a CSV with x/y in EPSG:3163."""
    source = json.loads((SHARED / "noumea_baignade_points_2017.geojson").read_text())
    points = [f for f in source["features"] if f["geometry"]["type"] == "Point"]
    frame = gpd.GeoDataFrame(
        [
            {
                "code_point": f["properties"]["name"],
                "prelevements": len(f["properties"]["data"]),
                "dernier_prelevement": _french_date(f["properties"]["data"][-1]["date"]),
                "e_coli_npp_100ml": f["properties"]["data"][-1]["escherichia_coli"],
                "enterocoques_npp_100ml": f["properties"]["data"][-1]["intestinal_enterococci"],
            }
            for f in points
        ],
        geometry=[Point(f["geometry"]["coordinates"]) for f in points],
        crs="EPSG:4326",
    ).to_crs(LAMBERT_NC)
    frame = frame.sort_values("code_point")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = [c for c in frame.columns if c != "geometry"]
    writer.writerow([*columns, "x", "y"])
    for _, row in frame.iterrows():
        x, y = f"{row.geometry.x:.1f}", f"{row.geometry.y:.1f}"
        writer.writerow([*(row[c] for c in columns), x, y])
    target.write_text(out.getvalue(), encoding="utf-8")


def latest_results_2025(target: Path) -> None:
    """The latest results (2025) at the points also sampled in 2017, as a GeoPackage."""
    source = json.loads((SHARED / "noumea_baignade_points_2017.geojson").read_text())
    where = {
        f["properties"]["name"]: Point(f["geometry"]["coordinates"])
        for f in source["features"]
        if f["geometry"]["type"] == "Point"
    }
    with (SHARED / "noumea_baignade_releves.csv").open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["id_point_prelevement"] in where]
    frame = gpd.GeoDataFrame(
        [
            {
                "code_point": r["id_point_prelevement"],
                "site": r["site"],
                "description": r["desc_point_prelevement"],
                "date": r["date"],
                "heure": r["heure"],
                "e_coli_npp_100ml": int(r["e_coli_npp_100ml"]),
                "enterocoques_npp_100ml": int(r["enterocoques_npp_100ml"]),
            }
            for r in rows
        ],
        geometry=[where[r["id_point_prelevement"]] for r in rows],
        crs="EPSG:4326",
    ).sort_values("code_point")
    target.unlink(missing_ok=True)
    os.environ["OGR_CURRENT_DATE"] = "2025-01-01T00:00:00.000Z"  # reproducible timestamps
    frame.to_file(
        target,
        layer="releves_baignade",
        driver="GPKG",
        engine="pyogrio",
        dataset_options={"VERSION": "1.2"},  # readable by older GDAL (QGIS 3.22)
    )


EXAMPLES = {
    "communes-province-sud.zip": communes_province_sud,
    "baignade-points-2017.csv": sampling_points_2017,
    "baignade-releves-2025.gpkg": latest_results_2025,
}


def main(out: Path = HERE) -> int:
    """Write the examples into `out` (default: this folder; the tests rebuild elsewhere)."""
    if not (SHARED / "noumea_baignade_releves.csv").exists():
        print(f"shared data not found in {SHARED} (set NIAOULI_SHARED_DIR)", file=sys.stderr)
        return 1
    for name, make in EXAMPLES.items():
        make(out / name)
        print(f"{name}\t{(out / name).stat().st_size} octets")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE))
