"""The README's example files (geodata/exemples/) are small and rebuilt from real data.

`make_examples.py` must give the committed files' content from the shared data folder
(the CSV byte for byte; the Shapefile and the GeoPackage compared as data, since their
bytes may change with the GDAL that writes them), so what the README sends is what
geodata/README.md says it is (issue 15 §8).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd

from tests.csw_support import SHARED  # NIAOULI_SHARED_DIR, else beside the checkout

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "geodata" / "exemples"
FILES = ("communes-province-sud.zip", "baignade-points-2017.csv", "baignade-releves-2025.gpkg")
MAX_BYTES = 200 * 1024


def test_example_files_are_shipped_small_and_documented() -> None:
    provenance = (REPO / "geodata" / "README.md").read_text("utf-8")
    for name in FILES:
        path = EXAMPLES / name
        assert path.is_file(), f"{name} is not shipped"
        assert path.stat().st_size < MAX_BYTES, f"{name}: {path.stat().st_size} bytes"
        assert f"`exemples/{name}`" in provenance, f"{name} has no provenance line"


def test_make_examples_rebuilds_the_committed_files(tmp_path: Path) -> None:
    env = dict(os.environ, NIAOULI_SHARED_DIR=str(SHARED))
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "make_examples.py"), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for name in FILES:
        rebuilt, shipped = tmp_path / name, EXAMPLES / name
        if name.endswith(".csv"):
            assert rebuilt.read_bytes() == shipped.read_bytes(), name
            continue
        source = "zip://" if name.endswith(".zip") else ""
        new, old = gpd.read_file(source + str(rebuilt)), gpd.read_file(source + str(shipped))
        assert new.crs == old.crs, name
        assert new.drop(columns="geometry").equals(old.drop(columns="geometry")), name
        assert new.geometry.geom_equals_exact(old.geometry, tolerance=1e-6).all(), name
