"""What the volunteer page's JSON endpoints read and answer (`contribute_pages.py`).

The page sends features as `{"features": [{uid, geometry, properties, photo_key}],
"display_name", "source"}`; they are checked here before the core sees them: the uid as
the campaigns accept it, a GeoJSON geometry, properties named in the campaign's schema
only (SECURITY-CASES S1: never an arbitrary name), a photo key that `ingest.photos` made
and stored. Answers are `{"results": [{uid, where, status: sent|refused, problems}]}`,
problems in the request's language; errors are `{"error", "code"}`.
"""

from __future__ import annotations

from typing import Any

import shapely
from starlette.responses import JSONResponse

from niaouli.catalogue.campaigns import contributions
from niaouli.catalogue.campaigns.campaign_tables import Contribution
from niaouli.i18n import _, current_language
from niaouli.ingest import photos

MAX_JSON_BYTES = 1 << 20
MAX_FEATURES_PER_SEND = 200
GEOMETRY_TYPES = {"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"}


class BadBodyError(Exception):
    """A malformed body from the page: 400 with this message."""


def json_error(message: str, status: int, code: str = "Invalid") -> JSONResponse:
    return JSONResponse(
        {"error": message, "code": code}, status_code=status, headers={"Cache-Control": "no-store"}
    )


def problem_json(problem: Any) -> dict[str, Any]:  # noqa: ANN401 - a validation.Problem
    data = problem.as_json() if hasattr(problem, "as_json") else dict(problem)
    message = data.get("message") or {}
    shown = (
        message.get(current_language()) or message.get("fr")
        if isinstance(message, dict)
        else message
    )
    return {
        "code": data.get("code"),
        "field": data.get("field"),
        "severity": data.get("severity"),
        "message": shown or "",
    }


def stored_problems(contribution: Contribution) -> list[dict[str, Any]]:
    return [problem_json(p) for p in contribution.problems or [] if isinstance(p, dict)]


def _check_geometry(value: Any) -> dict[str, Any]:  # noqa: ANN401 - parsed JSON
    if not isinstance(value, dict) or value.get("type") not in GEOMETRY_TYPES:
        raise BadBodyError(_("géométrie absente ou d'un type inconnu"))
    try:
        geom = shapely.geometry.shape(value)
    except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException):
        raise BadBodyError(_("géométrie illisible")) from None
    if geom.is_empty or not shapely.is_valid_input(geom):
        raise BadBodyError(_("géométrie vide"))
    return {"type": value["type"], "coordinates": value.get("coordinates")}


def parse_features(
    body: Any,  # noqa: ANN401 - parsed JSON
    schema: list[dict[str, Any]],
    settings: Any,  # noqa: ANN401
) -> list[contributions.ProposedFeature]:
    """The page's features, checked: uid, geometry, properties named in the schema only
    (SECURITY-CASES S1), photo keys made by `ingest.photos` and stored."""
    items = body.get("features") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise BadBodyError(_("aucun objet envoyé"))
    if len(items) > MAX_FEATURES_PER_SEND:
        raise BadBodyError(
            _("trop d'objets dans un envoi : %(max)s au plus") % {"max": MAX_FEATURES_PER_SEND}
        )
    names = {f["name"] for f in schema if isinstance(f, dict) and f.get("name")}
    features = []
    for item in items:
        if not isinstance(item, dict):
            raise BadBodyError(_("objet mal formé"))
        uid = item.get("uid")
        if not isinstance(uid, str) or not contributions.UID.match(uid):
            raise BadBodyError(_("identifiant d'objet invalide"))
        properties = item.get("properties") or {}
        if not isinstance(properties, dict):
            raise BadBodyError(_("attributs mal formés"))
        unknown = sorted(str(k)[:50] for k in properties if k not in names)
        if unknown:
            raise BadBodyError(
                _("champ inconnu de la campagne : « %(name)s »") % {"name": unknown[0]}
            )
        values = {
            k: v
            for k, v in properties.items()
            if v is not None and not (isinstance(v, str) and not v.strip())
        }
        if any(not isinstance(v, str | int | float | bool) for v in values.values()):
            raise BadBodyError(_("valeur d'attribut mal formée"))
        photo_key = item.get("photo_key") or None
        if photo_key is not None and not photos.exists(settings, photo_key):
            raise BadBodyError(_("photo introuvable : renvoyez-la"))
        features.append(
            contributions.ProposedFeature(
                uid=uid,
                geometry=_check_geometry(item.get("geometry")),
                properties=values,
                photo_key=photo_key,
            )
        )
    return features


def credit_name(raw: Any, identity: Any) -> str:  # noqa: ANN401
    """The credit the volunteer chose, else their account's display name."""
    name = " ".join(str(raw or "").split())[:200]
    if "@" in name:
        raise BadBodyError(_("le nom affiché ne peut pas être une adresse électronique"))
    return name or (identity.display_name or "")[:200]


def result_report(result: Any, where: dict[str, str] | None = None) -> dict[str, Any]:  # noqa: ANN401
    """`SubmitResult` as the page shows it: one line per feature, sent or refused."""
    where = where or {}
    rows = []
    for contribution in result.accepted:
        rows.append(
            {
                "uid": contribution.uid,
                "where": where.get(contribution.uid, ""),
                "status": "sent",
                "id": contribution.id,
                "state": str(getattr(contribution.state, "value", contribution.state)),
                "problems": stored_problems(contribution),
            }
        )
    for feature, problems in result.refused:
        rows.append(
            {
                "uid": feature.uid,
                "where": where.get(feature.uid or "", ""),
                "status": "refused",
                "problems": [problem_json(p) for p in problems],
            }
        )
    return {
        "submission": getattr(result.submission, "id", None),
        "sent": len(result.accepted),
        "refused": len(result.refused),
        "results": rows,
    }
