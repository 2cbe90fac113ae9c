"""OGC API Features Part 4 (create, replace, update, delete) on each campaign's staging
collection, `/ogc/collections/contributions.<slug>`, so QGIS 3.32+ and scripts contribute.

Who sees what is the core's rule (`contributions.visible_contributions`): the campaign's
organisation's editors see every staged item, any other signed-in user the collection
with only their own items, anonymous callers a 404 (as for a collection that does not
exist). Writes need an API token that may write (Bearer, or HTTP Basic with the token as
password, as QGIS sends it): a session cookie is refused (no CSRF token on this
interface), a `read` token gets 403. Any signed-in user with a write token is a
contributor, as on the phone page (an editor of another organisation too); changing or
deleting an item is for the person who sent it: anyone else gets 403.

- Every item answers an `ETag` (its `Contribution.version`); a write whose `If-Match`
  names another version gets 412; a write without `If-Match` is applied (last writer
  wins, as pygeoapi and QGIS expect: QGIS sends none).
- A client's `id` (POST body) or path id (PUT) is kept as the item's id (`uid`): a
  repeated POST with the same id answers the item already stored, never a second one.
- Invalid features: 400 with the same per-field messages as the form (French, English
  with `?lang=en` or `Accept-Language: en`), nothing stored. Bodies above 1 MiB: 413;
  deep nesting, NaN, non-JSON: 400.
- Corrections and retirements of the authoritative layer (when the campaign allows
  them): the body names the target with `"niaouli:action": "update" | "retire"` and
  `"niaouli:target": <fid in the layer's collection>` (or the same as properties
  `_action` / `_target`), and may send `"niaouli:base_version"`; without one the core
  records the feature as it is now.

The anonymous `/conformance` is unchanged (read-only collections must not look editable,
see `conformance.py`); a signed-in caller who sees a staging collection gets the Part 4
classes added, and its `/collections` lists the staging collections it may see.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from niaouli.accounts.middleware import identity_of
from niaouli.catalogue.access import ANONYMOUS, Viewer
from niaouli.catalogue.campaigns import campaigns as campaign_service
from niaouli.catalogue.campaigns import contributions
from niaouli.catalogue.campaigns.campaign_tables import Campaign, Contribution
from niaouli.catalogue.campaigns.contributions import (
    InvalidFeatureError,
    PreconditionFailedError,
    ProposedFeature,
)
from niaouli.db.engine import writing
from niaouli.errors import ConflictError, ForbiddenError, NiaouliError, NotFoundError
from niaouli.i18n import LANGUAGES, _, speaking
from niaouli.services.ogc import runtime

PART4 = (
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
)
MAX_BODY = 1 << 20
JSON_TYPES = ("application/json", "application/geo+json", "application/merge-patch+json")
STAGING = r"contributions\.[a-z0-9][a-z0-9-]{0,99}"
ITEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:~-]{0,63}$")
NO_STORE = {"Cache-Control": "private, no-store"}
DEFAULT_LIMIT, MAX_LIMIT = 100, 10_000


class Refusal(Exception):  # noqa: N818 - an answer, not a failure
    def __init__(self, status: int, code: str, description: str, **extra: Any) -> None:
        super().__init__(description)
        self.status, self.code, self.description, self.extra = status, code, description, extra


def _answer(refusal: Refusal) -> JSONResponse:
    body = {"code": refusal.code, "description": refusal.description, **refusal.extra}
    headers = dict(NO_STORE)
    if refusal.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="niaouli", charset="UTF-8"'
    return JSONResponse(body, status_code=refusal.status, headers=headers)


def _language(request: Request) -> str:
    asked = request.query_params.get("lang", "").lower()
    if asked in LANGUAGES:
        return asked
    accept = request.headers.get("accept-language", "").strip().lower()
    return "en" if accept.startswith("en") else "fr"


def _viewer(request: Request) -> Viewer:
    return request.scope.get("state", {}).get("viewer", ANONYMOUS)


def _writer(request: Request) -> Viewer:
    """The viewer of a write: a token that may write, else a refusal."""
    identity = identity_of(request.scope)
    viewer = _viewer(request)
    if not identity.is_signed_in:
        raise Refusal(
            401, "AuthenticationRequired", _("fournissez un jeton d'accès (Authorization)")
        )
    if identity.via == "session":
        raise Refusal(
            403, "TokenRequired", _("écrire par l'OGC API demande un jeton d'accès, pas la session")
        )
    if not viewer.may_write:
        raise Refusal(403, "ReadOnlyToken", _("ce jeton ne permet que la lecture"))
    return viewer


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object of the request: 415 not JSON, 413 too big, 400 unreadable."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in JSON_TYPES:
        raise Refusal(
            415, "UnsupportedMediaType", _("corps GeoJSON attendu (application/geo+json)")
        )
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY:
        raise Refusal(413, "PayloadTooLarge", _("corps trop gros (1 Mio au plus)"))
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise Refusal(413, "PayloadTooLarge", _("corps trop gros (1 Mio au plus)"))

    def no_constant(name: str) -> Any:  # noqa: ANN401
        raise ValueError(name)

    try:
        data = json.loads(bytes(raw), parse_constant=no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Refusal(400, "InvalidJson", _("corps illisible : JSON attendu")) from None
    if not isinstance(data, dict):
        raise Refusal(400, "InvalidFeature", _("un objet GeoJSON Feature est attendu"))
    if "\x00" in json.dumps(data):  # PostgreSQL text cannot hold U+0000
        raise Refusal(400, "InvalidValue", _("caractère nul (U+0000) refusé"))
    return data


def _target(value: Any) -> int | None:  # noqa: ANN401
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        return value
    text = str(value).rsplit("/", 1)[-1]
    if not text.isdigit() or len(text) > 18:
        raise ValueError
    return int(text)


def proposed(data: dict[str, Any], uid: str | None) -> ProposedFeature:
    """A GeoJSON Feature (Part 4 body) → the core's `ProposedFeature`."""
    if data.get("type") != "Feature":
        raise Refusal(400, "InvalidFeature", _("un objet GeoJSON Feature est attendu"))
    properties = data.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise Refusal(400, "InvalidFeature", _("les propriétés doivent être un objet JSON"))
    properties = dict(properties)
    action = data.get("niaouli:action", properties.pop("_action", None)) or "create"
    target = data.get("niaouli:target", properties.pop("_target", None))
    base = data.get("niaouli:base_version", properties.pop("_base_version", None))
    try:
        target_fid = _target(target)
    except ValueError:
        raise Refusal(
            400, "InvalidFeature", _("« niaouli:target » : l'identifiant d'un objet de la couche")
        ) from None
    return ProposedFeature(
        uid=uid,
        geometry=data.get("geometry"),
        properties=properties,
        action=str(action),
        target_fid=target_fid,
        base_version=str(base)[:64] if base else None,
    )


