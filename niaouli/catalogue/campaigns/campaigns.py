"""Cartoparty campaigns: created, changed, opened and closed by an organisation's editors.

A campaign names its target layer by name inside one of its organisation's datasets (an
existing layer, or a new one its first merge creates), the attribute schema volunteers
fill in, the geometry type, the area of interest, dates, the licence contributors accept
and whether they may also correct or retire existing features. Who may do that is
`permissions.allowed(viewer, "campaign.manage", organisation)`; a campaign in `draft` is
seen only by those editors, an open or closed one by everyone (its summary page), its
staged contributions by the editors and each contributor (`contributions.py`).
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any

import shapely
from geoalchemy2 import WKTElement
from geoalchemy2.shape import to_shape
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from niaouli.accounts import audit
from niaouli.catalogue import editing, gazetteer
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.campaigns.campaign_tables import Campaign, CampaignState, Contribution
from niaouli.catalogue.community.common import (
    chosen_slug,
    organisation_for,
    parse_local,
)
from niaouli.catalogue.models import Dataset, Event, EventKind, Layer, Organisation, utcnow
from niaouli.catalogue.permissions import Action, allowed
from niaouli.catalogue.roles import EDITING_ROLES
from niaouli.errors import CatalogueError, ConflictError, ForbiddenError, NotFoundError
from niaouli.i18n import N_, _
from niaouli.localtime import as_utc

GEOMETRY_TYPES = ("Point", "LineString", "Polygon")
FIELD_TYPES = ("string", "integer", "number", "boolean", "date", "enum")
LICENCES = {"lov2": N_("Licence Ouverte 2.0"), "odbl": N_("ODbL 1.0")}
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
MAX_FIELDS = 50
MAX_ENUM = 200
MAX_AREA_VERTICES = 100_000
MAX_DUPLICATE_DISTANCE = 1000.0
COLLECTION_PREFIX = "contributions."
"""Staging collections are `contributions.<slug>` under /ogc/collections: a layer's
collection id is a slug (no dot), so the two namespaces never meet."""
TAKEN = N_("la campagne « %(slug)s » existe déjà")
CAMPAIGN_FIELDS = (
    "title",
    "description",
    "event",
    "dataset",
    "layer",
    "geometry_type",
    "attribute_schema",
    "area",
    "area_source",
    "area_place",
    "starts",
    "ends",
    "licence",
    "allow_edits",
    "duplicate_distance_m",
)


# --- reading -------------------------------------------------------------------------


def manages(viewer: Viewer, campaign: Campaign | Organisation | int) -> bool:
    """The organisation's editors (and platform admins), whatever their credentials: they
    see drafts and all staged contributions; changing anything is `campaign.manage`."""
    organisation_id = campaign if isinstance(campaign, int) else None
    if isinstance(campaign, Campaign):
        organisation_id = campaign.organisation_id
    elif isinstance(campaign, Organisation):
        organisation_id = campaign.id
    return viewer.is_platform_admin or viewer.member_of.get(organisation_id) in set(EDITING_ROLES)


def visible_campaigns(viewer: Viewer) -> Select[tuple[Campaign]]:
    """Open and closed campaigns for everyone; drafts for their organisation's editors."""
    query = select(Campaign)
    if viewer.is_platform_admin:
        return query
    editing = [org for org, role in viewer.member_of.items() if role in set(EDITING_ROLES)]
    condition = Campaign.state != CampaignState.DRAFT
    if editing:
        condition = condition | Campaign.organisation_id.in_(editing)
    return query.where(condition)


def list_campaigns(
    session: Session,
    viewer: Viewer,
    *,
    organisation_id: int | None = None,
    event_id: int | None = None,
) -> list[Campaign]:
    """The campaigns `viewer` may see, the most recent first."""
    query = visible_campaigns(viewer)
    if organisation_id is not None:
        query = query.where(Campaign.organisation_id == organisation_id)
    if event_id is not None:
        query = query.where(Campaign.event_id == event_id)
    return list(session.scalars(query.order_by(Campaign.created_at.desc(), Campaign.id.desc())))


