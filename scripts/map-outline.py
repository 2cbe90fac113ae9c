"""Build portal/static/carte/communes-nc.geojson from geodata/nc_communes.geojson.

The public map draws this outline of the 33 communes over its plain background, so the
map is readable with no background tiles (offline, tests, NIAOULI_MAP_BACKGROUND=none).
Simplified to 0.003° (about 300 m) and rounded to 4 decimals: 72 KB instead of 300 KB.
Run with the project's venv: `.venv/bin/python scripts/map-outline.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

import shapely
from shapely.geometry import mapping, shape

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "geodata" / "nc_communes.geojson"
TARGET = ROOT / "portal" / "static" / "carte" / "communes-nc.geojson"


def main() -> None:
    source = json.loads(SOURCE.read_text(encoding="utf-8"))
    features = []
    for feature in source["features"]:
        geometry = shapely.make_valid(shape(feature["geometry"]))
        geometry = geometry.simplify(0.003, preserve_topology=True)
        geometry = shapely.set_precision(geometry, 0.0001)
        properties = feature["properties"]
        features.append(
            {
                "type": "Feature",
                "properties": {"code": properties["CODGEO"], "nom": properties["LIBGEO"]},
                "geometry": mapping(geometry),
            }
        )
    collection = {"type": "FeatureCollection", "features": features}
    text = json.dumps(collection, separators=(",", ":"), ensure_ascii=False)
    TARGET.write_text(text + "\n", encoding="utf-8")
    print(f"{TARGET.relative_to(ROOT)}: {len(features)} communes, {len(text)} bytes")


if __name__ == "__main__":
    main()
