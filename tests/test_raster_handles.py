"""Opened COGs kept per process (`niaouli.rasters.handles`): a second tile of the same COG
does not open it again, two requests at once never share a handle, a failed handle is not
lent again, and the pool stays within its bound."""

from __future__ import annotations

import threading

import pytest
from rasterio.errors import RasterioIOError

from niaouli import storage
from niaouli.rasters.handles import OpenRasters
from niaouli.rasterview import tiles
from niaouli.settings import Settings
from tests import raster_cogs


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("handles")
    settings = Settings(data_dir=folder / "data")
    cog = raster_cogs.dem(folder / "mnt.tif", size=256)
    return settings, [storage.store_file(cog, settings, f"mnt-{i}.tif") for i in range(3)]


def test_a_handle_is_reused_lent_to_one_at_a_time_and_bounded(stored):
    settings, files = stored
    pool = OpenRasters(max_idle=2)
    first = files[0]
    with pool.borrow(settings, first.key, first.filename) as dataset:
        held = dataset
        assert tiles.reader_of(dataset) is tiles.reader_of(dataset)
    with pool.borrow(settings, first.key, first.filename) as dataset:
        assert dataset is held and pool.opened == 1
        # Meanwhile another request: its own handle, never the one in use.
        seen = []
        thread = threading.Thread(
            target=lambda: seen.append(pool.borrow(settings, first.key, first.filename).__enter__())
        )
        thread.start()
        thread.join()
        assert seen[0] is not held and pool.opened == 2
    for other in files[1:]:
        with pool.borrow(settings, other.key, other.filename):
            pass
    assert pool._count <= 2  # noqa: SLF001 - the bound
    with pytest.raises(RasterioIOError), pool.borrow(settings, first.key, first.filename) as bad:
        raise RasterioIOError("lecture impossible")
    assert bad.closed
    pool.clear()


def test_a_missing_file_is_not_found(stored):
    settings, _files = stored
    with pytest.raises(FileNotFoundError), OpenRasters().borrow(settings, "absent", "x.tif"):
        pass