def get_campaign(session: Session, slug: str, viewer: Viewer) -> Campaign:
    """The campaign `slug`; `NotFoundError` when it does not exist or is not visible."""
    campaign = session.scalar(visible_campaigns(viewer).where(Campaign.slug == slug))
    if campaign is None:
        raise NotFoundError(_("campagne introuvable : « %(slug)s »") % {"slug": slug[:100]})
    return campaign


def campaign_by_collection(session: Session, collection_id: str, viewer: Viewer) -> Campaign:
    """The campaign whose staging collection is `collection_id` (visible ones only)."""
    campaign = session.scalar(
        visible_campaigns(viewer).where(Campaign.collection_id == collection_id)
    )
    if campaign is None:
        raise NotFoundError(_("collection introuvable"))
    return campaign


def campaign_layer(session: Session, campaign: Campaign) -> Layer | None:
    """The current layer row of the target (a re-ingest gives a new row: found by name)."""
    return session.scalar(
        select(Layer).where(
            Layer.dataset_id == campaign.dataset_id, Layer.name == campaign.layer_name
        )
    )


def is_open(campaign: Campaign, now: datetime | None = None) -> bool:
    """Accepting contributions: open, and now between its start and end (when set)."""
    now = now or utcnow()
    if campaign.state != CampaignState.OPEN:
        return False
    if campaign.starts_at is not None and as_utc(campaign.starts_at) > now:
        return False
    return campaign.ends_at is None or as_utc(campaign.ends_at) >= now


def check_open(campaign: Campaign, now: datetime | None = None) -> None:
    """Refuses (`ConflictError`) when the campaign does not accept contributions now."""
    if is_open(campaign, now):
        return
    if campaign.state == CampaignState.CLOSED:
        raise ConflictError(_("la campagne est close : elle ne reçoit plus de contributions"))
    if campaign.state == CampaignState.DRAFT:
        raise ConflictError(_("la campagne n'est pas encore ouverte"))
    raise ConflictError(_("la campagne ne reçoit pas de contributions à cette date"))


def area_geometry(campaign: Campaign) -> Any:  # noqa: ANN401 - a shapely geometry or None
    return to_shape(campaign.area) if campaign.area is not None else None


def area_geojson(campaign: Campaign) -> dict[str, Any] | None:
    geometry = area_geometry(campaign)
    return dict(mapping(geometry)) if geometry is not None else None


# --- checking what an editor typed -----------------------------------------------------


def _text(value: Any, limit: int, message: str) -> str:  # noqa: ANN401
    text = str(value or "").strip()
    if len(text) > limit:
        raise CatalogueError(_(message) % {"max": limit})
    return text


def _title(value: Any) -> str:  # noqa: ANN401
    title = _text(value, 300, N_("titre trop long (%(max)s caractères au plus)"))
    if len(title) < 3:
        raise CatalogueError(_("donnez un titre d'au moins 3 caractères à la campagne"))
    return title


