"""GDAL and PROJ never reach the network from this process (SECURITY-CASES S11, S13, S14).

Untrusted files can name URLs that GDAL fetches while merely opening them: a GeoJSON
`crs` member of type `link` or `url` makes the GeoJSON driver call
`OGRSpatialReference::importFromUrl`, i.e. `CPLHTTPFetch`, three times per ingestion
(once per open). No GDAL configuration option turns that off, so `install()` replaces
GDAL's HTTP client for the whole process with `CPLHTTPSetFetchCallback` (GDAL >= 3.2): a
callback that answers every request with a failed result (status 1, "network access
disabled") — not with NULL, on which GDAL falls back to curl — and remembers the URL,
so that ingestion can say in its report that a remote reference was ignored. It is
installed on every copy of libgdal loaded in the process (pyogrio's wheel bundles its
own; fiona and rasterio bring others).

What else could reach the network, and what closes it:
- `/vsicurl/` and the other network virtual file systems use curl directly, not
  `CPLHTTPFetch`: `ingest.sniff` refuses virtual paths given by users, and
  `CPL_VSIL_CURL_ALLOWED_EXTENSIONS` is set to an extension nothing has, so a path
  hidden inside a file (a VRT source, say) opens nothing either.
- PROJ downloads grids only with its network enabled: off through
  `OSRSetPROJEnableNetwork(0)` for GDAL's PROJ, `pyproj.network.set_network_enabled`
  for pyproj's, and `PROJ_NETWORK=OFF` for contexts created later.

`tests/test_ingest_no_network.py` proves it with a canary HTTP server on 127.0.0.1 that
must see no request while every accepted format, with every kind of remote reference we
know of, is ingested through Python, the CLI, the API and the portal.
"""

from __future__ import annotations

import ctypes
import importlib.abc
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# CPLHTTPResult *(*)(const char *url, CSLConstList options, GDALProgressFunc, void *,
#                    CPLHTTPFetchWriteFunc, void *, void *user_data)
_FETCH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_void_p,
    ctypes.c_char_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
)
NO_EXTENSION = ".niaouli-network-disabled"
GDAL_OPTIONS = {
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": NO_EXTENSION,
    "GDAL_HTTP_MAX_RETRY": "0",
    "GDAL_HTTP_TIMEOUT": "1",
    "GDAL_HTTP_CONNECTTIMEOUT": "1",
}

_lock = threading.Lock()
_installed: set[str] = set()
_seen = threading.local()


_modules_seen = -1  # len(sys.modules) at the last full check
_callbacks: dict[str, object] = {}  # per library, kept alive for the life of the process


class GuardUnavailableError(RuntimeError):
    """GDAL is loaded but its HTTP client could not be replaced: refuse to open files."""


class _HTTPResult(ctypes.Structure):
    """GDAL's `CPLHTTPResult` (cpl_http.h), freed by GDAL with `CPLHTTPDestroyResult`."""

    _fields_ = [
        ("nStatus", ctypes.c_int),
        ("pszContentType", ctypes.c_void_p),
        ("pszErrBuf", ctypes.c_void_p),
        ("nDataLen", ctypes.c_int),
        ("nDataAlloc", ctypes.c_int),
        ("pabyData", ctypes.c_void_p),
        ("papszHeaders", ctypes.c_void_p),
        ("nMimePartCount", ctypes.c_int),
        ("pasMimePart", ctypes.c_void_p),
    ]


def _refusal(library: ctypes.CDLL) -> object:
    """A fetch callback for one libgdal: a failed result made with its own allocator."""
    library.CPLCalloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
    library.CPLCalloc.restype = ctypes.c_void_p
    library.CPLStrdup.argtypes = [ctypes.c_char_p]
    library.CPLStrdup.restype = ctypes.c_void_p

    def refuse(url, _options, _progress, _progress_arg, _write, _write_arg, _user):  # noqa: ANN001
        attempts = getattr(_seen, "urls", None)
        if attempts is not None:
            attempts.append((url or b"").decode("utf-8", "replace"))
        address = library.CPLCalloc(1, ctypes.sizeof(_HTTPResult))
        result = _HTTPResult.from_address(address)
        result.nStatus = 1
        result.pszErrBuf = library.CPLStrdup(b"network access disabled by Niaouli")
        return address

    return _FETCH_CALLBACK(refuse)


def _loaded_gdal_libraries() -> list[str]:
    """The paths of every libgdal mapped into this process."""
    paths: set[str] = set()
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    for line in maps.splitlines():
        path = line.split(maxsplit=5)[-1] if line.count(" ") >= 5 else ""
        if "libgdal" in Path(path).name and ".so" in path:
            paths.add(path)
    return sorted(paths)


