"""Files the portal hands out: original resources, layer exports, map preview GeoJSON.

Each handler first fetches the dataset through the catalogue service with the visitor's
viewer (so a non-public dataset's files are a 404 like anything else of it), then finds
the resource or layer *inside that dataset* — never by a global id alone.

Original files are found only by their server-made storage key (`niaouli.storage`
checks every name, S16), and are always sent as `attachment`, with `nosniff`, a
sandboxing CSP and a media type from a short allow-list — never `text/html` or SVG (S19).
Files and exports are streamed from the storage backend (local folder or S3 bucket) with
range requests (`niaouli.storage.http`): 206 for a range, 416 for a bad one.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import quote

import shapely
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from niaouli import export_jobs, exports, storage
from niaouli.catalogue import columns, service
from niaouli.catalogue.models import Dataset, Layer, Resource, ResourceKind
from niaouli.db.layers import GEOMETRY_FIELD, ColumnSpec, read_layer
from niaouli.i18n import _
from niaouli.portal import export_pending
from niaouli.portal.common import Portal, not_found, viewer_for
from niaouli.portal.security import file_headers
from niaouli.storage.http import object_response

PREVIEW_FEATURES = 5000
PREVIEW_DETAIL = 1500  # simplify to about 1/1500 of the layer's extent
SERVED_MEDIA_TYPES = {
    "application/geo+json",
    "application/json",
    "application/geopackage+sqlite3",
    "application/zip",
    "application/x-shapefile",
    "application/vnd.google-earth.kml+xml",
    "application/gpx+xml",
    "application/pdf",
    "image/tiff",  # GeoTIFF and Cloud Optimized GeoTIFF (rasters)
    "image/jp2",
    "text/csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def download_media_type(declared: str | None) -> str:
    """The declared type if it is a harmless data type, else a plain byte stream."""
    base = (declared or "").split(";")[0].strip().lower()
    if base not in SERVED_MEDIA_TYPES:
        return "application/octet-stream"
    return "text/csv; charset=utf-8" if base == "text/csv" else base


RASTER_ROLES = ("raster-cog", "raster-source")


def raster_resource(dataset: Dataset, storage_key: str | None) -> Resource | None:
    """The dataset's resource holding a raster layer's COG or original (`storage_key`)."""
    if not storage_key:
        return None
    return next(
        (
            r
            for r in dataset.resources
            if r.role in RASTER_ROLES
            and r.kind == ResourceKind.FILE
            and r.storage_key == storage_key
        ),
        None,
    )


def resource_path(slug: str, resource: Resource) -> str:
    """The download path of a file resource (`Files.resource`, with ranges)."""
    return (
        f"/jeux-de-donnees/{quote(slug, safe='')}/ressources/{resource.id}/"
        f"{quote(resource.filename or '', safe='')}"
    )


def storage_unavailable() -> Response:
    """The file storage (an S3 bucket) does not answer: 503, try again shortly."""
    return Response(
        _("Stockage des fichiers momentanément indisponible. Réessayez dans quelques instants."),
        status_code=503,
        media_type="text/plain; charset=utf-8",
        headers={"Retry-After": "10", **file_headers()},
    )


class Files:
    def __init__(self, portal: Portal) -> None:
        self.portal = portal

    def _dataset(self, session: Session, request: Request) -> Dataset:
        try:
            return service.get_dataset(session, request.path_params["slug"], viewer_for(request))
        except service.NotFoundError:
            raise not_found() from None

    def _layer(self, session: Session, request: Request) -> Layer:
        dataset = self._dataset(session, request)
        name = request.path_params["layer"]
        layer = next((item for item in dataset.layers if item.name == name), None)
        if layer is None:
            raise not_found()
        return layer

    def resource(self, request: Request) -> Response:
        """`/jeux-de-donnees/{slug}/ressources/{id}/{filename}`: the original file."""
        raw_id = request.path_params["resource_id"]
        if not (raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 18):
            raise not_found()  # not Starlette's `int` convertor: 10 kB of digits is a 500 there
        with Session(self.portal.engine) as session:
            dataset = self._dataset(session, request)
            resource: Resource | None = next(
                (r for r in dataset.resources if r.id == int(raw_id)), None
            )
            if (
                resource is None
                or resource.kind != ResourceKind.FILE
                or not resource.storage_key
                or resource.filename != request.path_params["filename"]
            ):
                raise not_found()
            key, filename, declared = resource.storage_key, resource.filename, resource.media_type
        try:
            return object_response(
                request,
                storage.area(self.portal.settings),
                storage.object_name(key, filename),
                media_type=download_media_type(declared),
                filename=filename,
                headers=file_headers(),
            )
        except (ValueError, FileNotFoundError):
            raise not_found() from None
        except storage.StorageError:
            return storage_unavailable()

    def raster(self, request: Request) -> Response:
        """`/jeux-de-donnees/{slug}/rasters/{collection}/{filename}`: the first address of
        a raster's COG and original. They are the dataset's resources (roles `raster-cog`
        and `raster-source`), downloaded like any file at `ressources/{id}/{filename}`
        (ranges, the access rule): one way only, this one redirects there (308 keeps
        the method and `Range`; GDAL's `/vsicurl/` and QGIS follow it)."""
        with Session(self.portal.engine) as session:
            dataset = self._dataset(session, request)
            layer = next(
                (
                    r
                    for r in dataset.raster_layers
                    if r.collection_id == request.path_params["collection"]
                ),
                None,
            )
            wanted = request.path_params["filename"]
            if layer is None:
                raise not_found()
            if wanted == layer.cog_filename:
                key = layer.cog_key
            elif layer.original_key and wanted == layer.original_filename:
                key = layer.original_key
            else:
                raise not_found()
            resource = raster_resource(dataset, key)
            if resource is None:
                raise not_found()
            target = resource_path(dataset.slug, resource)
        root = request.scope.get("root_path", "").rstrip("/")
        return Response(status_code=308, headers={"location": root + target, **file_headers()})

    def export(self, request: Request) -> Response:
        """`/jeux-de-donnees/{slug}/couches/{layer}/{collection}.{format}`: the stored
        export; one not yet prepared is asked of the jobs (`niaouli.export_jobs`) and
        waited for a few seconds, then 202 « en préparation » (`?etat`: where it stands,
        as JSON, without the file)."""
        with Session(self.portal.engine) as session:
            layer = self._layer(session, request)
            info = exports.LayerInfo.from_layer(layer)
            dataset_path = f"/jeux-de-donnees/{layer.dataset.slug}"
        requested = request.path_params["filename"]
        prefix = f"{info.collection_id}."
        key = requested[len(prefix) :] if requested.startswith(prefix) else ""
        fmt = next((f for f in exports.formats_for(info) if f.key == key), None)
        if fmt is None:
            raise not_found()
        settings, engine = self.portal.settings, self.portal.engine
        asking = "etat" in request.query_params
        try:
            if asking:
                current = export_jobs.state(engine, settings, info, fmt)
                if current.state == "absent":
                    export_jobs.request(engine, settings, info, fmt)
                    current = export_jobs.state(engine, settings, info, fmt)
            else:
                current = export_jobs.wait_ready(engine, settings, info, fmt, settings.export_wait)
            if current.state != export_jobs.READY or asking:
                return export_pending.answer(
                    self.portal, request, current, fmt, requested, dataset_path
                )
            return object_response(
                request,
                exports.cache(settings),
                exports.export_name(info, fmt),
                media_type=fmt.media_type,
                filename=requested,
                headers=file_headers(),
            )
        except FileNotFoundError:  # pruned meanwhile: made again at the next request
            raise not_found() from None
        except storage.StorageError:
            return storage_unavailable()

    def preview(self, request: Request) -> Response:
        """A light GeoJSON of a layer for the map preview: simplified geometries, and the
        attributes its pop-up shows (the columns the editors hid are left out)."""
        with Session(self.portal.engine) as session:
            layer = self._layer(session, request)
            info = exports.LayerInfo.from_layer(layer)
            if not info.has_geometry:
                raise not_found()
            extent = layer.extent
            hidden = columns.hidden_names(layer)
            shown = [
                ColumnSpec(a["name"], a["column"], a["type"])
                for a in layer.attribute_schema or ()
                if a["name"] not in hidden
            ]
            conn = session.connection()
            batches = list(read_layer(conn, info.table_name, shown, True, limit=PREVIEW_FEATURES))
        fids = [fid for batch in batches for fid in batch.column("fid").to_pylist()]
        rename = {c.column: c.name for c in shown}
        rows = (
            [
                {rename[k]: v for k, v in row.items()}
                for batch in batches
                for row in batch.select(list(rename)).to_pylist()
            ]
            if shown
            else [{} for _ in fids]
        )
        wkb = [g for batch in batches for g in batch.column(GEOMETRY_FIELD).to_pylist()]
        geometries = shapely.from_wkb(wkb)
        if extent:
            span = max(extent[2] - extent[0], extent[3] - extent[1])
            if span > 0:
                geometries = shapely.simplify(
                    geometries, span / PREVIEW_DETAIL, preserve_topology=True
                )
        features = ",".join(
            f'{{"type":"Feature","id":{fid},"geometry":{geojson},"properties":{_json(props)}}}'
            for fid, geojson, props in zip(fids, shapely.to_geojson(geometries), rows, strict=True)
            if geojson is not None
        )
        body = '{"type":"FeatureCollection","features":[' + features + "]}"
        return Response(body, media_type="application/geo+json", headers=file_headers())


def _plain(value: Any) -> Any:
    """A cell as JSON can carry it: dates as ISO text, NaN and infinities as null."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _json(properties: dict[str, Any]) -> str:
    return json.dumps({k: _plain(v) for k, v in properties.items()}, ensure_ascii=False)
