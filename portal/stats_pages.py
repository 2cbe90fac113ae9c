"""`/statistiques`: the platform's use, for everyone, in French or English (and as JSON).

Figures come from `niaouli.stats.report` with the request's viewer, so a dataset the
visitor may not see is absent from every number, table and chart; its statistics page
is a 404 like its dataset page. Charts are server-drawn SVG with a data table beside.
Labels, chart texts and dates follow the request's language; the JSON's keys and the
`?jours=`/`?pas=` values stay French whatever the language.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from babel.dates import format_date
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse

from niaouli.catalogue import service
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.campaigns import credit
from niaouli.i18n import N_, _, babel_locale, current_language
from niaouli.portal.common import Portal, not_found, viewer_for
from niaouli.stats import report
from niaouli.stats.charts import NARROW_WIDTH, Line, legend, line_chart
from niaouli.stats.middleware import today

PERIODS = {30: N_("30 derniers jours"), 90: N_("90 derniers jours"), 365: N_("12 derniers mois")}
STEPS = {"jour": 1, "semaine": 7}
STEP_LABELS = {"jour": N_("par jour"), "semaine": N_("par semaine")}
VISITS_BY_STEP = {
    "jour": N_("Visites dédupliquées par jour"),
    "semaine": N_("Visites dédupliquées par semaine"),
}
# CLDR patterns (full date, chart label): French keeps its numeric dates; English spells
# the month out, as "04/12" reads as 4 December to some and 12 April to others.
DATE_PATTERNS = {"fr": ("dd/MM/yyyy", "dd/MM"), "en": ("d MMM yyyy", "d MMM")}
CHARTED = ("vues", "telechargements", "api", "ogc", "csw")


def period_of(request: Request) -> tuple[report.Period, int, str]:
    """`?jours=30|90|365&pas=jour|semaine`, forgiving: anything else means the default."""
    raw = request.query_params.get("jours", "")
    days = int(raw) if raw.isdigit() and int(raw) in PERIODS else 30
    step_name = request.query_params.get("pas", "")
    if step_name not in STEPS:
        step_name = "jour" if days <= 30 else "semaine"
    step = STEPS[step_name]
    end = today()
    # whole steps that end today
    points = -(-days // step)
    start = end - timedelta(days=points * step - 1)
    return report.Period(start, end, step), days, step_name


def _patterns() -> tuple[str, str]:
    return DATE_PATTERNS.get(current_language(), DATE_PATTERNS["fr"])


def day_text(day: date) -> str:
    """04/12/2026 in French, 4 Dec 2026 in English."""
    return format_date(day, _patterns()[0], locale=babel_locale())


def _label(day: date, step: int) -> str:
    short = format_date(day, _patterns()[1], locale=babel_locale())
    return short if step == 1 else _("sem. du %(day)s") % {"day": short}


class StatsPages:
    def __init__(self, portal: Portal) -> None:
        self.portal = portal

    def overview(self, request: Request) -> HTMLResponse:
        return self._page(request, None, None)

    def alias(self, request: Request) -> RedirectResponse:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse("/statistiques" + query, status_code=301)

    def organisation(self, request: Request) -> HTMLResponse:
        return self._page(request, "organisation", request.path_params["slug"])

    def dataset(self, request: Request) -> HTMLResponse:
        return self._page(request, "dataset", request.path_params["slug"])

    def overview_json(self, request: Request) -> JSONResponse:
        viewer = viewer_for(request)
        period, days, step_name = period_of(request)
        with Session(self.portal.engine) as session:
            data = self._data(session, viewer, period, None, None)
        body: dict[str, Any] = {
            "periode": {
                "debut": period.start.isoformat(),
                "fin": period.end.isoformat(),
                "jours": days,
                "pas": step_name,
            },
            "note": "visites : requêtes dédupliquées (même client, même adresse, 30 min) ;"
            " requetes : toutes les réponses réussies.",
            "catalogue": data["catalogue"],
            "totaux": data["totals"].as_json(),
            "organisations": [
                {"slug": org.slug, "nom": org.name, **figures.as_json()}
                for org, figures in data["organisations"]
            ],
            "jeux_de_donnees": [
                {"slug": dataset.slug, "titre": dataset.title, **figures.as_json()}
                for dataset, figures in data["datasets"]
            ],
            "series": [
                {"debut": day.isoformat(), **figures.as_json()} for day, figures in data["series"]
            ],
        }
        response = JSONResponse(body)
        response.headers["Access-Control-Allow-Origin"] = "*"
        if viewer.is_signed_in:
            response.headers["Cache-Control"] = "private, no-store"
        return response

    def _data(
        self,
        session: Session,
        viewer: Viewer,
        period: report.Period,
        organisation_id: int | None,
        dataset_id: int | None,
    ) -> dict[str, Any]:
        return {
            "catalogue": {
                **report.catalogue_figures(session, viewer, organisation_id),
                **credit.statistics(session, viewer, organisation_id),
            },
            "totals": report.totals(session, viewer, period, organisation_id, dataset_id),
            "organisations": report.per_organisation(session, viewer, period)
            if organisation_id is None and dataset_id is None
            else [],
            "datasets": report.top_datasets(session, viewer, period, organisation_id)
            if dataset_id is None
            else [],
            "series": report.series(session, viewer, period, organisation_id, dataset_id),
        }

    def _page(self, request: Request, kind: str | None, slug: str | None) -> HTMLResponse:
        viewer = viewer_for(request)
        period, days, step_name = period_of(request)
        with Session(self.portal.engine) as session:
            organisation = dataset = None
            try:
                if kind == "organisation":
                    organisation = service.get_organisation(session, slug or "")
                elif kind == "dataset":
                    dataset = service.get_dataset(session, slug or "", viewer)
            except service.NotFoundError:
                raise not_found() from None
            data = self._data(
                session,
                viewer,
                period,
                organisation.id if organisation else None,
                dataset.id if dataset else None,
            )
            labels = [_label(day, period.step) for day, _f in data["series"]]
            lines = [
                Line(_(report.GROUPS[g][0]), [f[g].visits for _d, f in data["series"]])
                for g in CHARTED
            ]
            subject = organisation.name if organisation else dataset.title if dataset else ""
            title = _("Utilisation de %(subject)s — %(period)s, %(step)s") % {
                "subject": subject or "Niaouli",
                "period": _(PERIODS[days]),
                "step": _(STEP_LABELS[step_name]),
            }
            totals = ", ".join(
                _("%(label)s (total %(total)s)") % {"label": line.label, "total": sum(line.values)}
                for line in lines
            )
            description = _(
                "%(what)s : %(lines)s. Les chiffres détaillés sont dans le tableau qui suit."
            ) % {"what": _(VISITS_BY_STEP[step_name]), "lines": totals}
            # drawn twice, for a wide screen and for a phone: stats.css shows one of them
            chart = line_chart(
                "courbe-usage", title, description, labels, lines, css_class="chart chart-wide"
            ) + line_chart(
                "courbe-usage-etroite",
                title,
                description,
                labels,
                lines,
                width=NARROW_WIDTH,
                css_class="chart chart-narrow",
            )
            base = request.url.path
            return self.portal.render(
                request,
                "statistiques.html",
                organisation=organisation,
                dataset=dataset,
                subject=subject,
                period=period,
                days=days,
                step_name=step_name,
                periods=PERIODS,
                steps=STEPS,
                step_labels=STEP_LABELS,
                visits_by_step=VISITS_BY_STEP,
                day_text=day_text,
                base=base,
                groups=report.GROUPS,
                per_dataset=report.PER_DATASET,
                charted=CHARTED,
                chart=chart,
                legend=legend(lines),
                labels=labels,
                **data,
            )