def _guard_library(path: str) -> None:
    library = ctypes.CDLL(path)  # the copy already loaded: same handle, no second load
    callback = _callbacks.setdefault(path, _refusal(library))
    _set_guard(library, callback, enabled=True)


def _set_guard(library: ctypes.CDLL, callback: object, *, enabled: bool) -> None:
    library.CPLHTTPSetFetchCallback.argtypes = [_FETCH_CALLBACK, ctypes.c_void_p]
    library.CPLHTTPSetFetchCallback.restype = None
    library.CPLHTTPSetFetchCallback(callback if enabled else _FETCH_CALLBACK(), None)
    library.OSRSetPROJEnableNetwork.argtypes = [ctypes.c_int]
    library.OSRSetPROJEnableNetwork.restype = None
    library.OSRSetPROJEnableNetwork(0)
    library.CPLSetConfigOption.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    library.CPLSetConfigOption.restype = None
    for key, value in GDAL_OPTIONS.items():
        library.CPLSetConfigOption(key.encode(), value.encode() if enabled else None)


def install() -> None:
    """Cut GDAL and PROJ off the network in this process; idempotent and cheap.

    Called before any untrusted file is opened (ingestion, file previews) and at the
    start of the web application; the CLI guards GDAL when it is imported
    (`install_on_import`). Raises `GuardUnavailableError` rather than
    let a file be opened with GDAL's network client in place.
    """
    global _modules_seen
    # A new copy of libgdal only arrives with a new extension module: while none was
    # imported since the last full check, there is nothing to do (reading /proc/self/maps
    # costs 0.1-0.2 s in a server process, and raster tiles open a COG per request).
    if _installed and len(sys.modules) == _modules_seen:
        return
    import pyogrio  # noqa: F401  loads pyogrio's libgdal so that it is found below
    import pyproj.network

    os.environ["PROJ_NETWORK"] = "OFF"
    with _lock:
        modules = len(sys.modules)
        libraries = _loaded_gdal_libraries()
        if not libraries:
            raise GuardUnavailableError("libgdal not found among the loaded libraries")
        for path in libraries:
            if path in _installed:
                continue
            try:
                _guard_library(path)
            except (OSError, AttributeError) as exc:
                raise GuardUnavailableError(f"cannot install the network guard in {path}") from exc
            _installed.add(path)
        pyproj.network.set_network_enabled(False)
        _modules_seen = modules


# The packages that map a libgdal into the process when imported (pyogrio's wheel
# bundles its own; fiona and rasterio bring others; GDAL's own bindings are `osgeo`).
GDAL_PACKAGES = frozenset({"pyogrio", "fiona", "rasterio", "osgeo"})


class _GuardOnImport(importlib.abc.MetaPathFinder):
    """Installs the guard as soon as a package of `GDAL_PACKAGES` has been imported."""

    def find_spec(self, name, path, target=None):  # noqa: ANN001, ANN201 - importlib's API
        if name not in GDAL_PACKAGES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        load = loader.exec_module

        def exec_module(module: object) -> None:
            load(module)
            install()  # before the importer sees the package: nothing opened yet

        loader.exec_module = exec_module  # this module's own loader instance
        return spec


_finder = _GuardOnImport()


def install_on_import() -> None:
    """Guard GDAL the moment a package bringing it is imported, instead of now.

    What the command line calls at start: most commands never load GDAL, and loading it
    to guard it (pyogrio imports pandas) cost half a second on every command. A package
    already imported is guarded at once; the code that opens untrusted files still calls
    `install()` itself, which is then a no-op. Idempotent."""
    with _lock:
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)
    if any(name in sys.modules for name in GDAL_PACKAGES):
        install()


@contextmanager
def refused_urls() -> Iterator[list[str]]:
    """The URLs GDAL asked for (and was refused) in this thread during the block."""
    install()
    previous = getattr(_seen, "urls", None)
    urls: list[str] = []
    _seen.urls = urls
    try:
        yield urls
    finally:
        _seen.urls = previous
        if previous is not None:
            previous.extend(urls)


@contextmanager
def suspended() -> Iterator[None]:
    """GDAL's own HTTP client back for the block, in a process that is a GDAL *client*
    of the platform (the test suite reading `OAPIF:` URLs, a benchmark). Never around
    the opening of an untrusted file; the server and the CLI never call it."""
    install()  # installed first, so that no open during the block installs it anew
    with _lock:
        guarded = sorted(_installed)
        for path in guarded:
            _set_guard(ctypes.CDLL(path), _callbacks[path], enabled=False)
    try:
        yield
    finally:
        with _lock:
            for path in guarded:
                _set_guard(ctypes.CDLL(path), _callbacks[path], enabled=True)
