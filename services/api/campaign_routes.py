"""Cartoparty campaigns through the API: list, read, create, change, open and close.

The rules, checks and audit rows are the core's (`niaouli.catalogue.campaigns`); this
module translates JSON to the core's fields and its refusals to the API's errors.
Contributions themselves are written through OGC API Features Part 4
(`/ogc/collections/{collection_id}/items`) or the phone page.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from niaouli.catalogue.access import Viewer
from niaouli.catalogue.campaigns import campaigns
from niaouli.catalogue.campaigns.campaign_tables import Campaign
from niaouli.catalogue.community import common
from niaouli.db.engine import writing
from niaouli.errors import NotFoundError
from niaouli.services.api.core import Call, Operation
from niaouli.services.api.errors import ApiError, forbidden, invalid, not_found
from niaouli.services.api.schemas import Input

GeometryType = Literal["Point", "LineString", "Polygon"]
FieldType = Literal["string", "integer", "number", "boolean", "date", "enum"]
LicenceName = Literal["lov2", "odbl"]


class Texts(BaseModel):
    fr: str | None = Field(default=None, max_length=500)
    en: str | None = Field(default=None, max_length=500)


class SchemaField(BaseModel):
    name: str = Field(max_length=63, description="lettres, chiffres et _")
    type: FieldType = "string"
    required: bool = False
    enum: list[str] | None = Field(default=None, max_length=200)
    max_length: int | None = Field(default=None, ge=1, le=10_000)
    label: Texts | None = None
    help: Texts | None = None


class CampaignFields(Input):
    title: str | None = Field(default=None, min_length=3, max_length=300)
    description: str | None = Field(default=None, max_length=5000)
    event: str | None = Field(default=None, description="slug d'un événement « cartopartie »")
    dataset: str | None = Field(default=None, description="slug d'un jeu de l'organisation")
    layer: str | None = Field(
        default=None, description="nom de la couche (une nouvelle si le jeu ne l'a pas)"
    )
    geometry_type: GeometryType | None = None
    attribute_schema: list[SchemaField] | None = Field(default=None, max_length=50)
    area: dict[str, Any] | None = Field(default=None, description="GeoJSON (Multi)Polygon")
    area_source: str | None = Field(default=None, max_length=300)
    area_place: str | None = Field(
        default=None, max_length=300, description="un lieu du répertoire (une commune...)"
    )
    starts: str | None = Field(default=None, description="AAAA-MM-JJTHH:MM, heure de Nouméa")
    ends: str | None = None
    licence: LicenceName | None = None
    allow_edits: bool | None = None
    duplicate_distance_m: float | None = Field(default=None, ge=0, le=1000)


class CampaignCreate(CampaignFields):
    organisation: str
    slug: str | None = Field(default=None, max_length=80)
    title: str = Field(min_length=3, max_length=300)
    new_dataset: str | None = Field(
        default=None, max_length=300, description="titre d'un nouveau jeu (brouillon) à créer"
    )


class CampaignView(BaseModel):
    slug: str
    title: str
    description: str
    organisation: str
    event: str | None
    dataset: str | None = Field(description="absent quand le jeu n'est pas visible")
    layer: str
    creates_layer: bool
    geometry_type: str
    attribute_schema: list[dict[str, Any]]
    area: dict[str, Any] | None
    area_source: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    licence: str
    allow_edits: bool
    duplicate_distance_m: float
    state: str
    collection_id: str = Field(description="collection OGC API Part 4 des contributions")


def view(session: Session, viewer: Viewer, campaign: Campaign) -> CampaignView:
    visible = common.visible_ids(session, viewer, {campaign.dataset_id})
    return CampaignView(
        slug=campaign.slug,
        title=campaign.title,
        description=campaign.description or "",
        organisation=campaign.organisation.slug,
        event=campaign.event.slug if campaign.event else None,
        dataset=campaign.dataset.slug if campaign.dataset_id in visible else None,
        layer=campaign.layer_name,
        creates_layer=campaign.creates_layer,
        geometry_type=campaign.geometry_type,
        attribute_schema=list(campaign.attribute_schema or []),
        area=campaigns.area_geojson(campaign),
        area_source=campaign.area_source,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        licence=campaign.licence,
        allow_edits=campaign.allow_edits,
        duplicate_distance_m=campaign.duplicate_distance_m,
        state=str(campaign.state),
        collection_id=campaign.collection_id,
    )


@contextmanager
def _refusals() -> Iterator[None]:
    """The organisation refused in the API's words (unknown: 422, else 403); a plain
    `ValueError` (a date Python cannot hold): 422."""
    try:
        yield
    except common.OrganisationRefusedError as exc:
        if exc.unknown:
            raise invalid(f"organisation inconnue : « {exc.slug} »") from None
        raise forbidden("seuls les éditeurs de l'organisation créent ses campagnes") from None
    except ApiError:
        raise
    except TypeError as exc:
        raise invalid(str(exc)) from None


def _fields(body: CampaignFields) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True, exclude={"organisation", "slug"})
    if "attribute_schema" in fields and fields["attribute_schema"] is not None:
        fields["attribute_schema"] = [
            {k: v for k, v in f.items() if v is not None} for f in fields["attribute_schema"]
        ]
    return {k: v for k, v in fields.items() if v is not None or k in ("area", "event", "ends")}


def _get(session: Session, call: Call) -> Campaign:
    try:
        return campaigns.get_campaign(session, call.params["slug"], call.viewer)
    except NotFoundError:
        raise not_found("campagne") from None


def list_campaigns(call: Call) -> list[dict[str, Any]]:
    with Session(call.context.engine) as session:
        return [
            view(session, call.viewer, c).model_dump(mode="json")
            for c in campaigns.list_campaigns(session, call.viewer)
        ]


def get_campaign(call: Call) -> CampaignView:
    with Session(call.context.engine) as session:
        return view(session, call.viewer, _get(session, call))


def create_campaign(call: Call) -> tuple[int, CampaignView]:
    body: CampaignCreate = call.body
    with Session(writing(call.context.engine)) as session, session.begin(), _refusals():
        campaign = campaigns.create_campaign(
            session,
            call.viewer,
            organisation=body.organisation,
            slug=body.slug,
            actor=call.actor(),
            **_fields(body),
        )
        return 201, view(session, call.viewer, campaign)


def update_campaign(call: Call) -> CampaignView:
    body: CampaignFields = call.body
    with Session(writing(call.context.engine)) as session, session.begin(), _refusals():
        campaign = _get(session, call)
        campaigns.update_campaign(
            session, call.viewer, campaign, actor=call.actor(), **_fields(body)
        )
        return view(session, call.viewer, campaign)


def open_campaign(call: Call) -> CampaignView:
    with Session(writing(call.context.engine)) as session, session.begin():
        campaign = _get(session, call)
        campaigns.open_campaign(session, call.viewer, campaign, actor=call.actor())
        return view(session, call.viewer, campaign)


def close_campaign(call: Call) -> CampaignView:
    with Session(writing(call.context.engine)) as session, session.begin():
        campaign = _get(session, call)
        campaigns.close_campaign(session, call.viewer, campaign, actor=call.actor())
        return view(session, call.viewer, campaign)


def operations() -> list[Operation]:
    tag = "Campagnes"
    write = (400, 401, 403, 404, 409, 422)
    return [
        Operation("GET", "/campaigns", list_campaigns, "Lister les campagnes", tag),
        Operation(
            "POST",
            "/campaigns",
            create_campaign,
            "Créer une campagne de cartopartie (éditeurs de l'organisation)",
            tag,
            writes=True,
            body=CampaignCreate,
            response=CampaignView,
            status=201,
            errors=(400, 401, 403, 409, 422),
        ),
        Operation(
            "GET",
            "/campaigns/{slug}",
            get_campaign,
            "Lire une campagne",
            tag,
            response=CampaignView,
            errors=(404,),
        ),
        Operation(
            "PATCH",
            "/campaigns/{slug}",
            update_campaign,
            "Modifier une campagne",
            tag,
            writes=True,
            body=CampaignFields,
            response=CampaignView,
            errors=write,
        ),
        Operation(
            "POST",
            "/campaigns/{slug}/open",
            open_campaign,
            "Ouvrir une campagne aux contributions",
            tag,
            writes=True,
            response=CampaignView,
            errors=write,
        ),
        Operation(
            "POST",
            "/campaigns/{slug}/close",
            close_campaign,
            "Clore une campagne",
            tag,
            writes=True,
            response=CampaignView,
            errors=write,
        ),
    ]
