"""`/indicateurs`: the plan's indicators (issue 22 §3) as charts, a table, CSV and JSON.

The figures are `niaouli.stats.indicators`' (public data only, the same for everyone),
so the page, `/indicateurs.csv` and `/indicateurs.json` (also `?format=csv|json`) hold
the same numbers; the CSV's and JSON's keys stay French whatever the language. Charts
are the statistics' server-drawn SVG (`niaouli.stats.charts`), no script.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from babel.dates import format_date
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from niaouli.i18n import N_, _, babel_locale
from niaouli.portal.common import Portal
from niaouli.stats import indicators
from niaouli.stats.charts import NARROW_WIDTH, Line, legend, line_chart
from niaouli.stats.indicators import Month
from niaouli.stats.middleware import today

CHARTS = (
    (
        "indicateurs-catalogue",
        N_("Ce qui est disponible, à la fin de chaque mois"),
        ("jeux_de_donnees", "projets_de_code", "reutilisations", "applications"),
    ),
    (
        "indicateurs-usage",
        N_("Utilisation, par mois (visites dédupliquées)"),
        ("telechargements", "appels_api", "appels_ogc"),
    ),
    (
        "indicateurs-communaute",
        N_("Communauté, par mois"),
        ("evenements", "participants", "participants_cartoparties", "contributeurs_cartoparties"),
    ),
)


def month_label(text: str) -> str:
    """déc. 2026 / Dec 2026."""
    year, month = (int(part) for part in text.split("-"))
    return format_date(Month(year, month).first_day, "MMM yyyy", locale=babel_locale())


class IndicatorPages:
    def __init__(self, portal: Portal) -> None:
        self.portal = portal

    def _figures(self) -> tuple[list[dict[str, Any]], dict[str, int]]:
        with Session(self.portal.engine) as session:
            series = indicators.monthly(session, today())
            return series, indicators.summary(session, series)

    def page(self, request: Request) -> Response:
        wanted = request.query_params.get("format", "")
        if wanted == "csv":
            return self.csv(request)
        if wanted == "json":
            return self.json(request)
        series, summary = self._figures()
        labels = [month_label(row["mois"]) for row in series]
        charts = []
        for chart_id, title, keys in CHARTS:
            lines = [Line(_(indicators.COLUMNS[k]), [row[k] for row in series]) for k in keys]
            description = _(
                "%(title)s : %(lines)s. Les chiffres sont dans le tableau qui suit."
            ) % {
                "title": _(title),
                "lines": ", ".join(
                    _("%(label)s (dernier mois : %(last)s)")
                    % {"label": line.label, "last": line.values[-1] if line.values else 0}
                    for line in lines
                ),
            }
            svg = line_chart(
                chart_id, _(title), description, labels, lines, css_class="chart chart-wide"
            ) + line_chart(
                chart_id + "-etroit",
                _(title),
                description,
                labels,
                lines,
                width=NARROW_WIDTH,
                css_class="chart chart-narrow",
            )
            charts.append((_(title), svg, legend(lines)))
        return self.portal.render(
            request,
            "indicateurs.html",
            series=series,
            summary=summary,
            columns=indicators.COLUMNS,
            summary_labels=indicators.SUMMARY,
            charts=charts,
            month_label=month_label,
        )

    def csv(self, request: Request) -> Response:  # noqa: ARG002 - a route handler
        series, _summary = self._figures()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        keys = ["mois", *indicators.COLUMNS]
        writer.writerow(keys)
        for row in series:
            writer.writerow([row[k] for k in keys])
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": 'attachment; filename="indicateurs.csv"',
                "Access-Control-Allow-Origin": "*",
            },
        )

    def json(self, request: Request) -> Response:  # noqa: ARG002 - a route handler
        series, summary = self._figures()
        body = {
            "note": "Comptés sur les données publiques de la plateforme, sans donnée personnelle"
            " ; disponibles = cumul à la fin du mois, utilisation = visites dédupliquées du mois.",
            "colonnes": {"mois": "mois (AAAA-MM)", **indicators.COLUMNS},
            "series": series,
            "totaux": summary,
            "totaux_libelles": indicators.SUMMARY,
        }
        return JSONResponse(body, headers={"Access-Control-Allow-Origin": "*"})