def _i18n_text(value: Any, what: str) -> dict[str, str]:  # noqa: ANN401
    """A `{"fr", "en"}` text (a plain string is French)."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        value = {"fr": value}
    if not isinstance(value, dict):
        raise CatalogueError(_("%(what)s : texte attendu") % {"what": what})
    out = {}
    for language in ("fr", "en"):
        text = str(value.get(language) or "").strip()
        if len(text) > 500:
            raise CatalogueError(_("%(what)s : 500 caractères au plus") % {"what": what})
        if text:
            out[language] = text
    return out


def check_schema(fields: Any, layer: Layer | None = None) -> list[dict[str, Any]]:  # noqa: ANN401, C901
    """The attribute schema, checked and in its stored form (see `Campaign`).

    With an existing target layer every field must be one of its attributes (the merge
    writes into those columns).
    """
    if isinstance(fields, str):
        try:
            fields = json.loads(fields or "[]")
        except ValueError:
            raise CatalogueError(_("schéma des attributs : JSON invalide")) from None
    if not isinstance(fields, list):
        raise CatalogueError(_("schéma des attributs : une liste de champs est attendue"))
    if len(fields) > MAX_FIELDS:
        raise CatalogueError(_("%(max)s champs au plus") % {"max": MAX_FIELDS})
    known = {a["name"]: a["type"] for a in (layer.attribute_schema if layer else [])}
    checked: list[dict[str, Any]] = []
    names: set[str] = set()
    for raw in fields:
        if not isinstance(raw, dict):
            raise CatalogueError(_("schéma des attributs : chaque champ est un objet"))
        name = str(raw.get("name") or "").strip()
        if not FIELD_NAME.match(name):
            raise CatalogueError(
                _("nom de champ invalide « %(name)s » : lettres, chiffres et _ seulement")
                % {"name": name[:64]}
            )
        if name in names:
            raise CatalogueError(_("champ « %(name)s » en double") % {"name": name})
        names.add(name)
        if layer is not None and name not in known:
            raise CatalogueError(
                _("la couche « %(layer)s » n'a pas de champ « %(name)s »")
                % {"layer": layer.name, "name": name}
            )
        kind = str(raw.get("type") or "string")
        if kind not in FIELD_TYPES:
            raise CatalogueError(
                _("type de champ inconnu « %(type)s » (%(name)s)")
                % {"type": kind[:30], "name": name}
            )
        field: dict[str, Any] = {"name": name, "type": kind, "required": bool(raw.get("required"))}
        if kind == "enum":
            values = raw.get("enum")
            if isinstance(values, str):
                values = [v.strip() for v in values.split("|")]
            values = [str(v).strip() for v in values or [] if str(v).strip()]
            if not values or len(values) > MAX_ENUM:
                raise CatalogueError(
                    _("le champ « %(name)s » liste de 1 à %(max)s valeurs permises")
                    % {"name": name, "max": MAX_ENUM}
                )
            field["enum"] = list(dict.fromkeys(values))
        if kind == "string" and raw.get("max_length") not in (None, ""):
            try:
                field["max_length"] = max(1, min(int(raw["max_length"]), 10_000))
            except (TypeError, ValueError):
                raise CatalogueError(
                    _("longueur maximale invalide (%(name)s)") % {"name": name}
                ) from None
        field["label"] = _i18n_text(raw.get("label"), name) or {"fr": name}
        help_text = _i18n_text(raw.get("help"), name)
        if help_text:
            field["help"] = help_text
        checked.append(field)
    return checked


def schema_from_layer(layer: Layer) -> list[dict[str, Any]]:
    """A starting schema: the layer's own attributes (types mapped, none required)."""
    types = {"integer": "integer", "number": "number", "boolean": "boolean", "date": "date"}
    return [
        {
            "name": a["name"],
            "type": types.get(a["type"], "string"),
            "required": False,
            "label": {"fr": a["name"]},
        }
        for a in layer.attribute_schema
        if FIELD_NAME.match(a["name"]) and a["type"] != "binary"
    ]


