"""Drive QGIS (Debian's 3.22, headless) and OWSLib as MetaSearch does, for the tests.

Run by Debian's `/usr/bin/python3`, for which QGIS's Python bindings are built (not the
project's .venv): `tests/test_qgis_clients.py` sends a JSON list of jobs on stdin and
reads a JSON list of results, one per job, from the last line of stdout. This file must
not import the project: it runs in another interpreter.

Jobs (`kind`):
- `oapif`: a layer of QGIS's OGC API Features provider from `url` + `typename`, as the
  "Ajouter une couche WFS / OGC API - Entités" dialog makes it; validity, count, fields,
  every value of `values_of`, the extent, and the features of an extent (`bbox`) asked
  with the connection's "only request features overlapping the view extent" option
  (`restrictToRequestBBOX`), so QGIS sends `bbox=` to the server.
- `vectortiles`: a `QgsVectorTileLayer` on an XYZ template, rendered over `extent` to a
  transparent QImage; the count of non-transparent pixels.
- `xyzraster`: a `QgsRasterLayer` of the "wms" provider on an XYZ template (the
  "XYZ Tiles › New connection" dialog), rendered over `extent`; the count of
  non-transparent pixels and of distinct colours among them.
- `csw`: MetaSearch's calls (QGIS 3.22, `MetaSearch/dialogs/maindialog.py`): a
  `CatalogueServiceWeb(url, timeout, username, password)`, `getrecords2` with a keyword
  (`PropertyIsLike('csw:AnyText', ...)`) and/or a bbox, then `getrecordbyid`. Only this
  kind runs without QGIS (the .venv's newer OWSLib can run it too).

`auth` on a job: `{"method": "uri" | "authcfg", "username": ..., "password": ...}`:
`uri` puts `username=`/`password=` in the data source URI (the connection dialog's
Basic fields); `authcfg` stores a QgsAuthManager "Basic" configuration (the
Authentication tab) and references it by id. Every URL QGIS requested is returned
(`requests`), with whether it carried an `Authorization` header.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any

WORLD = "EPSG:4326"
WEB_MERCATOR = "EPSG:3857"


class Qgis:
    """One QgsApplication for the whole run, with a throw-away profile and auth DB."""

    def __init__(self) -> None:
        self.folder = tempfile.TemporaryDirectory(prefix="niaouli-qgis-")
        runtime = os.path.join(self.folder.name, "runtime")
        os.makedirs(runtime, mode=0o700)
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        os.environ["XDG_RUNTIME_DIR"] = runtime
        os.environ["QGIS_AUTH_DB_DIR_PATH"] = self.folder.name
        from qgis.core import QgsApplication, QgsNetworkAccessManager

        self.app = QgsApplication([], False, self.folder.name)
        self.app.initQgis()
        self.requests: list[dict[str, Any]] = []
        # Called in the thread that creates each request (the providers download from
        # worker threads), unlike the requestAboutToBeCreated signal.
        QgsNetworkAccessManager.setRequestPreprocessor(self._record)
        # Why a layer is invalid: the providers log it (QgsError.summary() crashes here).
        self.messages: list[str] = []
        QgsApplication.messageLog().messageReceived.connect(self._message)
        self._authcfg: dict[tuple[str, str], str] = {}

    def _record(self, request: Any) -> None:
        self.requests.append(
            {
                "url": request.url().toString(),
                "authorization": request.hasRawHeader(b"Authorization"),
            }
        )

    def _message(self, message: str, tag: str, _level: Any) -> None:
        self.messages.append(f"{tag}: {message}")

    def authcfg(self, username: str, password: str) -> str:
        """The id of a Basic configuration in QGIS's authentication database."""
        key = (username, password)
        if key not in self._authcfg:
            from qgis.core import QgsApplication, QgsAuthMethodConfig

            manager = QgsApplication.authManager()
            if not manager.masterPasswordIsSet():
                assert manager.setMasterPassword("niaouli-tests", True), "auth DB"
            config = QgsAuthMethodConfig()
            config.setMethod("Basic")
            config.setName(f"niaouli {len(self._authcfg)}")
            config.setConfig("username", username)
            config.setConfig("password", password)
            assert config.isValid()
            assert manager.storeAuthenticationConfig(config), "storeAuthenticationConfig"
            self._authcfg[key] = config.id()
        return self._authcfg[key]

    def close(self) -> None:
        self.app.exitQgis()
        self.folder.cleanup()


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def oapif(qgis: Qgis, job: dict[str, Any]) -> dict[str, Any]:
    from qgis.core import QgsFeatureRequest, QgsRectangle, QgsVectorLayer

    parts = {"url": job["url"], "typename": job["typename"]}
    auth = job.get("auth")
    if auth and auth["method"] == "uri":
        parts |= {"username": auth["username"], "password": auth["password"]}
    elif auth and auth["method"] == "authcfg":
        parts["authcfg"] = qgis.authcfg(auth["username"], auth["password"])
    layer = QgsVectorLayer(_uri(parts), job["typename"], "OAPIF")
    result: dict[str, Any] = {"valid": layer.isValid()}
    if not layer.isValid():
        return result
    extent = layer.extent()
    result |= {
        "count": layer.featureCount(),
        "fields": [field.name() for field in layer.fields()],
        "crs": layer.crs().authid(),
        "geometry": layer.geometryType(),
        "extent": [extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum()],
    }
    name = job.get("values_of")
    if name:
        result["values"] = [feature[name] for feature in layer.getFeatures()]
    if name and job.get("bbox"):
        # Another layer: this one now holds every feature in its cache and would filter
        # them itself. With the option, QGIS asks the server for the rectangle only.
        boxed = QgsVectorLayer(_uri(parts | {"restrictToRequestBBOX": "1"}), "bbox", "OAPIF")
        request = QgsFeatureRequest().setFilterRect(QgsRectangle(*job["bbox"]))
        result["bbox_values"] = [feature[name] for feature in boxed.getFeatures(request)]
    return result


