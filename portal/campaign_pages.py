"""Cartoparty campaigns on the portal: the public list (`/campagnes`) and summary
(`/campagnes/{slug}`), and the editors' forms (`/organisations/{org}/campagnes/nouvelle`,
`/campagnes/{slug}/modifier`, open and close). Who may is the core's rule
(`campaign.manage`), which also writes the audit rows; the forms translate what was typed
(the attribute schema is typed one field per line, see `parse_schema`) and show the
core's refusals beside the form.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from niaouli import localtime
from niaouli.catalogue import gazetteer
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.campaigns import campaigns
from niaouli.catalogue.campaigns.campaign_tables import Campaign
from niaouli.catalogue.community import common
from niaouli.catalogue.models import Dataset, Event, EventKind, Organisation
from niaouli.catalogue.permissions import Action, allowed
from niaouli.db.engine import writing
from niaouli.errors import CatalogueError, NotFoundError
from niaouli.i18n import N_, _
from niaouli.portal.accounts import AccountPages
from niaouli.portal.common import Portal, identity_for, not_found, viewer_for
from niaouli.portal.security import Refused

FORM_FIELDS = (
    "title",
    "description",
    "event",
    "dataset",
    "new_dataset",
    "layer",
    "geometry_type",
    "schema",
    "area",
    "area_place",
    "starts",
    "ends",
    "licence",
    "allow_edits",
    "duplicate_distance_m",
)
STATES = {
    "draft": N_("brouillon"),
    "open": N_("ouverte"),
    "closed": N_("close"),
}
GEOMETRY_LABELS = {"Point": N_("Points"), "LineString": N_("Lignes"), "Polygon": N_("Surfaces")}
TYPE_WORDS = {
    "texte": "string",
    "entier": "integer",
    "nombre": "number",
    "oui/non": "boolean",
    "date": "date",
    "liste": "enum",
}
TYPE_NAMES = {v: k for k, v in TYPE_WORDS.items()}
SCHEMA_LINE_MAX = 60


def parse_schema(text: str) -> list[dict[str, Any]]:
    """The schema typed in the form, one field per line, columns separated by `|`:

        nom | texte | obligatoire | Nom | Name | aide en français | help in English
        type | liste: abri, poteau | | Type | Type

    Types: texte, entier, nombre, oui/non, date, liste: a, b, c (or the English names the
    API uses). The core checks the rest (names, duplicates, the layer's attributes)."""
    fields: list[dict[str, Any]] = []
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > SCHEMA_LINE_MAX:
        raise CatalogueError(_("%(max)s champs au plus") % {"max": campaigns.MAX_FIELDS})
    for number, line in enumerate(lines, start=1):
        cells = [c.strip() for c in line.split("|")] + [""] * 7
        name, kind, required, label_fr, label_en, help_fr, help_en = cells[:7]
        field: dict[str, Any] = {"name": name}
        word, _sep, values = kind.partition(":")
        word = word.strip().lower() or "texte"
        field["type"] = TYPE_WORDS.get(word, word)
        if field["type"] == "enum":
            field["enum"] = [v.strip() for v in values.split(",") if v.strip()]
        elif values.strip():
            raise CatalogueError(
                _("ligne %(line)s : seules les listes ont des valeurs après « : »")
                % {"line": number}
            )
        field["required"] = required.lower() in ("obligatoire", "required", "oui", "yes", "1")
        field["label"] = {"fr": label_fr or name, "en": label_en}
        field["help"] = {"fr": help_fr, "en": help_en}
        fields.append(field)
    return fields


def schema_text(schema: list[dict[str, Any]]) -> str:
    """The stored schema in the form's syntax (`parse_schema` reads it back)."""
    lines = []
    for field in schema or []:
        kind = TYPE_NAMES.get(field.get("type", "string"), "texte")
        if kind == "liste":
            kind = "liste: " + ", ".join(field.get("enum") or [])
        label, help_text = field.get("label") or {}, field.get("help") or {}
        cells = [
            field.get("name", ""),
            kind,
            "obligatoire" if field.get("required") else "",
            label.get("fr", ""),
            label.get("en", ""),
            help_text.get("fr", ""),
            help_text.get("en", ""),
        ]
        while cells and not cells[-1]:
            cells.pop()
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def _local(value: Any) -> str:  # noqa: ANN401 - a datetime or None
    local = localtime.local(value)
    return local.strftime("%Y-%m-%d %H:%M") if local else ""


class CampaignPages:
    def __init__(self, portal: Portal, accounts: AccountPages) -> None:
        self.portal = portal
        self.accounts = accounts
        self.engine = portal.engine

    def _labels(self) -> dict[str, Any]:
        return {
            "campaign_states": {k: _(v) for k, v in STATES.items()},
            "geometry_labels": {k: _(v) for k, v in GEOMETRY_LABELS.items()},
            "licences": {k: _(v) for k, v in campaigns.LICENCES.items()},
        }

    # --- public pages ----------------------------------------------------------------

    def campaign_list(self, request: Request) -> Response:
        viewer = viewer_for(request)
        with Session(self.engine) as session:
            found = campaigns.list_campaigns(session, viewer)
            return self.portal.render(
                request,
                "campaign_list.html",
                campaigns=found,
                organisations=common.editable_organisations(
                    session, viewer, Action.CAMPAIGN_MANAGE
                ),
                **self._labels(),
            )

    def campaign_page(self, request: Request) -> Response:
        viewer = viewer_for(request)
        with Session(self.engine) as session:
            campaign = campaigns.get_campaign(session, request.path_params["slug"], viewer)
            datasets = common.visible_links(session, viewer, [campaign.dataset])
            can_manage = allowed(viewer, Action.CAMPAIGN_MANAGE, campaign)
            context = {
                "campaign": campaign,
                "dataset": datasets[0] if datasets else None,
                "area": json.dumps(campaigns.area_geojson(campaign)),
                "starts": localtime.local(campaign.starts_at),
                "ends": localtime.local(campaign.ends_at),
                "accepting": campaigns.is_open(campaign),
                "can_manage": can_manage,
                "signed_in": viewer.is_signed_in,
                **self._labels(),
            }
            if can_manage:  # the open/close form carries a CSRF token
                return self.accounts.page(request, "campaign_page.html", **context)
            response = self.portal.render(request, "campaign_page.html", **context)
            if identity_for(request).is_signed_in:
                response.headers["Cache-Control"] = "private, no-store"
            return response

    # --- editors' forms --------------------------------------------------------------

    def _sign_in_first(self, request: Request) -> Response | None:
        if identity_for(request).via != "session":
            return RedirectResponse(f"/connexion?suivant={request.url.path}", status_code=303)
        return None

    def _choices(self, session: Session, viewer: Viewer, organisation: Organisation) -> dict:
        datasets = session.scalars(
            select(Dataset)
            .where(Dataset.organisation_id == organisation.id)
            .order_by(Dataset.title, Dataset.id)
        ).all()
        events = session.scalars(
            select(Event)
            .where(Event.kind == EventKind.CARTOPARTY)
            .order_by(Event.starts_at.desc())
            .limit(200)
        ).all()
        return {
            "organisation": organisation,
            "datasets": datasets,
            "layers": sorted({layer.name for d in datasets for layer in d.layers}),
            "events": events,
            "places": [p.name for p in gazetteer.places(session, viewer)][:500],
            "geometry_types": campaigns.GEOMETRY_TYPES,
        }

    def _context(self, viewer: Viewer, org_slug: str | None, slug: str | None) -> dict:
        with Session(self.engine) as session:
            campaign = None
            if slug is not None:
                try:
                    campaign = campaigns.get_campaign(session, slug, viewer)
                except NotFoundError:
                    raise not_found() from None
                organisation = campaign.organisation
            else:
                organisation = session.scalar(
                    select(Organisation).where(Organisation.slug == org_slug)
                )
                if organisation is None:
                    raise not_found()
            if not allowed(viewer, Action.CAMPAIGN_MANAGE, organisation):
                raise Refused("edit", organisation.name, organisation.slug)
            context = self._choices(session, viewer, organisation)
            context["editing"] = campaign
            context["values"] = self._values(campaign)
            return context

    @staticmethod
    def _values(campaign: Campaign | None) -> dict[str, str]:
        if campaign is None:
            blank = dict.fromkeys(FORM_FIELDS, "")
            return {
                **blank,
                "licence": "lov2",
                "geometry_type": "Point",
                "duplicate_distance_m": "5",
            }
        area = campaigns.area_geojson(campaign)
        return {
            "title": campaign.title,
            "description": campaign.description or "",
            "event": campaign.event.slug if campaign.event else "",
            "dataset": campaign.dataset.slug,
            "layer": campaign.layer_name,
            "geometry_type": campaign.geometry_type,
            "schema": schema_text(campaign.attribute_schema),
            "area": json.dumps(area) if area else "",
            "area_place": "",
            "starts": _local(campaign.starts_at),
            "ends": _local(campaign.ends_at),
            "licence": campaign.licence,
            "allow_edits": "1" if campaign.allow_edits else "",
            "duplicate_distance_m": f"{campaign.duplicate_distance_m:g}",
        }

    @staticmethod
    def _fields(values: dict[str, str], creating: bool) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "title": values["title"],
            "description": values["description"],
            "event": values["event"] or None,
            "dataset": values["dataset"],
            "layer": values["layer"] or None,
            "geometry_type": values["geometry_type"] or None,
            "attribute_schema": parse_schema(values["schema"]),
            "starts": values["starts"],
            "ends": values["ends"],
            "licence": values["licence"] or "lov2",
            "allow_edits": values["allow_edits"] == "1",
            "duplicate_distance_m": values["duplicate_distance_m"] or 5,
        }
        if creating and values["new_dataset"].strip():
            fields["new_dataset"] = values["new_dataset"]
        if values["area_place"]:
            fields["area_place"] = values["area_place"]
        elif values["area"] or not creating:
            fields["area"] = values["area"] or None
        if not values["schema"].strip():
            fields.pop("attribute_schema")  # the layer's own attributes, if it has some
        return fields

    async def _form(self, request: Request) -> Response:
        redirect = self._sign_in_first(request)
        if redirect is not None:
            return redirect
        viewer = viewer_for(request)
        slug = request.path_params.get("slug")
        org_slug = request.path_params.get("org")
        context = await run_in_threadpool(self._context, viewer, org_slug, slug)
        if request.method == "GET":
            return self.accounts.page(request, "campaign_form.html", **context, **self._labels())
        form = await self.accounts.form(request)
        values = {name: str(form.get(name, ""))[:200_000] for name in FORM_FIELDS}
        actor = self.accounts.actor(request, identity_for(request).user_id)
        organisation = context["organisation"].slug

        def save() -> str:
            with Session(writing(self.engine)) as session, session.begin():
                fields = self._fields(values, slug is None)
                if slug is None:
                    made = campaigns.create_campaign(
                        session, viewer, organisation=organisation, actor=actor, **fields
                    )
                    return made.slug
                campaign = campaigns.get_campaign(session, slug, viewer)
                campaigns.update_campaign(session, viewer, campaign, actor=actor, **fields)
                return campaign.slug

        try:
            saved = await run_in_threadpool(save)
        except CatalogueError as exc:
            context["values"] = values
            return self.accounts.page(
                request, "campaign_form.html", 400, error=str(exc), **context, **self._labels()
            )
        return RedirectResponse(f"/campagnes/{saved}", status_code=303)

    async def campaign_new(self, request: Request) -> Response:
        return await self._form(request)

    async def campaign_edit(self, request: Request) -> Response:
        return await self._form(request)

    async def campaign_state(self, request: Request) -> Response:
        """`POST /campagnes/{slug}/ouvrir` or `/clore`."""
        redirect = self._sign_in_first(request)
        if redirect is not None:
            return redirect
        await self.accounts.form(request)
        viewer = viewer_for(request)
        slug = request.path_params["slug"]
        change = {
            "ouvrir": campaigns.open_campaign,
            "clore": campaigns.close_campaign,
        }.get(request.url.path.rsplit("/", 1)[-1])
        if change is None:
            raise not_found()
        actor = self.accounts.actor(request, identity_for(request).user_id)

        def save() -> str | None:
            with Session(writing(self.engine)) as session, session.begin():
                campaign = campaigns.get_campaign(session, slug, viewer)
                if not allowed(viewer, Action.CAMPAIGN_MANAGE, campaign):
                    org = campaign.organisation
                    raise Refused("edit", org.name, org.slug)
                try:
                    change(session, viewer, campaign, actor=actor)
                except CatalogueError as exc:
                    return str(exc)
                return None

        refused = await run_in_threadpool(save)
        if refused is not None:
            return await self._refused_state(request, slug, refused)
        return RedirectResponse(f"/campagnes/{slug}", status_code=303)

    async def _refused_state(self, request: Request, slug: str, message: str) -> Response:
        viewer = viewer_for(request)
        context = await run_in_threadpool(self._context, viewer, None, slug)
        return self.accounts.page(
            request, "campaign_form.html", 400, error=message, **context, **self._labels()
        )


def campaigns_of_event(session: Session, viewer: Viewer, event: Event) -> list[Campaign]:
    """The campaigns of a cartoparty the viewer may see (the event page lists them)."""
    return campaigns.list_campaigns(session, viewer, event_id=event.id)