def check_area(value: Any) -> MultiPolygon | None:  # noqa: ANN401, C901
    """A GeoJSON polygon or multipolygon (a geometry, a Feature or a FeatureCollection;
    as a dict or JSON text) in lon/lat → a valid MultiPolygon, or None when empty."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise CatalogueError(_("zone : GeoJSON invalide")) from None
    if not isinstance(value, dict):
        raise CatalogueError(_("zone : GeoJSON invalide"))
    if value.get("type") == "FeatureCollection":
        geometries = [f.get("geometry") for f in value.get("features") or [] if isinstance(f, dict)]
    elif value.get("type") == "Feature":
        geometries = [value.get("geometry")]
    else:
        geometries = [value]
    polygons: list[Polygon] = []
    for geometry in geometries:
        if not isinstance(geometry, dict) or geometry.get("type") not in (
            "Polygon",
            "MultiPolygon",
        ):
            raise CatalogueError(_("zone : un polygone est attendu"))
        try:
            parsed = shape(geometry)
        except (ValueError, TypeError, AttributeError, IndexError, shapely.errors.ShapelyError):
            raise CatalogueError(_("zone : GeoJSON invalide")) from None
        polygons += list(parsed.geoms) if isinstance(parsed, MultiPolygon) else [parsed]
    if not polygons:
        return None
    area = MultiPolygon(polygons)
    if shapely.get_num_coordinates(area) > MAX_AREA_VERTICES:
        raise CatalogueError(_("zone : %(max)s sommets au plus") % {"max": MAX_AREA_VERTICES})
    west, south, east, north = area.bounds
    if not all(math.isfinite(v) for v in area.bounds) or (
        west < -180 or east > 180 or south < -90 or north > 90
    ):
        raise CatalogueError(_("zone : coordonnées hors de [-180, 180] × [-90, 90]"))
    if not area.is_valid:
        repaired = shapely.make_valid(area)
        parts = [g for g in getattr(repaired, "geoms", [repaired]) if isinstance(g, Polygon)]
        parts += [
            p
            for g in getattr(repaired, "geoms", [])
            if isinstance(g, MultiPolygon)
            for p in g.geoms
        ]
        if not parts:
            raise CatalogueError(_("zone : polygone invalide"))
        area = MultiPolygon(parts)
    if area.is_empty or area.area == 0:
        raise CatalogueError(_("zone : polygone vide"))
    return area


def _event(session: Session, slug: Any) -> Event | None:  # noqa: ANN401
    if not slug:
        return None
    event = session.scalar(select(Event).where(Event.slug == str(slug)))
    if event is None:
        raise CatalogueError(_("événement inconnu : « %(slug)s »") % {"slug": str(slug)[:100]})
    if event.kind != EventKind.CARTOPARTY:
        raise CatalogueError(_("l'événement choisi n'est pas une cartopartie"))
    return event


def _dataset(session: Session, organisation_id: int, slug: Any) -> Dataset:  # noqa: ANN401
    dataset = (
        session.scalar(select(Dataset).where(Dataset.slug == str(slug or ""))) if slug else None
    )
    if dataset is None or dataset.organisation_id != organisation_id:
        raise CatalogueError(
            _("choisissez un jeu de données de l'organisation (« %(slug)s » inconnu)")
            % {"slug": str(slug or "")[:100]}
        )
    return dataset


def _moment(value: Any) -> datetime | None:  # noqa: ANN401
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    return as_utc(parse_local(str(value)))


def _distance(value: Any) -> float:  # noqa: ANN401
    try:
        distance = float(value)
    except (TypeError, ValueError):
        raise CatalogueError(_("distance des doublons : un nombre de mètres")) from None
    if not math.isfinite(distance) or not 0 <= distance <= MAX_DUPLICATE_DISTANCE:
        raise CatalogueError(_("distance des doublons : entre 0 et %(max)s mètres") % {"max": 1000})
    return distance


def _flag(value: Any) -> bool:  # noqa: ANN401
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "on", "oui", "yes")
    return bool(value)


def _checked(  # noqa: C901
    session: Session,
    viewer: Viewer,
    organisation_id: int,
    fields: dict[str, Any],
    current: Campaign | None,
) -> dict[str, Any]:
    """The stored values for the `fields` given (every check done before any is set)."""
    unknown = set(fields) - set(CAMPAIGN_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    new: dict[str, Any] = {}
    if "title" in fields or current is None:
        new["title"] = _title(fields.get("title"))
    if "description" in fields:
        new["description"] = _text(
            fields["description"], 5000, N_("description trop longue (%(max)s caractères au plus)")
        )
    if "event" in fields:
        event = _event(session, fields["event"])
        new["event_id"] = event.id if event else None
    dataset = current.dataset if current is not None else None
    if "dataset" in fields or current is None:
        dataset = _dataset(session, organisation_id, fields.get("dataset"))
        new["dataset_id"] = dataset.id
    layer_name = current.layer_name if current is not None else None
    if "layer" in fields or current is None or "dataset_id" in new:
        layer_name = str(fields.get("layer") or layer_name or "").strip()
        if not layer_name and dataset is not None and len(dataset.layers) == 1:
            layer_name = dataset.layers[0].name
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,59}", layer_name or ""):
            raise CatalogueError(
                _("nom de couche invalide : minuscules, chiffres et tirets (60 au plus)")
            )
        new["layer_name"] = layer_name
    layer = (
        next((lyr for lyr in dataset.layers if lyr.name == layer_name), None) if dataset else None
    )
    new["creates_layer"] = layer is None
    geometry_type = fields.get("geometry_type") or (current.geometry_type if current else None)
    if layer is not None and layer.geometry_type:
        geometry_type = geometry_type or layer.geometry_type.removeprefix("Multi")
        if geometry_type.lower() not in layer.geometry_type.lower():
            raise CatalogueError(
                _("la couche « %(layer)s » contient des %(type)s")
                % {"layer": layer.name, "type": layer.geometry_type}
            )
    elif layer is not None:
        raise CatalogueError(
            _("la couche « %(layer)s » n'a pas de géométrie") % {"layer": layer.name}
        )
    if geometry_type not in GEOMETRY_TYPES:
        raise CatalogueError(_("type de géométrie : Point, LineString ou Polygon"))
    new["geometry_type"] = geometry_type
    if "attribute_schema" in fields or current is None or "layer_name" in new:
        raw = fields.get("attribute_schema")
        if raw in (None, "", []) and layer is not None and "attribute_schema" not in fields:
            new["attribute_schema"] = schema_from_layer(layer)
        else:
            raw = raw if raw is not None else (current.attribute_schema if current else [])
            new["attribute_schema"] = check_schema(raw, layer)
    if fields.get("area_place"):
        place = str(fields["area_place"]).strip()
        found = [p for p in gazetteer.places(session, viewer) if p.name == place]
        if not found:
            raise CatalogueError(
                _("lieu inconnu du répertoire : « %(name)s »") % {"name": place[:100]}
            )
        area = check_area(mapping(found[0].geometry))
        new["area"] = WKTElement(area.wkt, srid=4326)
        new["area_source"] = found[0].name
    elif "area" in fields:
        area = check_area(fields["area"])
        new["area"] = WKTElement(area.wkt, srid=4326) if area is not None else None
        new["area_source"] = (
            _text(fields.get("area_source"), 300, N_("%(max)s caractères au plus")) or None
        )
    starts = (
        _moment(fields["starts"])
        if "starts" in fields
        else (current.starts_at if current else None)
    )
    ends = _moment(fields["ends"]) if "ends" in fields else (current.ends_at if current else None)
    if starts is not None and ends is not None and as_utc(ends) < as_utc(starts):
        raise CatalogueError(_("la campagne finit avant de commencer"))
    if "starts" in fields:
        new["starts_at"] = starts
    if "ends" in fields:
        new["ends_at"] = ends
    if "licence" in fields or current is None:
        licence = str(fields.get("licence") or "lov2")
        if licence not in LICENCES:
            raise CatalogueError(_("licence : Licence Ouverte 2.0 (lov2) ou ODbL (odbl)"))
        new["licence"] = licence
    if "allow_edits" in fields:
        new["allow_edits"] = _flag(fields["allow_edits"])
    if "duplicate_distance_m" in fields and fields["duplicate_distance_m"] not in (None, ""):
        new["duplicate_distance_m"] = _distance(fields["duplicate_distance_m"])
    return new


def _record(
    session: Session, viewer: Viewer, actor: audit.Actor | None, action: str, campaign: Campaign
) -> None:
    audit.record(
        session,
        actor or audit.actor_for(viewer),
        action,
        subject=campaign.slug,
        organisation_id=campaign.organisation_id,
    )


# --- writing -------------------------------------------------------------------------


def create_campaign(
    session: Session,
    viewer: Viewer,
    *,
    organisation: str,
    slug: str | None = None,
    actor: audit.Actor | None = None,
    **fields: Any,
) -> Campaign:
    """A new campaign (in `draft`) of `organisation`, after every check (`CAMPAIGN_FIELDS`:
    `dataset` and `layer` name the target (`new_dataset`: the title of a new draft
    dataset made for it, whose layer the first merge creates), `event` a cartoparty's
    slug, `area` GeoJSON or `area_place` a place of the gazetteer, `starts`/`ends` Nouméa
    time or ISO 8601)."""
    org = organisation_for(session, viewer, organisation, Action.CAMPAIGN_MANAGE)
    new_dataset = str(fields.pop("new_dataset", None) or "").strip()
    if new_dataset:  # the campaign's own dataset, a draft until its editors publish it
        made = editing.create_dataset(
            session, viewer, actor or audit.actor_for(viewer), org.slug, new_dataset
        )
        fields["dataset"] = made.slug
        session.refresh(made, ["layers"])
    values = _checked(session, viewer, org.id, fields, None)
    if slug is not None and not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,79}", slug):
        raise CatalogueError(_("adresse invalide : minuscules, chiffres et tirets"))
    slug = chosen_slug(session, Campaign, slug, values["title"], TAKEN)
    campaign = Campaign(
        slug=slug,
        organisation_id=org.id,
        collection_id=COLLECTION_PREFIX + slug,
        created_by_id=viewer.user_id,
        state=CampaignState.DRAFT,
        **values,
    )
    session.add(campaign)
    session.flush()
    _record(session, viewer, actor, "campaign.create", campaign)
    return campaign


def _check_manage(session: Session, viewer: Viewer, campaign: Campaign) -> None:
    if not allowed(viewer, Action.CAMPAIGN_MANAGE, campaign):
        raise ForbiddenError(_("seuls les éditeurs de l'organisation gèrent cette campagne"))


def has_contributions(session: Session, campaign: Campaign) -> bool:
    return (
        session.scalar(
            select(Contribution.id).where(Contribution.campaign_id == campaign.id).limit(1)
        )
        is not None
    )


def update_campaign(
    session: Session,
    viewer: Viewer,
    campaign: Campaign,
    actor: audit.Actor | None = None,
    **changes: Any,
) -> Campaign:
    """Changes the fields given; the target (dataset, layer, geometry type) is fixed once
    contributions were received. A refusal leaves the campaign as it was."""
    _check_manage(session, viewer, campaign)
    new = _checked(session, viewer, campaign.organisation_id, changes, campaign)
    fixed = ("dataset_id", "layer_name", "geometry_type")
    if any(k in new and new[k] != getattr(campaign, k) for k in fixed) and has_contributions(
        session, campaign
    ):
        raise ConflictError(
            _("la campagne a reçu des contributions : sa couche et sa géométrie ne changent plus")
        )
    for name, value in new.items():
        setattr(campaign, name, value)
    session.flush()
    _record(session, viewer, actor, "campaign.update", campaign)
    return campaign


def open_campaign(
    session: Session, viewer: Viewer, campaign: Campaign, actor: audit.Actor | None = None
) -> Campaign:
    """Accepts contributions (between its dates); a closed campaign may be reopened."""
    _check_manage(session, viewer, campaign)
    if not campaign.attribute_schema and campaign.creates_layer:
        raise CatalogueError(_("décrivez au moins un champ avant d'ouvrir la campagne"))
    campaign.state = CampaignState.OPEN
    session.flush()
    _record(session, viewer, actor, "campaign.open", campaign)
    return campaign


def close_campaign(
    session: Session, viewer: Viewer, campaign: Campaign, actor: audit.Actor | None = None
) -> Campaign:
    """No more contributions; review and merge go on."""
    _check_manage(session, viewer, campaign)
    campaign.state = CampaignState.CLOSED
    session.flush()
    _record(session, viewer, actor, "campaign.close", campaign)
    return campaign