def _uri(parts: dict[str, str]) -> str:
    """A WFS / OAPIF data source URI: key='value' pairs."""
    return " ".join(f"{key}={_quoted(value)}" for key, value in parts.items())


def vectortiles(qgis: Qgis, job: dict[str, Any]) -> dict[str, Any]:
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsCoordinateTransform,
        QgsDataSourceUri,
        QgsMapRendererSequentialJob,
        QgsMapSettings,
        QgsProject,
        QgsRectangle,
        QgsVectorTileLayer,
    )
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    uri = QgsDataSourceUri()
    # "Nouvelle connexion générique": type xyz, the URL template, zoom levels.
    uri.setParam("type", "xyz")
    uri.setParam("url", job["url"])
    uri.setParam("zmin", str(job.get("zmin", 0)))
    uri.setParam("zmax", str(job.get("zmax", 14)))
    auth = job.get("auth")
    if auth:
        uri.setAuthConfigId(qgis.authcfg(auth["username"], auth["password"]))
    layer = QgsVectorTileLayer(bytes(uri.encodedUri()).decode(), "tuiles")
    result: dict[str, Any] = {"valid": layer.isValid()}
    if not layer.isValid():
        return result
    settings = QgsMapSettings()
    settings.setLayers([layer])
    mercator = QgsCoordinateReferenceSystem(WEB_MERCATOR)
    settings.setDestinationCrs(mercator)
    to_mercator = QgsCoordinateTransform(
        QgsCoordinateReferenceSystem(WORLD), mercator, QgsProject.instance()
    )
    settings.setExtent(to_mercator.transformBoundingBox(QgsRectangle(*job["extent"])))
    size = job.get("size", 256)
    settings.setOutputSize(QSize(size, size))
    settings.setBackgroundColor(QColor(0, 0, 0, 0))
    render = QgsMapRendererSequentialJob(settings)
    render.start()
    render.waitForFinished()
    image = render.renderedImage()
    if job.get("save"):
        image.save(job["save"])
    painted = sum(
        1
        for x in range(image.width())
        for y in range(image.height())
        if QColor.fromRgba(image.pixel(x, y)).alpha() > 0
    )
    result |= {
        "pixels": painted,
        "size": [image.width(), image.height()],
        "errors": [error.message for error in render.errors()],
    }
    return result


