"""The volunteer's page of a campaign, on a phone: `/campagnes/{slug}/contribuer`.

A signed-in volunteer places a point (or draws a line or a polygon) on a map, fills the
form generated from the campaign's attribute schema, may add a photo, and chooses the
name they are credited under (their account's display name by default, never their
e-mail). The page (`static/js/contribute.js`) keeps drafts and a queue of contributions
in the browser, so it works with a poor connection; its service worker
(`static/js/contribute-sw.js`, served under the campaign's path so that it controls the
page) keeps the page readable offline.

The page talks to JSON endpoints below it, each checking the session's CSRF token sent
as `X-CSRF-Token` (as the upload page does with the API):

    POST …/contribuer/envoi     features from the form or the offline queue → submit
    POST …/contribuer/fichier   a field file (GPX, GeoJSON, KML, CSV, GeoPackage, ODK,
                                Kobo) → `ingest.field_files` → submit, per-feature report
    POST …/contribuer/photo     a photo → `ingest.photos` (re-encoded, no EXIF) → its key
    GET  …/contribuer/mes-contributions   the volunteer's own, state and review comment
    GET  …/contribuer/photos/{key}        a photo of a contribution the viewer may see

The bodies are checked and the answers shaped in `contribute_json.py`; everything is
handed to the core (`catalogue.campaigns.contributions.submit`), which checks who may
contribute, validates, and keeps re-sent uids idempotent.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import shapely
from geoalchemy2.shape import to_shape
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from niaouli import storage
from niaouli.catalogue.campaigns import campaigns, contributions
from niaouli.catalogue.campaigns.campaign_tables import Campaign, Contribution
from niaouli.db.engine import writing
from niaouli.errors import ConflictError, ForbiddenError, NiaouliError, NotFoundError
from niaouli.i18n import N_, _, current_language
from niaouli.ingest import field_files, photos
from niaouli.ingest.errors import IngestError
from niaouli.portal.accounts import AccountPages
from niaouli.portal.common import identity_for, not_found, viewer_for
from niaouli.portal.contribute_json import (
    MAX_JSON_BYTES,
    BadBodyError,
    credit_name,
    json_error,
    parse_features,
    result_report,
    stored_problems,
)
from niaouli.portal.public_map import NEW_CALEDONIA, OUTLINE, parse_background
from niaouli.portal.security import file_headers, page_csp
from niaouli.resources import package_dir

SERVICE_WORKER = package_dir("niaouli.portal") / "static" / "js" / "contribute-sw.js"
INPUT_TYPES = {"integer": "number", "number": "number", "date": "date", "boolean": "checkbox"}
STATE_LABELS = {
    "received": N_("reçue"),
    "has_issues": N_("à corriger"),
    "edited": N_("modifiée"),
    "approved": N_("approuvée"),
    "rejected": N_("rejetée"),
    "merged": N_("intégrée à la couche"),
}
LICENCES = {"lov2": N_("Licence Ouverte 2.0 (Etalab)"), "odbl": N_("ODbL (Open Database License)")}


def _text(value: Any) -> str:  # noqa: ANN401 - a label is {"fr", "en"} or text
    """A schema label or help in the request's language (French when missing)."""
    if isinstance(value, dict):
        return str(value.get(current_language()) or value.get("fr") or "")
    return str(value or "")


