"""Search pages: `/recherche` (everything) and `/jeux-de-donnees` (datasets), with facets.

Every state of a search is in its URL (GET form, canonical parameter order, `Filters`),
so a search can be shared, bookmarked and paged without losing its filters. The search
itself (`niaouli.catalogue.search.finder`) applies the viewer's access rule to results and
facet counts alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse

from niaouli.catalogue.search import finder, suggestions
from niaouli.db.readroute import reading
from niaouli.i18n import N_, _, ngettext
from niaouli.portal.common import Paging, Portal, page_number, viewer_for
from niaouli.portal.rendering import theme_words

# Labels are marked with N_() and translated where shown (the language is the request's).
FACET_LABELS = {
    "type": N_("Type"),
    "organisation": N_("Organisation"),
    "theme": N_("Thème"),
    "format": N_("Format"),
    "licence": N_("Licence"),
    "acces": N_("Niveau d'accès"),
    "spatial": N_("Données géographiques"),
    "donnees": N_("Nature des données"),
    "qualite": N_("Qualité"),
}
QUALITY_LABELS = {
    "haute": N_("Haute (80 % et plus)"),
    "moyenne": N_("Moyenne (50 à 79 %)"),
    "basse": N_("Basse (moins de 50 %)"),
}
DATA_KIND_LABELS = {
    "vecteur": N_("Vecteur"),
    "raster": N_("Raster (image, grille)"),
    "tableau": N_("Tableau"),
}
TYPE_LABELS = {
    "jeux-de-donnees": N_("Jeux de données"),
    "code": N_("Code"),
    "reutilisations": N_("Réutilisations"),
    "organisations": N_("Organisations"),
    "evenements": N_("Événements"),
}
KIND_LABELS = {
    "dataset": N_("Jeu de données"),
    "code": N_("Code"),
    "reuse": N_("Réutilisation"),
    "organisation": N_("Organisation"),
    "event": N_("Événement"),
}
KIND_PATHS = {
    "dataset": "/jeux-de-donnees",
    "code": "/code",
    "reuse": "/reutilisations",
    "organisation": "/organisations",
    "event": "/evenements",
}
ACCESS_LABELS = {
    "public": N_("Public"),
    "registered": N_("Utilisateurs inscrits"),
    "organisation": N_("Membres de l'organisation"),
    "draft": N_("Brouillon"),
}
SPATIAL_LABELS = {"oui": N_("Géographiques"), "non": N_("Non géographiques")}
SORT_LABELS = {
    "pertinence": N_("Pertinence"),
    "recent": N_("Plus récents"),
    "populaire": N_("Plus utilisés"),
    "qualite": N_("Meilleure qualité"),
}
SHOWN_VALUES = 12


@dataclass(frozen=True)
class FacetValue:
    label: str
    count: int
    selected: bool
    url: str


@dataclass(frozen=True)
class Facet:
    name: str
    label: str
    values: list[FacetValue]


@dataclass(frozen=True)
class Elsewhere:
    """The same words found in another kind of content (a link for an empty search)."""

    label: str
    count: int
    url: str


@dataclass(frozen=True)
class Hit:
    kind: str
    kind_label: str
    url: str
    title: str
    meta: str
    summary: str
    object: Any


def url_for(base: str, filters: finder.Filters) -> str:
    params = filters.params()
    return base + ("?" + urlencode(params) if params else "")


class SearchPages:
    def __init__(self, portal: Portal) -> None:
        self.portal = portal

    def everything(self, request: Request) -> HTMLResponse:
        return self._page(request, "/recherche", list(finder.TYPES.values()))

    def datasets(self, request: Request) -> HTMLResponse:
        return self._page(request, "/jeux-de-donnees", ["dataset"])

    def _page(self, request: Request, base: str, kinds: list[str]) -> HTMLResponse:
        viewer = viewer_for(request)
        filters = finder.Filters.from_params(request.query_params, page_number(request))
        show_access = viewer.is_signed_in  # may see more than public datasets
        ignored = ({"type"} if len(kinds) == 1 else set()) | (set() if show_access else {"acces"})
        filters = replace(
            filters, selected={k: v for k, v in filters.selected.items() if k not in ignored}
        )
        # Read-only: on the read replica when this request reads there (docs/scaling.md).
        with Session(reading(self.portal.engine)) as session:
            result = finder.search(
                session,
                viewer,
                filters,
                kinds=kinds,
                page_size=Paging(1, 0).size,
                show_access=show_access,
            )
            paging = Paging(filters.page, result.total)
            hits = [self._hit(item, result) for item in result.items]
            hide = {"type"} if len(kinds) == 1 else set()
            facets = self._facets(base, filters, result, hide)
            page_url = lambda page: url_for(base, replace(filters, page=page))  # noqa: E731
            spelling, elsewhere = None, []
            if result.total == 0 and filters.q:
                spelling, elsewhere = self._suggestions(session, viewer, base, filters, kinds)
            return self.portal.render(
                request,
                "recherche.html",
                base=base,
                datasets_only=len(kinds) == 1,
                query=filters.q,
                filters=filters,
                # `lieu=non` was a choice about the words typed: a new search starts without it.
                hidden=[
                    (k, v) for k, v in filters.params() if k not in ("q", "tri", "page", "lieu")
                ],
                sort=filters.effective_sort(),
                sorts=[
                    (key, _(label))
                    for key, label in SORT_LABELS.items()
                    if key != "pertinence" or filters.q
                ],
                hits=hits,
                facets=facets,
                paging=paging,
                previous_url=page_url(paging.page - 1) if paging.page > 1 else None,
                next_url=page_url(paging.page + 1) if paging.page < paging.pages else None,
                bbox=finder.format_bbox(filters.bbox) if filters.bbox else "",
                without_bbox_url=url_for(base, replace(filters, bbox=None, page=1)),
                clear_url=url_for(base, finder.Filters(q=filters.q)),
                has_filters=bool(filters.selected) or filters.bbox is not None,
                place=result.place.name if result.place else "",
                place_applied=bool(result.place) and filters.places,
                toggle_place_url=url_for(base, replace(filters, places=not filters.places, page=1)),
                spelling=spelling,
                spelling_url=url_for(base, replace(filters, q=spelling, page=1))
                if spelling
                else "",
                elsewhere=elsewhere,
                active_filters=sum(len(v) for v in filters.selected.values())
                + (filters.bbox is not None),
            )

    @staticmethod
    def _suggestions(
        session: Session,
        viewer: finder.Viewer,
        base: str,
        filters: finder.Filters,
        kinds: list[str],
    ) -> tuple[str | None, list[Elsewhere]]:
        """For an empty search: a nearby spelling, and where else the words are found."""
        spelling = suggestions.spelling(session, viewer, filters.q)
        elsewhere: list[Elsewhere] = []
        if len(kinds) == 1 or filters.selected or filters.bbox is not None:
            anywhere = finder.search(
                session,
                viewer,
                finder.Filters(q=filters.q, places=filters.places),
                page_size=0,
            )
            for value, count in anywhere.facets.get("type", []):
                elsewhere.append(
                    Elsewhere(
                        _(TYPE_LABELS[value]),
                        count,
                        url_for(
                            "/recherche",
                            finder.Filters(
                                q=filters.q,
                                selected={"type": frozenset({value})},
                                places=filters.places,
                            ),
                        ),
                    )
                )
        return spelling, elsewhere

    def _facets(
        self, base: str, filters: finder.Filters, result: finder.Result, hide: set[str]
    ) -> list[Facet]:
        facets = []
        for name, counts in result.facets.items():
            if name in hide:
                continue
            selected = filters.values(name)
            shown = counts[:SHOWN_VALUES]
            # Values the visitor selected stay visible (to unselect them), even at zero.
            shown_keys = {v for v, _count in shown}
            counted = dict(counts)
            shown += [(v, counted.get(v, 0)) for v in sorted(selected) if v not in shown_keys]
            values = [
                FacetValue(
                    label=self._value_label(name, value, result),
                    count=count,
                    selected=value in selected,
                    url=url_for(base, filters.toggled(name, value)),
                )
                for value, count in shown
            ]
            if values:
                facets.append(Facet(name, _(FACET_LABELS[name]), values))
        return facets

    @staticmethod
    def _value_label(name: str, value: str, result: finder.Result) -> str:
        if name == "type":
            return _(TYPE_LABELS[value]) if value in TYPE_LABELS else value
        if name == "organisation":
            return result.organisations.get(value, value)
        if name == "acces":
            return _(ACCESS_LABELS[value]) if value in ACCESS_LABELS else value
        if name == "spatial":
            return _(SPATIAL_LABELS[value]) if value in SPATIAL_LABELS else value
        if name == "donnees":
            return _(DATA_KIND_LABELS[value]) if value in DATA_KIND_LABELS else value
        if name == "qualite":
            return _(QUALITY_LABELS[value]) if value in QUALITY_LABELS else value
        if name == "theme":
            return theme_words(value)  # an EU data theme in the reader's language
        return value

    @staticmethod
    def _hit(item: finder.Item, result: finder.Result) -> Hit:
        obj = result.objects.get((item.kind, item.id))
        org = result.organisations.get(item.organisation or "", "")
        description = getattr(obj, "description", "") or ""
        meta = org
        if item.kind == "organisation":
            meta = ngettext(
                "%(num)s jeu de données", "%(num)s jeux de données", item.popularity
            ) % {"num": item.popularity}
        elif item.quality is not None:
            meta = _("%(organisation)s · qualité %(score)s/100") % {
                "organisation": org,
                "score": item.quality,
            }
        return Hit(
            kind=item.kind,
            kind_label=_(KIND_LABELS[item.kind]),
            url=f"{KIND_PATHS[item.kind]}/{getattr(obj, 'slug', '')}",
            title=item.title,
            meta=meta,
            summary=description,
            object=obj,
        )