def xyzraster(qgis: Qgis, job: dict[str, Any]) -> dict[str, Any]:
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsCoordinateTransform,
        QgsDataSourceUri,
        QgsMapRendererSequentialJob,
        QgsMapSettings,
        QgsProject,
        QgsRasterLayer,
        QgsRectangle,
    )
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    uri = QgsDataSourceUri()
    uri.setParam("type", "xyz")
    uri.setParam("url", job["url"])
    uri.setParam("zmin", str(job.get("zmin", 0)))
    uri.setParam("zmax", str(job.get("zmax", 18)))
    layer = QgsRasterLayer(bytes(uri.encodedUri()).decode(), "tuiles raster", "wms")
    result: dict[str, Any] = {"valid": layer.isValid()}
    if not layer.isValid():
        return result
    settings = QgsMapSettings()
    settings.setLayers([layer])
    mercator = QgsCoordinateReferenceSystem(WEB_MERCATOR)
    settings.setDestinationCrs(mercator)
    to_mercator = QgsCoordinateTransform(
        QgsCoordinateReferenceSystem(WORLD), mercator, QgsProject.instance()
    )
    settings.setExtent(to_mercator.transformBoundingBox(QgsRectangle(*job["extent"])))
    size = job.get("size", 256)
    settings.setOutputSize(QSize(size, size))
    settings.setBackgroundColor(QColor(0, 0, 0, 0))
    render = QgsMapRendererSequentialJob(settings)
    render.start()
    render.waitForFinished()
    image = render.renderedImage()
    if job.get("save"):
        image.save(job["save"])
    colours = set()
    painted = 0
    for x in range(image.width()):
        for y in range(image.height()):
            colour = QColor.fromRgba(image.pixel(x, y))
            if colour.alpha() > 0:
                painted += 1
                colours.add((colour.red(), colour.green(), colour.blue()))
    result |= {
        "pixels": painted,
        "colours": len(colours),
        "errors": [error.message for error in render.errors()],
    }
    return result


def csw(job: dict[str, Any]) -> dict[str, Any]:
    """MetaSearch's search, then the record of the first hit (its "details" view)."""
    from owslib import __version__ as owslib_version
    from owslib.csw import CatalogueServiceWeb
    from owslib.fes import BBox, PropertyIsLike

    def connect() -> Any:
        return CatalogueServiceWeb(
            job["url"],
            timeout=job.get("timeout", 10),
            username=job.get("username") or None,
            password=job.get("password") or None,
        )

    catalogue = connect()
    constraints: list[Any] = []
    if job.get("bbox"):  # MetaSearch sends its west/south/east/north boxes this way
        west, south, east, north = (str(v) for v in job["bbox"])
        constraints.append(BBox([south, west, north, east], crs="urn:ogc:def:crs:EPSG::4326"))
    if job.get("keywords"):
        constraints.append(PropertyIsLike("csw:AnyText", job["keywords"]))
    if len(constraints) > 1:
        constraints = [constraints]
    catalogue.getrecords2(constraints=constraints, maxrecords=job.get("maxrecords", 10), esn="full")
    records = [
        {"identifier": record.identifier, "title": record.title, "type": record.type}
        for record in catalogue.records.values()
    ]
    result: dict[str, Any] = {
        "owslib": owslib_version,
        "title": catalogue.identification.title,
        "matches": catalogue.results["matches"],
        "records": records,
    }
    if records:
        details = connect()
        details.getrecordbyid([records[0]["identifier"]])
        record = details.records[records[0]["identifier"]]
        result["by_id"] = {"identifier": record.identifier, "title": record.title}
    return result


def run(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    qgis = Qgis() if any(job["kind"] != "csw" for job in jobs) else None
    results = []
    try:
        for job in jobs:
            before = len(qgis.requests) if qgis else 0
            logged = len(qgis.messages) if qgis else 0
            try:
                if job["kind"] == "csw":
                    result = csw(job)
                else:
                    assert qgis is not None
                    result = {"oapif": oapif, "vectortiles": vectortiles, "xyzraster": xyzraster}[
                        job["kind"]
                    ](qgis, job)
            except Exception as error:  # noqa: BLE001 - reported to the test, which fails
                result = {"exception": f"{type(error).__name__}: {error}"}
            if qgis:
                qgis.app.processEvents()  # deliver the log messages queued by other threads
                result["requests"] = qgis.requests[before:]
                result["messages"] = qgis.messages[logged:]
            results.append(result)
    finally:
        if qgis:
            qgis.close()
    return results


if __name__ == "__main__":
    print(json.dumps(run(json.load(sys.stdin)), ensure_ascii=False))
    sys.stdout.flush()