def form_fields(schema: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The campaign's attribute schema as the template draws its inputs."""
    fields = []
    for index, spec in enumerate(schema or []):
        if not isinstance(spec, dict) or not spec.get("name"):
            continue
        kind = spec.get("type") or "string"
        fields.append(
            {
                "name": spec["name"],
                "id": f"champ-{index}",
                "kind": kind,
                "input": INPUT_TYPES.get(kind, "text"),
                "label": _text(spec.get("label")) or spec["name"],
                "help": _text(spec.get("help")),
                "required": bool(spec.get("required")),
                "options": [str(v) for v in spec.get("enum") or []],
                "max_length": spec.get("max_length"),
                "step": "1" if kind == "integer" else "any",
            }
        )
    return fields


class ContributePages:
    """The page, its service worker and its JSON endpoints."""

    def __init__(self, accounts: AccountPages) -> None:
        self.accounts = accounts
        self.portal = accounts.portal
        self.background = parse_background(self.portal.settings.map_background)

    def routes(self) -> list[Route]:
        base = "/campagnes/{slug}/contribuer"
        return [
            Route(base, self.page),
            Route("/campagnes/{slug}/sw-contribuer.js", self.service_worker),
            Route(base + "/envoi", self.send, methods=["POST"]),
            Route(base + "/fichier", self.send_file, methods=["POST"]),
            Route(base + "/photo", self.send_photo, methods=["POST"]),
            Route(base + "/mes-contributions", self.mine),
            Route(base + "/photos/{key}", self.photo),
        ]

    # --- the page ----------------------------------------------------------------------

    def _campaign(self, session: Session, request: Request) -> Campaign:
        try:
            return campaigns.get_campaign(session, request.path_params["slug"], viewer_for(request))
        except NotFoundError:
            raise not_found() from None

    def _context(self, request: Request) -> dict[str, Any]:
        identity = identity_for(request)
        with Session(self.portal.engine) as session:
            campaign = self._campaign(session, request)
            area = campaigns.area_geojson(campaign)
            area = json.loads(json.dumps(area)) if area else None  # tuples → lists
            slug = campaign.slug
            base = f"/campagnes/{quote(slug)}/contribuer"
            config = {
                "slug": slug,
                "user": identity.user_id,
                "geometryType": campaign.geometry_type,
                "area": area,
                "bounds": list(shapely.geometry.shape(area).bounds) if area else NEW_CALEDONIA,
                "outline": OUTLINE,
                "background": (
                    {
                        "tiles": self.background.template,
                        "attribution": self.background.attribution,
                    }
                    if self.background
                    else None
                ),
                "endpoints": {
                    "send": base + "/envoi",
                    "file": base + "/fichier",
                    "photo": base + "/photo",
                    "mine": base + "/mes-contributions",
                    "worker": f"/campagnes/{quote(slug)}/sw-contribuer.js",
                    "scope": base,
                },
                "maxPhotoBytes": photos.MAX_BYTES,
                "maxFileBytes": field_files.MAX_BYTES,
            }
            return {
                "campaign": campaign,
                "is_open": campaigns.is_open(campaign),
                "fields": form_fields(campaign.attribute_schema),
                "licence": _(LICENCES.get(campaign.licence, campaign.licence)),
                "display_name": identity.display_name or "",
                "config": config,
            }

    async def page(self, request: Request) -> Response:
        if identity_for(request).via != "session":
            return RedirectResponse(
                f"/connexion?suivant={quote(request.url.path)}", status_code=303
            )
        context = await run_in_threadpool(self._context, request)
        response = self.accounts.page(request, "contribute_page.html", **context)
        if self.background:
            response.headers["Content-Security-Policy"] = page_csp(self.background.origin)
        return response

    async def service_worker(self, request: Request) -> Response:
        """The worker script, under the campaign's path so its scope covers the page."""
        return FileResponse(
            SERVICE_WORKER,
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    # --- JSON endpoints -----------------------------------------------------------------

    def _refusal(self, request: Request) -> JSONResponse | None:
        """Signed in through the session, with the page's CSRF token, else why not."""
        if identity_for(request).via != "session":
            return json_error(
                _("Vous n'êtes plus connecté : reconnectez-vous, puis renvoyez."),
                401,
                "AuthenticationRequired",
            )
        if not self.accounts.csrf.is_valid(request, request.headers.get("x-csrf-token")):
            return json_error(
                _("La page a expiré : rechargez-la, puis renvoyez."), 403, "CsrfTokenInvalid"
            )
        queued_by = request.headers.get("x-niaouli-user")
        if queued_by is not None and queued_by != str(identity_for(request).user_id):
            # Queued on this phone under another account: never credited to this one.
            return json_error(
                _("Préparée avec un autre compte : reconnectez-vous avec celui-ci pour l'envoyer."),
                409,
                "OtherAccount",
            )
        return None

    def _core_error(self, exc: NiaouliError) -> JSONResponse:
        status = 400
        for kind, code in ((NotFoundError, 404), (ForbiddenError, 403), (ConflictError, 409)):
            if isinstance(exc, kind):
                status = code
                break
        return json_error(str(exc), status, getattr(exc, "code", "Invalid"))

    async def _body(self, request: Request, limit: int, folder: Path | None = None) -> bytes | Path:
        """The request body, refused past `limit` bytes while it streams (into `folder`
        when given, else in memory)."""
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            raise _TooBig
        received = 0
        if folder is None:
            chunks = []
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise _TooBig
                chunks.append(chunk)
            return b"".join(chunks)
        path = folder / "envoi"
        with path.open("wb") as out:
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise _TooBig
                out.write(chunk)
        return path

    def _submit(
        self,
        request: Request,
        make: Callable[[Campaign], list[contributions.ProposedFeature]],
        *,
        source: str,
        display_name: str,
        filename: str | None = None,
    ) -> dict[str, Any]:
        """Submit the features `make` gives for the campaign, in one transaction."""
        viewer = viewer_for(request)
        with Session(writing(self.portal.engine)) as session, session.begin():
            campaign = self._campaign(session, request)
            features = make(campaign)
            result = contributions.submit(
                session,
                campaign,
                viewer,
                features,
                source=source,
                display_name=display_name,
                filename=filename,
            )
            return result_report(result)

    async def send(self, request: Request) -> Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        try:
            raw = await self._body(request, MAX_JSON_BYTES)
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                raise BadBodyError(_("envoi illisible (JSON attendu)")) from None
            if not isinstance(body, dict):
                raise BadBodyError(_("envoi illisible (JSON attendu)"))
            source = "offline" if body.get("source") == "offline" else "form"
            name = credit_name(body.get("display_name"), identity_for(request))
            settings = self.portal.settings

            def checked(campaign: Campaign) -> list[contributions.ProposedFeature]:
                return parse_features(body, campaign.attribute_schema or [], settings)

            report = await run_in_threadpool(
                self._submit, request, checked, source=source, display_name=name
            )
        except _TooBig:
            return json_error(_("envoi trop gros"), 413, "TooLarge")
        except BadBodyError as exc:
            return json_error(str(exc), 400)
        except NiaouliError as exc:
            return self._core_error(exc)
        return JSONResponse(report, headers={"Cache-Control": "no-store"})

    async def send_file(self, request: Request) -> Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        filename = unquote(request.headers.get("x-filename", ""))[:200] or "fichier"
        display = request.headers.get("x-display-name", "")
        try:
            name = credit_name(unquote(display), identity_for(request))
            with tempfile.TemporaryDirectory(prefix="niaouli-terrain-") as folder:
                work = Path(folder)
                path = await self._body(request, field_files.MAX_BYTES, work)
                report = await run_in_threadpool(
                    self._read_and_submit, request, path, filename, name, work
                )
        except _TooBig:
            return json_error(
                _("fichier trop gros : %(max)s Mo au plus pour un envoi de terrain")
                % {"max": field_files.MAX_BYTES >> 20},
                413,
                "TooLarge",
            )
        except IngestError as exc:
            return json_error(str(exc), 400, "InvalidFile")
        except BadBodyError as exc:
            return json_error(str(exc), 400)
        except NiaouliError as exc:
            return self._core_error(exc)
        return JSONResponse(report, headers={"Cache-Control": "no-store"})

    def _read_and_submit(
        self, request: Request, path: Path, filename: str, name: str, work: Path
    ) -> dict[str, Any]:
        read: dict[str, Any] = {}

        def features(campaign: Campaign) -> list[contributions.ProposedFeature]:
            got = field_files.read_field_file(
                path,
                filename=filename,
                schema=campaign.attribute_schema or [],
                geometry_type=campaign.geometry_type,
                workdir=work,
            )
            read["file"] = got
            return [
                contributions.ProposedFeature(
                    uid=f["uid"], geometry=f["geometry"], properties=f["properties"]
                )
                for f in got.features
            ]

        viewer = viewer_for(request)
        with Session(writing(self.portal.engine)) as session, session.begin():
            campaign = self._campaign(session, request)
            proposed = features(campaign)
            result = contributions.submit(
                session,
                campaign,
                viewer,
                proposed,
                source="file",
                display_name=name,
                filename=filename,
            )
            got = read["file"]
            report = result_report(result, {f["uid"]: f["where"] for f in got.features})
        report.update(format=got.format, notes=got.notes, filename=filename)
        order = {f["uid"]: i for i, f in enumerate(got.features)}
        report["results"].sort(key=lambda r: order.get(r["uid"], 0))
        return report

    async def send_photo(self, request: Request) -> Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        filename = unquote(request.headers.get("x-filename", ""))[:200] or "photo"
        kind = request.headers.get("content-type")
        try:
            await run_in_threadpool(self._campaign_open, request)
            data = await self._body(request, photos.MAX_BYTES)
            assert isinstance(data, bytes)

            def keep() -> dict[str, Any]:
                photo = photos.sanitise(data, filename=filename, content_type=kind)
                key = photos.store(photo, self.portal.settings)
                return {"key": key, "width": photo.width, "height": photo.height}

            stored = await run_in_threadpool(keep)
        except _TooBig:
            return json_error(
                _("photo trop lourde : %(max)s Mo au plus") % {"max": photos.MAX_BYTES >> 20},
                413,
                "TooLarge",
            )
        except IngestError as exc:
            return json_error(str(exc), 400, "InvalidPhoto")
        except NiaouliError as exc:
            return self._core_error(exc)
        except storage.StorageError:
            return json_error(_("stockage indisponible : réessayez plus tard"), 503, "Storage")
        return JSONResponse(stored, headers={"Cache-Control": "no-store"})

    def _campaign_open(self, request: Request) -> None:
        """Photos are taken only for an open campaign the viewer sees (no free storage)."""
        with Session(self.portal.engine) as session:
            campaigns.check_open(self._campaign(session, request))

    # --- reading back -------------------------------------------------------------------

    def _mine(self, request: Request) -> dict[str, Any]:
        viewer = viewer_for(request)
        with Session(self.portal.engine) as session:
            campaign = self._campaign(session, request)
            query = (
                contributions.visible_contributions(session, campaign, viewer)
                .where(Contribution.contributor_id == viewer.user_id)
                .order_by(Contribution.id.desc())
                .limit(500)
            )
            rows = session.scalars(query).all()
            labels = {f["name"]: f["label"] for f in form_fields(campaign.attribute_schema)}
            base = f"/campagnes/{quote(campaign.slug)}/contribuer/photos/"
            items = []
            for c in rows:
                state = str(getattr(c.state, "value", c.state))
                items.append(
                    {
                        "uid": c.uid,
                        "id": c.id,
                        "state": state,
                        "state_label": _(STATE_LABELS.get(state, state)),
                        "comment": c.review_comment,
                        "problems": stored_problems(c),
                        "created": c.created_at.isoformat() if c.created_at else None,
                        "properties": [
                            {"label": labels.get(k, k), "value": v}
                            for k, v in (c.properties or {}).items()
                        ],
                        "geometry": (
                            json.loads(shapely.to_geojson(to_shape(c.geom)))
                            if c.geom is not None
                            else None
                        ),
                        "photo": base + c.photo_key if c.photo_key else None,
                    }
                )
        return {"contributions": items}

    async def mine(self, request: Request) -> Response:
        if not identity_for(request).is_signed_in:
            return json_error(
                _("Vous n'êtes plus connecté : reconnectez-vous."), 401, "AuthenticationRequired"
            )
        data = await run_in_threadpool(self._mine, request)
        return JSONResponse(data, headers={"Cache-Control": "private, no-store"})

    def _photo_visible(self, request: Request, key: str) -> bool:
        viewer = viewer_for(request)
        with Session(self.portal.engine) as session:
            campaign = self._campaign(session, request)
            query = (
                contributions.visible_contributions(session, campaign, viewer)
                .where(Contribution.photo_key == key)
                .limit(1)
            )
            return session.scalars(query).first() is not None

    async def photo(self, request: Request) -> Response:
        key = request.path_params["key"]
        if not photos.is_photo_key(key):
            raise not_found()
        if not await run_in_threadpool(self._photo_visible, request, key):
            raise not_found()
        try:
            data = b"".join(storage.read(self.portal.settings, key, photos.FILENAME))
        except FileNotFoundError:
            raise not_found() from None
        headers = {**file_headers(), "Cache-Control": "private, max-age=3600"}
        headers["Content-Disposition"] = 'inline; filename="photo.jpg"'
        return Response(data, media_type=photos.MEDIA_TYPE, headers=headers)


class _TooBig(Exception):  # noqa: N818 - a signal, not an error shown as such
    """The body went past its limit while streaming (413)."""