def merge_patch(target: Any, patch: Any) -> Any:  # noqa: ANN401
    """RFC 7396 JSON Merge Patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _if_match(request: Request) -> int | None:
    """The version `If-Match` names (None: absent or `*`); one that is not ours → 412."""
    header = request.headers.get("if-match", "").strip()
    if not header or header == "*":
        return None
    values = [v.strip().removeprefix("W/").strip('"') for v in header.split(",")]
    for value in values:
        if value.isdigit() and len(value) < 10:
            return int(value)
    return -1  # matches no version


JSON_TYPES_OF = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "enum": {"type": "string"},
}


def item_schema(campaign: Campaign, schema_id: str) -> dict[str, Any]:
    """JSON Schema 2020-12 of a staging collection's items (labels in French)."""
    properties: dict[str, Any] = {
        "geometry": {
            "format": f"geometry-{campaign.geometry_type.lower()}",
            "x-ogc-role": "primary-geometry",
        }
    }
    for field in campaign.attribute_schema or []:
        entry = dict(JSON_TYPES_OF.get(field.get("type", "string"), {"type": "string"}))
        label = (field.get("label") or {}).get("fr")
        if label:
            entry["title"] = label
        help_text = (field.get("help") or {}).get("fr")
        if help_text:
            entry["description"] = help_text
        if field.get("enum"):
            entry["enum"] = list(field["enum"])
        if field.get("max_length"):
            entry["maxLength"] = field["max_length"]
        properties[field["name"]] = entry
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id,
        "type": "object",
        "title": campaign.title,
        "properties": properties,
        "required": [f["name"] for f in campaign.attribute_schema or [] if f.get("required")],
    }


def etag(contribution: Contribution) -> str:
    return f'"{contribution.version}"'


