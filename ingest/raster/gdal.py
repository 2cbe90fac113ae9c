"""GDAL's own translate (`gdal_translate`'s library entry point) with a progress callback.

rasterio's `shutil.copy` has no progress and no `-a_srs`; GDAL's `GDALTranslate` has
both and is what `gdal_translate -of COG` runs, so the conversion costs what the
reference tool costs. It is called through ctypes on the libgdal rasterio loaded (the
one `niaouli.gdalguard` cut off the network). The source is opened with `GDALOpenEx`
limited to the sniffed driver and to an explicit list of side-car files (none, or the
world file): GDAL reads nothing else next to it (no .aux.xml, .ovr or .msk).
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from niaouli import gdalguard

GDAL_OF_RASTER = 0x02
GDAL_OF_READONLY = 0x00
GDAL_OF_VERBOSE_ERROR = 0x40
PROGRESS = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_double, ctypes.c_char_p, ctypes.c_void_p)

_lock = threading.Lock()
_library: ctypes.CDLL | None = None


class GDALError(RuntimeError):
    """GDAL refused or failed; the message is GDAL's last error."""


def _strings(values: Sequence[str] | None) -> ctypes.Array | None:
    """A NULL-terminated char** (None stays NULL)."""
    if values is None:
        return None
    array = (ctypes.c_char_p * (len(values) + 1))()
    array[:-1] = [v.encode() for v in values]
    array[-1] = None
    return array


def library() -> ctypes.CDLL:
    """rasterio's libgdal, with the signatures used here declared once."""
    global _library
    with _lock:
        if _library is not None:
            return _library
        import rasterio  # noqa: F401  maps rasterio's libgdal into the process

        gdalguard.install()
        paths = gdalguard._loaded_gdal_libraries()  # noqa: SLF001 - the same inventory
        chosen = next((p for p in paths if "rasterio" in p), paths[0] if paths else None)
        if chosen is None:
            raise GDALError("libgdal not loaded")
        lib = ctypes.CDLL(chosen)
        lib.GDALOpenEx.restype = ctypes.c_void_p
        lib.GDALOpenEx.argtypes = [
            ctypes.c_char_p,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.GDALClose.argtypes = [ctypes.c_void_p]
        lib.GDALClose.restype = ctypes.c_int
        lib.GDALTranslateOptionsNew.restype = ctypes.c_void_p
        lib.GDALTranslateOptionsNew.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.GDALTranslateOptionsSetProgress.argtypes = [
            ctypes.c_void_p,
            PROGRESS,
            ctypes.c_void_p,
        ]
        lib.GDALTranslateOptionsFree.argtypes = [ctypes.c_void_p]
        lib.GDALTranslate.restype = ctypes.c_void_p
        lib.GDALTranslate.argtypes = [
            ctypes.c_char_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_int),
        ]
        lib.CPLGetLastErrorMsg.restype = ctypes.c_char_p
        lib.CPLErrorReset.restype = None
        _library = lib
        return lib


def last_error() -> str:
    message = library().CPLGetLastErrorMsg() or b""
    return message.decode("utf-8", "replace").strip()


@contextmanager
def opened(path: Path, drivers: Sequence[str], siblings: Sequence[str] = ()) -> Iterator[int]:
    """A GDAL dataset handle of `path`, opened only by `drivers`, seeing only `siblings`."""
    lib = library()
    lib.CPLErrorReset()
    handle = lib.GDALOpenEx(
        str(path).encode(),
        GDAL_OF_RASTER | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR,
        ctypes.cast(_strings(list(drivers)), ctypes.c_void_p),
        None,
        ctypes.cast(_strings(list(siblings)), ctypes.c_void_p),
    )
    if not handle:
        raise GDALError(last_error() or "cannot open")
    try:
        yield handle
    finally:
        lib.GDALClose(handle)


def translate(
    source: int, target: Path, arguments: Sequence[str], on_progress: Callable[[float], None]
) -> None:
    """`gdal_translate <arguments> source target`, reporting the fraction done."""
    lib = library()
    argv = _strings(list(arguments))
    options = lib.GDALTranslateOptionsNew(ctypes.cast(argv, ctypes.c_void_p), None)
    if not options:
        raise GDALError(last_error() or "invalid translate options")
    failure: list[BaseException] = []

    def progress(fraction: float, _message: bytes | None, _data: int | None) -> int:
        try:
            on_progress(fraction)
        except BaseException as exc:  # noqa: BLE001 - re-raised below, GDAL stops
            failure.append(exc)
            return 0
        return 1

    callback = PROGRESS(progress)
    lib.GDALTranslateOptionsSetProgress(options, callback, None)
    usage = ctypes.c_int(0)
    lib.CPLErrorReset()
    try:
        result = lib.GDALTranslate(str(target).encode(), source, options, ctypes.byref(usage))
    finally:
        lib.GDALTranslateOptionsFree(options)
    if failure:
        if result:
            lib.GDALClose(result)
        raise failure[0]
    if not result:
        raise GDALError(last_error() or "translate failed")
    if lib.GDALClose(result) != 0:  # CE_None: the last blocks and the IFDs written
        raise GDALError(last_error() or "closing the output failed")
    message = last_error()
    if message and "Read error" in message:  # a warning-level read failure: a truncation
        raise GDALError(message)
