"""Raster ingestion (issue 19 §1): GeoTIFF of the common data types, JPEG 2000, PNG/JPEG
with a world file in a zip, zipped GeoTIFF → a valid Cloud Optimized GeoTIFF (rio-cogeo's
validator) in storage with the original, native CRS and nodata kept, compression by kind,
statistics over the valid pixels, a report, a progress that reaches 100 %; a replace
swaps the files; hostile files (S14-S17) are refused with a French message and leave
nothing behind. Real GDAL through rasterio, both catalogue backends."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate
from sqlalchemy import select

from niaouli import storage
from niaouli.catalogue.models import Dataset, RasterKind, RasterLayer, Resource
from niaouli.ingest import IngestError, ingest_file
from niaouli.rasters.reading import open_raster
from tests.ingest_support import NOTHING, ORG, fixture, ingest, traces, write_zip
from tests.raster_support import NODATA, classified, dem, orthophoto
from tests.storage_support import S3Server, s3_server  # noqa: F401 - the fixture


def _layer(backend, slug: str) -> RasterLayer:
    with backend.session() as session:
        dataset = session.scalar(select(Dataset).where(Dataset.slug == slug))
        layer = dataset.raster_layers[0]
        session.expunge_all()
        return layer


def _roles(backend, slug: str) -> dict[str, Resource]:
    with backend.session() as session:
        dataset = session.scalar(select(Dataset).where(Dataset.slug == slug))
        found = {r.role: r for r in dataset.resources}
        session.expunge_all()
        return found


def test_a_dem_becomes_a_cog_with_its_crs_nodata_statistics_and_report(backend, org, tmp_path):
    source = dem(tmp_path / "mnt_noumea.tif", 1200, rows_per_write=300)
    seen: list[tuple[int, int | None]] = []
    report = ingest(
        backend,
        source,
        dataset="mnt",
        on_progress=lambda done, total, _l: seen.append((done, total)),
    )
    assert report.created and report.layers == [] and len(report.rasters) == 1
    raster = report.rasters[0]
    assert raster.kind == "elevation" and raster.crs == "EPSG:3163"
    assert (raster.width, raster.height, raster.resolution) == (1200, 1200, (10.0, 10.0))
    assert raster.size_before == source.stat().st_size and raster.size_after > 0
    stats = raster.bands[0]["statistics"]
    assert raster.bands[0]["nodata"] == NODATA and 99 < stats["min"] < 101  # nodata left out
    assert 1099 < stats["max"] < 1101 and raster.overview_levels[:1] == [2]
    west, south, east, north = raster.extent
    assert 166.3 < west < east < 166.6 and -22.4 < south < north < -22.1  # Nouméa
    assert seen[-1] == (100, 100) and [d for d, _t in seen] == sorted(d for d, _t in seen)

    layer = _layer(backend, "mnt")
    assert layer.collection_id == "mnt" and layer.kind == RasterKind.ELEVATION
    assert layer.crs_code == "EPSG:3163" and "Lambert" in layer.crs_wkt
    assert layer.compression == "DEFLATE" or layer.compression.lower() == "deflate"
    resources = _roles(backend, "mnt")
    assert resources["raster-cog"].storage_key == layer.cog_key
    assert resources["raster-source"].storage_key == layer.original_key
    with storage.local_copy(backend.settings, layer.cog_key, layer.cog_filename) as path:
        valid, errors, _warnings = cog_validate(str(path))
        assert valid, errors
    with open_raster(backend.settings, layer) as cog:
        assert cog.crs.to_epsg() == 3163 and cog.nodata == NODATA
        # the floating-point predictor: lossless DEFLATE
        assert cog.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "3"
        with rasterio.open(source) as original:
            assert np.array_equal(cog.read(1), original.read(1))  # lossless, nodata kept


def test_a_replace_swaps_the_files_and_keeps_the_collection(backend, org, tmp_path):
    ingest(backend, dem(tmp_path / "a.tif", 256), dataset="relief")
    first = _layer(backend, "relief")
    ingest(
        backend,
        dem(tmp_path / "b.tif", 300, crs="EPSG:32759", dtype="int16", nodata=-32768),
        dataset="relief",
    )
    second = _layer(backend, "relief")
    assert second.collection_id == "relief" and second.crs_code == "EPSG:32759"
    assert second.bands[0]["data_type"] == "int16" and second.width == 300
    keys = set(storage.area(backend.settings).groups())
    assert {second.cog_key, second.original_key} <= keys
    assert not {first.cog_key, first.original_key} & keys  # the previous files are gone
    assert len(_roles(backend, "relief")) == 2


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("bands", "compression"), [(3, "JPEG"), (4, "WEBP")], ids=["rgb", "rgba"])
def test_orthophotos_are_compressed_lossy_in_their_utm_zone(
    backend, org, tmp_path, bands, compression
):
    report = ingest(backend, orthophoto(tmp_path / "ortho.tif", 700, bands=bands), dataset="ortho")
    raster = report.rasters[0]
    assert raster.kind == "orthophoto" and raster.crs == "EPSG:32758"
    assert raster.compression.upper() == compression
    assert [b["colour_interp"] for b in raster.bands][:3] == ["red", "green", "blue"]
    with open_raster(backend.settings, _layer(backend, "ortho")) as cog:
        assert cog.count == bands and cog.overviews(1) == [2]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_classified_map_keeps_its_colour_table(backend, org, tmp_path):
    report = ingest(backend, classified(tmp_path / "occupation.tif"), dataset="occupation")
    assert report.rasters[0].kind == "classified"
    layer = _layer(backend, "occupation")
    assert layer.colour_table["1"] == [34, 139, 34, 255] and layer.nodata == 0
    assert layer.bands[0]["statistics"]["min"] == 1  # class 0 is nodata


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_jpeg2000_png_with_world_file_and_zipped_geotiff(backend, org, tmp_path):
    jp2 = dem(
        tmp_path / "mnt.jp2",
        256,
        dtype="uint16",
        nodata=None,
        driver="JP2OpenJPEG",
        QUALITY="100",
        REVERSIBLE="YES",
    )
    assert ingest(backend, jp2, dataset="jp2").rasters[0].format == "JPEG 2000"
    assert _layer(backend, "jp2").crs_code == "EPSG:3163"

    png = orthophoto(tmp_path / "plan.tif", 256)
    subprocess.run(  # GDAL writes the PNG and its world file (.wld)
        [
            "gdal_translate",
            "-q",
            "-of",
            "PNG",
            "-co",
            "WORLDFILE=YES",
            str(png),
            str(tmp_path / "plan.png"),
        ],
        check=True,
    )
    entries = {
        "plan/plan.png": (tmp_path / "plan.png").read_bytes(),
        "plan/plan.wld": (tmp_path / "plan.wld").read_bytes(),
    }
    zipped = write_zip(tmp_path / "plan.zip", entries)
    report = ingest(backend, zipped, dataset="plan", crs="EPSG:32758")
    assert report.rasters[0].format == "PNG + fichier de calage"
    assert report.rasters[0].native_bounds == pytest.approx((640000, 7544872, 640128, 7545000))

    tif = write_zip(
        tmp_path / "mnt_tif.zip", {"mnt.tif": dem(tmp_path / "z.tif", 128).read_bytes()}
    )
    assert ingest(backend, tif, dataset="zippe").rasters[0].crs == "EPSG:3163"


def _truncated(tmp_path: Path) -> Path:
    whole = dem(tmp_path / "whole.tif", 1024, nodata=None).read_bytes()
    path = tmp_path / "tronque.tif"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    return path


def _bomb(tmp_path: Path) -> Path:
    path = tmp_path / "bombe.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=1_000_000,
        height=1_000_000,
        count=1,
        dtype="uint8",
        crs="EPSG:3163",
        transform=rasterio.Affine(1, 0, 0, 0, -1, 0),
        tiled=True,
        sparse_ok=True,
        compress="deflate",
        bigtiff="yes",
    ):
        pass
    return path


def _sparse_bomb(tmp_path: Path) -> Path:
    path = tmp_path / "grosse.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=60_000,
        height=60_000,
        count=3,
        dtype="float32",
        crs="EPSG:3163",
        transform=rasterio.Affine(1, 0, 0, 0, -1, 0),
        tiled=True,
        sparse_ok=True,
        compress="deflate",
        bigtiff="yes",
    ):
        pass
    return path


def _no_crs(tmp_path: Path) -> Path:
    path = tmp_path / "sans_crs.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=64,
        height=64,
        count=1,
        dtype="uint8",
        transform=rasterio.Affine(10, 0, 440000, 0, -10, 220000),
    ) as out:
        out.write(np.ones((64, 64), dtype="uint8"), 1)
    return path


def _local_crs(tmp_path: Path) -> Path:
    path = tmp_path / "local.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=64,
        height=64,
        count=1,
        dtype="uint8",
        crs='LOCAL_CS["chantier",UNIT["metre",1]]',
        transform=rasterio.Affine(1, 0, 0, 0, -1, 64),
    ) as out:
        out.write(np.ones((64, 64), dtype="uint8"), 1)
    return path


def _vrt_named_tif(tmp_path: Path) -> Path:
    path = tmp_path / "piege.tif"
    path.write_text(
        '<VRTDataset rasterXSize="10" rasterYSize="10"><VRTRasterBand dataType="Byte" band="1">'
        "<SimpleSource><SourceFilename>/etc/passwd</SourceFilename></SimpleSource>"
        "</VRTRasterBand></VRTDataset>"
    )
    return path


def _zip_with_overview(tmp_path: Path) -> Path:
    tif = dem(tmp_path / "x.tif", 64).read_bytes()
    return write_zip(tmp_path / "ovr.zip", {"mnt.tif": tif, "mnt.tif.ovr": tif})


def _zip_slip(tmp_path: Path) -> Path:
    tif = dem(tmp_path / "x.tif", 64).read_bytes()
    return write_zip(tmp_path / "slip.zip", {"../../mnt.tif": tif})


HOSTILE = {
    "truncated": (_truncated, "tronqué ou abîmé"),
    "tiff-bomb": (_bomb, "dépassent la limite"),
    "sparse-bomb": (_sparse_bomb, "bombe de décompression"),
    "no-crs": (_no_crs, "système de coordonnées inconnu"),
    "local-crs": (_local_crs, "sans lien avec le globe"),
    "vrt": (_vrt_named_tif, "VRT"),
    "zip-ovr": (_zip_with_overview, "VRT/OVR"),
    "zip-slip": (_zip_slip, "chemin dangereux"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_rasters_are_refused_and_nothing_is_written(backend, org, tmp_path, case):
    make, message = HOSTILE[case]
    path = make(tmp_path)
    with pytest.raises(IngestError) as caught:
        ingest(backend, path, dataset="hostile")
    assert message in caught.value.describe(), caught.value.describe()
    assert traces(backend) == NOTHING


def test_a_virtual_path_is_refused(backend, org):
    with pytest.raises(IngestError, match="chemin virtuel GDAL refusé"):
        ingest(backend, "/vsicurl/http://127.0.0.1:9/mnt.tif", dataset="vsi")
    assert traces(backend) == NOTHING


def test_a_raster_does_not_take_a_vector_collection_id(backend, org, tmp_path):

    ingest(backend, fixture("communes_3163_latin1.zip"), dataset="communes")
    report = ingest(backend, dem(tmp_path / "relief.tif", 64), dataset="communes")
    assert report.rasters[0].collection_id == "communes-relief"
    with backend.session() as session:
        assert session.scalar(select(Dataset).where(Dataset.slug == "communes")).layers


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_raster_goes_to_s3_storage_and_reads_back_by_ranges(backend, org, tmp_path, request):
    server: S3Server = request.getfixturevalue("s3_server")
    bucket = server.new_bucket()
    settings = server.settings(backend.settings, bucket)
    source = dem(tmp_path / "mnt_s3.tif", 700)
    report = ingest_file(
        source,
        organisation=ORG,
        dataset="mnt-s3",
        settings=settings,
        engine=backend.engine,
        progress="none",
    )
    layer = _layer(backend, "mnt-s3")
    names = server.keys(bucket)
    assert any(layer.cog_key in n for n in names) and any(layer.original_key in n for n in names)
    assert not (backend.settings.files_dir).exists() or not any(
        backend.settings.files_dir.iterdir()
    )
    with open_raster(settings, layer) as cog, rasterio.open(source) as original:
        window = ((300, 340), (200, 240))
        assert np.array_equal(cog.read(1, window=window), original.read(1, window=window))
    assert report.rasters[0].size_after == layer.cog_size