class Part4:
    """The handlers; each runs its database work in one thread, one transaction."""

    def __init__(self, base_url: Callable[[Request], str]) -> None:
        self.base_url = base_url

    # --- plumbing ---

    async def run(self, request: Request, work: Callable[[], Response]) -> Response:
        with speaking(_language(request)):
            try:
                return await asyncio.to_thread(self._in_language, _language(request), work)
            except Refusal as refusal:
                return _answer(refusal)

    @staticmethod
    def _in_language(language: str, work: Callable[[], Response]) -> Response:
        with speaking(language):
            try:
                return work()
            except Refusal as refusal:
                return _answer(refusal)
            except InvalidFeatureError as exc:
                return _answer(
                    Refusal(
                        400,
                        "InvalidFeature",
                        str(exc),
                        problems=[p.as_json() for p in exc.problems],
                        errors={p.field or "": p.message for p in exc.problems},
                    )
                )
            except PreconditionFailedError as exc:
                return _answer(Refusal(412, "PreconditionFailed", str(exc)))
            except NotFoundError as exc:
                return _answer(Refusal(404, "NotFound", str(exc)))
            except ForbiddenError as exc:
                return _answer(Refusal(403, "Forbidden", str(exc)))
            except ConflictError as exc:
                return _answer(Refusal(409, "Conflict", str(exc)))
            except IntegrityError:
                return _answer(
                    Refusal(409, "Conflict", _("envoi simultané du même objet : réessayez"))
                )
            except NiaouliError as exc:
                return _answer(Refusal(400, getattr(exc, "code", "InvalidValue"), str(exc)))

    @staticmethod
    def _campaign(session: Session, request: Request, viewer: Viewer) -> Campaign:
        """The campaign of the path's collection, if `viewer` may see its collection:
        its organisation's editors, and signed-in users (who see only their own items)."""
        collection_id = request.path_params["collection_id"]
        campaign = campaign_service.campaign_by_collection(session, collection_id, viewer)
        if not viewer.is_signed_in:
            raise NotFoundError(_("collection introuvable"))
        return campaign

    def _collections_url(self, request: Request) -> str:
        return f"{self.base_url(request)}/collections"

    def _item_url(self, request: Request, campaign: Campaign, uid: str) -> str:
        return f"{self._collections_url(request)}/{campaign.collection_id}/items/{quote(uid)}"

    def _feature(self, request: Request, campaign: Campaign, contribution: Contribution) -> dict:
        feature = contributions.contribution_geojson(contribution)
        feature["niaouli:state"] = str(contribution.state)
        feature["niaouli:action"] = str(contribution.action)
        if contribution.target_fid is not None:
            feature["niaouli:target"] = contribution.target_fid
        feature["niaouli:problems"] = contribution.problems or []
        feature["links"] = [
            {
                "rel": "self",
                "type": "application/geo+json",
                "href": self._item_url(request, campaign, contribution.uid),
            },
            {
                "rel": "collection",
                "type": "application/json",
                "href": f"{self._collections_url(request)}/{campaign.collection_id}",
            },
        ]
        return feature

    def _item_response(
        self, request: Request, campaign: Campaign, contribution: Contribution, status: int = 200
    ) -> Response:
        headers = {**NO_STORE, "ETag": etag(contribution)}
        if status == 201:
            headers["Location"] = self._item_url(request, campaign, contribution.uid)
        return Response(
            json.dumps(self._feature(request, campaign, contribution), ensure_ascii=False),
            status_code=status,
            headers=headers,
            media_type="application/geo+json",
        )

    @staticmethod
    def _uid(request: Request) -> str:
        uid = request.path_params["item_id"]
        if not ITEM_ID.match(uid):
            raise Refusal(404, "NotFound", _("contribution introuvable"))
        return uid

    # --- the collection ---

    def describe(self, request: Request, campaign: Campaign) -> dict[str, Any]:
        url = f"{self._collections_url(request)}/{campaign.collection_id}"
        document: dict[str, Any] = {
            "id": campaign.collection_id,
            "title": campaign.title,
            "description": _("Contributions en attente de revue : %(title)s")
            % {"title": campaign.title},
            "itemType": "feature",
            "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
            "storageCrs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
            "links": [
                {"rel": "self", "type": "application/json", "href": url},
                {"rel": "items", "type": "application/geo+json", "href": f"{url}/items"},
                {
                    "rel": "http://www.opengis.net/def/rel/ogc/1.0/schema",
                    "type": "application/schema+json",
                    "href": f"{url}/schema",
                },
            ],
        }
        area = campaign_service.area_geometry(campaign)
        if area is not None:
            document["extent"] = {"spatial": {"bbox": [list(area.bounds)]}}
        return document

    async def collection(self, request: Request) -> Response:
        viewer = _viewer(request)

        def work() -> Response:
            with Session(runtime.engine()) as session:
                campaign = self._campaign(session, request, viewer)
                return JSONResponse(self.describe(request, campaign), headers=NO_STORE)

        return await self.run(request, work)

    async def schema(self, request: Request) -> Response:
        """The items' JSON Schema (OGC API Features Part 5 style), from the campaign's
        attribute schema: what QGIS shows as the layer's fields on an empty collection."""
        viewer = _viewer(request)

        def work() -> Response:
            with Session(runtime.engine()) as session:
                campaign = self._campaign(session, request, viewer)
                url = f"{self._collections_url(request)}/{campaign.collection_id}"
                document = item_schema(campaign, f"{url}/{request.url.path.rsplit('/', 1)[-1]}")
                return JSONResponse(
                    document, headers=NO_STORE, media_type="application/schema+json"
                )

        return await self.run(request, work)

    def staging_collections(self, request: Request, viewer: Viewer) -> list[dict[str, Any]]:
        """The staging collections `viewer` may see (signed-in callers only)."""
        if not viewer.is_signed_in:
            return []
        with Session(runtime.engine()) as session:
            found = session.scalars(
                campaign_service.visible_campaigns(viewer).order_by(Campaign.id)
            ).all()
            return [self.describe(request, c) for c in found]

    async def items(self, request: Request) -> Response:
        viewer = _viewer(request)
        try:
            limit = min(int(request.query_params.get("limit", DEFAULT_LIMIT)), MAX_LIMIT)
            offset = max(int(request.query_params.get("offset", 0)), 0)
        except ValueError:
            return _answer(Refusal(400, "InvalidParameterValue", "limit, offset"))
        limit = max(limit, 1)

        def work() -> Response:
            with Session(runtime.engine()) as session:
                campaign = self._campaign(session, request, viewer)
                query = contributions.visible_contributions(session, campaign, viewer)
                matched = session.scalar(select(func.count()).select_from(query.subquery()))
                rows = session.scalars(
                    query.order_by(Contribution.id).limit(limit).offset(offset)
                ).all()
                url = f"{self._collections_url(request)}/{campaign.collection_id}/items"
                links = [{"rel": "self", "type": "application/geo+json", "href": url}]
                if offset + len(rows) < (matched or 0):
                    links.append(
                        {
                            "rel": "next",
                            "type": "application/geo+json",
                            "href": f"{url}?limit={limit}&offset={offset + limit}",
                        }
                    )
                document = {
                    "type": "FeatureCollection",
                    "features": [self._feature(request, campaign, c) for c in rows],
                    "numberMatched": matched,
                    "numberReturned": len(rows),
                    "links": links,
                }
                return Response(
                    json.dumps(document, ensure_ascii=False),
                    headers=NO_STORE,
                    media_type="application/geo+json",
                )

        return await self.run(request, work)

    async def create(self, request: Request) -> Response:
        try:
            viewer = _writer(request)
            with speaking(_language(request)):
                data = await _body(request)
                client_id = data.get("id")
                if client_id is not None and not isinstance(client_id, str | int):
                    raise Refusal(400, "InvalidFeature", _("« id » : texte ou nombre"))
                feature = proposed(data, str(client_id) if client_id is not None else None)
        except Refusal as refusal:
            return _answer(refusal)

        def work() -> Response:
            # The same id POSTed at the same moment is one feature: the core's `submit`
            # answers the insert that meets the unique key as the repeat it is.
            with Session(writing(runtime.engine())) as session, session.begin():
                campaign = self._campaign(session, request, viewer)
                result = contributions.submit(session, campaign, viewer, [feature], source="part4")
                if result.refused:
                    raise InvalidFeatureError(result.refused[0][1])
                contribution = result.accepted[0]
                new = result.submission.id is not None
                response = self._item_response(request, campaign, contribution, 201 if new else 200)
                if not new:
                    response.headers["Location"] = self._item_url(
                        request, campaign, contribution.uid
                    )
                return response

        return await self.run(request, work)

    # --- one item ---

    async def item(self, request: Request) -> Response:
        viewer = _viewer(request)

        def work() -> Response:
            uid = self._uid(request)
            with Session(runtime.engine()) as session:
                campaign = self._campaign(session, request, viewer)
                contribution = contributions.get_contribution(session, campaign, viewer, uid)
                if request.headers.get("if-none-match", "").strip() == etag(contribution):
                    return Response(
                        status_code=304, headers={**NO_STORE, "ETag": etag(contribution)}
                    )
                return self._item_response(request, campaign, contribution)

        return await self.run(request, work)

    async def replace(self, request: Request) -> Response:
        return await self._change(request, patch=False)

    async def patch(self, request: Request) -> Response:
        return await self._change(request, patch=True)

    async def _change(self, request: Request, *, patch: bool) -> Response:
        try:
            viewer = _writer(request)
            with speaking(_language(request)):
                data = await _body(request)
        except Refusal as refusal:
            return _answer(refusal)
        expected = _if_match(request)

        def work() -> Response:
            uid = self._uid(request)
            body = data
            with Session(writing(runtime.engine())) as session, session.begin():
                campaign = self._campaign(session, request, viewer)
                if patch:
                    try:
                        current = contributions.get_contribution(session, campaign, viewer, uid)
                    except NotFoundError:
                        if not contributions.uid_exists(session, campaign, uid):
                            raise
                        current = None  # somebody else's: refused below, as PUT and DELETE
                    if current is None or current.contributor_id != viewer.user_id:
                        raise ForbiddenError(
                            _("seule la personne qui l'a envoyée modifie cette contribution")
                        )
                    base = contributions.contribution_geojson(current)
                    if current.action != "create":
                        base["niaouli:action"] = str(current.action)
                        base["niaouli:target"] = current.target_fid
                        base["niaouli:base_version"] = current.base_version
                    body = merge_patch(base, data)
                    body["type"] = "Feature"
                feature = proposed(body, uid)
                if feature.uid is not None and body.get("id") not in (None, uid):
                    raise Refusal(
                        400, "InvalidFeature", _("l'« id » du corps diffère de celui de l'adresse")
                    )
                contribution, created = contributions.replace_contribution(
                    session, campaign, viewer, uid, feature, expected_version=expected
                )
                return self._item_response(request, campaign, contribution, 201 if created else 200)

        return await self.run(request, work)

    async def delete(self, request: Request) -> Response:
        try:
            viewer = _writer(request)
        except Refusal as refusal:
            return _answer(refusal)
        expected = _if_match(request)

        def work() -> Response:
            uid = self._uid(request)
            with Session(writing(runtime.engine())) as session, session.begin():
                campaign = self._campaign(session, request, viewer)
                contributions.withdraw_contribution(
                    session, campaign, viewer, uid, expected_version=expected
                )
                return Response(status_code=204, headers=NO_STORE)

        return await self.run(request, work)

    # --- OPTIONS ---

    async def items_options(self, request: Request) -> Response:
        viewer = _viewer(request)

        def work() -> Response:
            with Session(runtime.engine()) as session:
                campaign = self._campaign(session, request, viewer)
                methods = ["GET", "HEAD", "OPTIONS"]
                if viewer.may_write and campaign_service.is_open(campaign):
                    methods.insert(2, "POST")
                return Response(status_code=204, headers={"Allow": ", ".join(methods)})

        return await self.run(request, work)

    async def item_options(self, request: Request) -> Response:
        viewer = _viewer(request)

        def work() -> Response:
            uid = self._uid(request)
            with Session(runtime.engine()) as session:
                campaign = self._campaign(session, request, viewer)
                try:
                    found = contributions.get_contribution(session, campaign, viewer, uid)
                except NotFoundError:
                    found = None
                methods = ["GET", "HEAD"]
                own = found is not None and found.contributor_id == viewer.user_id
                changeable = own and found.state in contributions.CHANGEABLE
                if viewer.may_write and (
                    changeable or (found is None and campaign_service.is_open(campaign))
                ):
                    methods += ["PUT", "PATCH", "DELETE"] if found is not None else ["PUT"]
                methods.append("OPTIONS")
                return Response(status_code=204, headers={"Allow": ", ".join(methods)})

        return await self.run(request, work)


