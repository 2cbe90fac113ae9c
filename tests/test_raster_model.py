"""The raster layer model and its core (issue 19): a raster layer belongs to a dataset,
is found by collection id only through the access rule, shares the collection namespace
with vector layers, and its COG opens with rasterio from local storage and from S3 (by
range reads through the storage backend: a small window of a COG costs a few requests,
not the file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from sqlalchemy.exc import IntegrityError

from niaouli import storage
from niaouli.catalogue import service
from niaouli.catalogue.access import ANONYMOUS, Viewer
from niaouli.catalogue.models import Dataset, Layer, RasterKind, RasterLayer
from niaouli.rasters import lookup
from niaouli.rasters.reading import StorageOpener, open_raster
from niaouli.settings import Settings
from tests.storage_support import S3Server, s3_server  # noqa: F401 - the fixture


def _raster(dataset: Dataset, collection_id: str, key: str = "a" * 32) -> RasterLayer:
    return RasterLayer(
        dataset=dataset,
        name="mnt",
        collection_id=collection_id,
        kind=RasterKind.ELEVATION,
        cog_key=key,
        cog_filename="mnt.tif",
        cog_size=10,
        crs_code="EPSG:3163",
        crs_wkt="PROJCS[...]",
        width=10,
        height=10,
        band_count=1,
        resolution_x=10.0,
        resolution_y=10.0,
        native_west=0,
        native_south=0,
        native_east=100,
        native_north=100,
        bands=[{"name": "altitude", "data_type": "float32", "nodata": -9999.0}],
    )


def test_a_raster_layer_is_found_only_through_the_access_rule(backend, org):
    with backend.session() as session, session.begin():
        organisation = service.get_organisation(session, org)
        public = service.create_dataset(session, organisation, "mnt-public", "MNT")
        draft = service.create_dataset(
            session, organisation, "mnt-brouillon", "MNT", access_level="draft"
        )
        session.add_all([_raster(public, "mnt-public"), _raster(draft, "mnt-brouillon", "b" * 32)])
        session.flush()
        public_id = public.id
    with backend.session() as session:
        found = lookup.visible_raster(session, "mnt-public", ANONYMOUS)
        assert found is not None and found.dataset.slug == "mnt-public"
        assert found.nodata == -9999.0 and found.native_bounds == (0, 0, 100, 100)
        assert lookup.visible_raster(session, "mnt-brouillon", ANONYMOUS) is None
        assert lookup.visible_raster(session, "mnt-brouillon", Viewer.system()) is not None
        assert [r.collection_id for r in lookup.visible_rasters(session, ANONYMOUS)] == [
            "mnt-public"
        ]
        dataset = session.get(Dataset, public_id)
        assert [r.collection_id for r in dataset.raster_layers] == ["mnt-public"]


def test_collection_ids_are_one_namespace_with_vector_layers(backend, org):
    with backend.session() as session, session.begin():
        organisation = service.get_organisation(session, org)
        dataset = service.create_dataset(session, organisation, "communes", "Communes")
        session.add(
            Layer(dataset=dataset, name="communes", collection_id="communes", table_name="t_1")
        )
        session.add(_raster(dataset, "relief"))
        session.flush()
        dataset_id = dataset.id
    with backend.session() as session:
        assert lookup.collection_id_taken(session, "communes", dataset_id)
        assert not lookup.collection_id_taken(session, "relief", dataset_id)  # its own
        assert lookup.collection_id_taken(session, "relief", None)
        assert not lookup.collection_id_taken(session, "ailleurs", None)
    with pytest.raises(IntegrityError), backend.session() as session, session.begin():
        other = service.create_dataset(
            session, service.get_organisation(session, org), "autre", "Autre"
        )
        session.add(_raster(other, "relief", "c" * 32))  # the same id twice


def _cog(path: Path, size: int = 1024) -> np.ndarray:
    """A tiled float32 GeoTIFF with overviews (a COG in all but the ordering)."""
    data = np.arange(size * size, dtype="float32").reshape(size, size)
    profile = {
        "driver": "COG",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:3163",
        "transform": from_origin(400000, 300000, 10, 10),
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as out:
        out.write(data, 1)
    return data


@pytest.mark.parametrize("where", ["local", "s3"])
def test_open_raster_reads_a_window_from_either_storage(where, tmp_path, request):
    settings = Settings(data_dir=tmp_path / "data", database_url="sqlite:///unused.sqlite")
    if where == "s3":
        server: S3Server = request.getfixturevalue("s3_server")
        settings = server.settings(settings, server.new_bucket())
    data = _cog(tmp_path / "mnt.tif")
    stored = storage.store_file(tmp_path / "mnt.tif", settings, "mnt.tif")
    layer = RasterLayer(cog_key=stored.key, cog_filename=stored.filename)
    opened: list[StorageOpener] = []
    original = StorageOpener.open

    def spy(self, path, mode="rb", **kwds):  # noqa: ANN001, ANN202 - counts the handles
        opened.append(self)
        return original(self, path, mode, **kwds)

    StorageOpener.open = spy
    try:
        with open_raster(settings, layer) as dataset:
            assert dataset.crs.to_epsg() == 3163 and dataset.shape == (1024, 1024)
            window = dataset.read(1, window=((512, 544), (100, 132)))
            assert dataset.overviews(1)  # the COG's overviews are seen
    finally:
        StorageOpener.open = original
    assert np.array_equal(window, data[512:544, 100:132])
    if where == "s3":
        requests = sum(h.requests for o in set(opened) for h in o.opened)
        assert 0 < requests <= 6, requests  # the header and a tile, not the 4 MiB file
    else:
        assert not opened
    storage.remove_key(settings, stored.key)
    with pytest.raises(FileNotFoundError), open_raster(settings, layer):
        pass