READ_ONLY_ALLOW = {"Allow": "GET, HEAD, OPTIONS"}


async def _read_only_options(request: Request) -> Response:  # noqa: ARG001
    """The layers' collections are read-only: what a Part 4 client asks before editing."""
    return Response(status_code=204, headers=READ_ONLY_ALLOW)


def part4_routes(
    base_url: Callable[[Request], str],
    conformance: Callable[[Request], Any] | None = None,
    collections: Callable[[Request], Any] | None = None,
) -> list[BaseRoute]:
    """The staging collections' routes (before the layers' ones: a staging id never
    matches a layer's, see `campaigns.COLLECTION_PREFIX`), and the signed-in
    `/conformance` and `/collections` with Part 4."""
    part4 = Part4(base_url)
    staging = "/collections/{collection_id:staging}"
    _register_convertor()
    routes: list[BaseRoute] = [
        Route(staging, part4.collection, methods=["GET", "HEAD"]),
        Route(f"{staging}/schema", part4.schema, methods=["GET", "HEAD"]),
        Route(f"{staging}/queryables", part4.schema, methods=["GET", "HEAD"]),
        Route(f"{staging}/items", part4.items, methods=["GET", "HEAD"]),
        Route(f"{staging}/items", part4.create, methods=["POST"]),
        Route(f"{staging}/items", part4.items_options, methods=["OPTIONS"]),
        Route(f"{staging}/items/{{item_id}}", part4.item, methods=["GET", "HEAD"]),
        Route(f"{staging}/items/{{item_id}}", part4.replace, methods=["PUT"]),
        Route(f"{staging}/items/{{item_id}}", part4.patch, methods=["PATCH"]),
        Route(f"{staging}/items/{{item_id}}", part4.delete, methods=["DELETE"]),
        Route(f"{staging}/items/{{item_id}}", part4.item_options, methods=["OPTIONS"]),
    ]
    if conformance is not None:
        routes.append(Route("/conformance", _with_part4(part4, conformance), methods=["GET"]))
    if collections is not None:
        routes.append(Route("/collections", _with_staging(part4, collections), methods=["GET"]))
    return routes


def read_only_options_routes() -> list[BaseRoute]:
    """`OPTIONS` on the layers' items: read-only. Mounted *after* the features' routes, so
    that a `PUT` there still gets their 405 (with `Allow: GET, HEAD`)."""
    return [
        Route("/collections/{collection_id}/items", _read_only_options, methods=["OPTIONS"]),
        Route(
            "/collections/{collection_id}/items/{item_id}",
            _read_only_options,
            methods=["OPTIONS"],
        ),
    ]


def _json_document(response: Response) -> dict[str, Any] | None:
    if response.status_code != 200 or "json" not in response.headers.get("content-type", ""):
        return None
    try:
        return json.loads(response.body)
    except ValueError:
        return None


def _rebuilt(response: Response, document: dict[str, Any]) -> Response:
    headers = {
        k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "etag")
    }
    return Response(json.dumps(document, ensure_ascii=False), 200, headers=headers)


def _with_part4(part4: Part4, conformance: Callable[[Request], Any]) -> Callable:
    async def answer(request: Request) -> Response:
        response = await conformance(request)
        viewer = _viewer(request)
        if not viewer.is_signed_in:
            return response
        document = _json_document(response)
        if document is None:
            return response
        staging = await asyncio.to_thread(part4.staging_collections, request, viewer)
        if not staging:
            return response
        document["conformsTo"] = sorted(set(document.get("conformsTo", [])) | set(PART4))
        return _rebuilt(response, document)

    return answer


def _with_staging(part4: Part4, collections: Callable[[Request], Any]) -> Callable:
    async def answer(request: Request) -> Response:
        response = await collections(request)
        viewer = _viewer(request)
        if not viewer.is_signed_in:
            return response
        document = _json_document(response)
        if document is None or not isinstance(document.get("collections"), list):
            return response
        document["collections"] += await asyncio.to_thread(
            part4.staging_collections, request, viewer
        )
        return _rebuilt(response, document)

    return answer


def _register_convertor() -> None:
    from starlette.convertors import CONVERTOR_TYPES, StringConvertor, register_url_convertor

    class StagingConvertor(StringConvertor):
        regex = STAGING

    class LayerConvertor(StringConvertor):
        """Any collection id but a staging one, in a path where a `/` follows it: the
        layers' items routes can then come first (`services/ogc/app.py`)."""

        regex = f"(?!{STAGING}/)[^/]+"

    if "staging" not in CONVERTOR_TYPES:
        register_url_convertor("staging", StagingConvertor())
    if "layer" not in CONVERTOR_TYPES:
        register_url_convertor("layer", LayerConvertor())


_register_convertor()  # before any module builds its routes with them
