"""Checking a proposed feature against its campaign: one validator for every way in.

The phone form, file imports, offline batches and OGC API Part 4 writes all call
`validate`, so a volunteer reads the same sentence whichever way they sent a feature.
Each `Problem` carries its message in French and English at once (the report is stored
and read later in either language) and names the field it is about; errors refuse the
feature, warnings (plausible duplicates, ignored fields) stay on it for the reviewers.

What is checked: the attribute schema (required, types, enumerations, lengths), the
geometry (well-formed GeoJSON, finite lon/lat in range, bounded size, valid, of the
campaign's type), inside the campaign's area, and nearby features of the target layer
or already submitted contributions within `campaign.duplicate_distance_m`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import shapely
import sqlalchemy as sa
from shapely.geometry import shape
from sqlalchemy.orm import Session

from niaouli.catalogue.campaigns.campaign_tables import (
    Campaign,
    Contribution,
    ContributionState,
)
from niaouli.catalogue.campaigns.campaigns import area_geometry, campaign_layer
from niaouli.db.features import FeatureQuery, LayerTable, get_feature, query_page
from niaouli.i18n import N_, _, speaking

if TYPE_CHECKING:
    from niaouli.catalogue.campaigns.contributions import ProposedFeature

MAX_VERTICES = 10_000
"""A field survey's feature is a point, a path or a building: more is a mistake or an
attack (SECURITY-CASES S17), refused before shapely builds anything."""
MAX_DEPTH = 4  # MultiPolygon: [polygons [rings [positions [x, y]]]]
MAX_TEXT = 10_000
DUPLICATE_CANDIDATES = 20
METRES_PER_DEGREE = 111_320.0
LAYER_GEOMETRY_TYPES = {
    "Point": ("Point",),
    "LineString": ("LineString",),
    "Polygon": ("Polygon",),
}
TRUE_WORDS = {"true", "1", "oui", "yes", "vrai", "o", "y"}
FALSE_WORDS = {"false", "0", "non", "no", "faux", "n"}


@dataclass(frozen=True)
class Problem:
    """One finding about a feature: refused (`error`) or kept with a note (`warning`)."""

    code: str
    field: str | None
    severity: str  # "error" | "warning"
    message_fr: str
    message_en: str

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "field": self.field,
            "severity": self.severity,
            "message": {"fr": self.message_fr, "en": self.message_en},
        }

    @property
    def message(self) -> str:
        """In the language of the request being answered."""
        from niaouli.i18n import current_language

        return self.message_en if current_language() == "en" else self.message_fr

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Problem:
        message = data.get("message") or {}
        return cls(
            data.get("code", ""),
            data.get("field"),
            data.get("severity", "error"),
            message.get("fr", ""),
            message.get("en", message.get("fr", "")),
        )


def problem(
    code: str,
    field: dict[str, Any] | str | None,
    template: str,
    severity: str = "error",
    **values: Any,
) -> Problem:
    """A `Problem` whose message is `template` (French, marked with `N_`) in both languages;
    `%(field)s` is the field's label in each language."""
    messages = {}
    for language in ("fr", "en"):
        with speaking(language):
            label = _label(field, language)
            messages[language] = _(template) % {"field": label, **values}
    name = field.get("name") if isinstance(field, dict) else field
    return Problem(code, name, severity, messages["fr"], messages["en"])


def _label(field: dict[str, Any] | str | None, language: str) -> str:
    if isinstance(field, dict):
        labels = field.get("label") or {}
        return labels.get(language) or labels.get("fr") or field.get("name", "")
    return field or ""


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


# --- attributes -----------------------------------------------------------------------

REQUIRED = N_("le champ « %(field)s » est obligatoire")
NOT_INTEGER = N_("le champ « %(field)s » attend un nombre entier")
NOT_NUMBER = N_("le champ « %(field)s » attend un nombre")
NOT_BOOLEAN = N_("le champ « %(field)s » attend oui ou non")
NOT_DATE = N_("le champ « %(field)s » attend une date AAAA-MM-JJ")
NOT_TEXT = N_("le champ « %(field)s » attend du texte")
NOT_IN_LIST = N_("« %(value)s » n'est pas une valeur permise pour « %(field)s » (%(allowed)s)")
TOO_LONG = N_("le champ « %(field)s » a %(max)s caractères au plus")
IGNORED = N_("le champ « %(field)s » ne fait pas partie de la campagne : ignoré")


def _empty(value: Any) -> bool:  # noqa: ANN401
    return value is None or (isinstance(value, str) and not value.strip())


def _coerce(field: dict[str, Any], value: Any) -> tuple[Any, Problem | None]:  # noqa: ANN401, C901, PLR0911, PLR0912
    """The stored value of `value` for `field` (form and CSV text is converted), or a problem."""
    kind = field.get("type", "string")
    if kind == "integer":
        if isinstance(value, bool):
            return None, problem("type", field, NOT_INTEGER)
        if isinstance(value, int):
            return value, None
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value), None
        if isinstance(value, str):
            try:
                return int(value.strip()), None
            except ValueError:
                pass
        return None, problem("type", field, NOT_INTEGER)
    if kind == "number":
        if isinstance(value, bool):
            return None, problem("type", field, NOT_NUMBER)
        number = value
        if isinstance(value, str):
            try:
                number = float(
                    value.strip().replace(",", ".").replace("\u202f", "").replace(" ", "")
                )
            except ValueError:
                return None, problem("type", field, NOT_NUMBER)
        if isinstance(number, int | float) and math.isfinite(number):
            return number, None
        return None, problem("type", field, NOT_NUMBER)
    if kind == "boolean":
        if isinstance(value, bool):
            return value, None
        word = str(value).strip().lower()
        if word in TRUE_WORDS:
            return True, None
        if word in FALSE_WORDS:
            return False, None
        return None, problem("type", field, NOT_BOOLEAN)
    if kind == "date":
        try:
            return date.fromisoformat(str(value).strip()[:10]).isoformat(), None
        except ValueError:
            return None, problem("type", field, NOT_DATE)
    if isinstance(value, dict | list):
        return None, problem("type", field, NOT_TEXT)
    text = str(value).strip() if not isinstance(value, float) or math.isfinite(value) else None
    if text is None:
        return None, problem("type", field, NOT_TEXT)
    if kind == "enum":
        allowed = field.get("enum") or []
        if text not in allowed:
            return None, problem(
                "enum",
                field,
                NOT_IN_LIST,
                value=text[:60],
                allowed=", ".join(allowed[:10]) + (", …" if len(allowed) > 10 else ""),
            )
        return text, None
    limit = min(int(field.get("max_length") or MAX_TEXT), MAX_TEXT)
    if len(text) > limit:
        return None, problem("too_long", field, TOO_LONG, max=limit)
    return text, None


def check_properties(
    campaign: Campaign, properties: dict[str, Any], *, partial: bool = False
) -> tuple[dict[str, Any], list[Problem]]:
    """The properties in their stored form (only the schema's fields) and the problems.

    `partial` (a retirement) skips the required fields."""
    problems: list[Problem] = []
    if not isinstance(properties, dict):
        return {}, [problem("type", None, N_("les propriétés doivent être un objet JSON"))]
    fields = {f["name"]: f for f in campaign.attribute_schema or []}
    stored: dict[str, Any] = {}
    for name, field in fields.items():
        value = properties.get(name)
        if _empty(value):
            if field.get("required") and not partial:
                problems.append(problem("required", field, REQUIRED))
            continue
        value, found = _coerce(field, value)
        if found is not None:
            problems.append(found)
        else:
            stored[name] = value
    for name in properties:
        if name not in fields:
            problems.append(problem("ignored_field", str(name)[:64], IGNORED, "warning"))
    return stored, problems


# --- geometry -------------------------------------------------------------------------

NO_GEOMETRY = N_("l'objet n'a pas de géométrie")
BAD_GEOMETRY = N_("géométrie GeoJSON mal formée : %(detail)s")
BAD_COORDINATES = N_("coordonnées invalides : longitude de -180 à 180, latitude de -90 à 90")
TOO_MANY_VERTICES = N_("géométrie trop grande : %(max)s sommets au plus")
WRONG_TYPE = N_("la campagne attend un objet de type %(expected)s, pas %(got)s")
NOT_VALID = N_("géométrie invalide : %(detail)s")
OUTSIDE = N_("l'objet est hors de la zone de la campagne")
GEOMETRY_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}
DEPTHS = {
    "Point": 1,
    "MultiPoint": 2,
    "LineString": 2,
    "MultiLineString": 3,
    "Polygon": 3,
    "MultiPolygon": 4,
}


class _MalformedError(Exception):
    pass


def _positions(value: Any, depth: int, count: list[int]) -> None:  # noqa: ANN401
    """Walks the coordinates array to the expected depth without recursion surprises:
    every position is 2 or 3 finite numbers in lon/lat range; at most MAX_VERTICES."""
    if not isinstance(value, list | tuple):
        raise _MalformedError(N_("tableau de coordonnées attendu"))
    if depth == 1:
        if len(value) not in (2, 3) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value
        ):
            raise _MalformedError(N_("une position est [longitude, latitude]"))
        if not all(math.isfinite(v) for v in value):
            raise ValueError
        if not (-180 <= value[0] <= 180 and -90 <= value[1] <= 90):
            raise ValueError
        count[0] += 1
        if count[0] > MAX_VERTICES:
            raise OverflowError
        return
    for item in value:
        _positions(item, depth - 1, count)


def parse_geometry(geometry: Any) -> tuple[Any, list[Problem]]:  # noqa: ANN401, PLR0911
    """A shapely geometry from untrusted GeoJSON, or None and the problem."""
    if not isinstance(geometry, dict):
        return None, [problem("geometry", "geometry", NO_GEOMETRY)]
    kind = geometry.get("type")
    if kind not in GEOMETRY_TYPES:
        detail_type = str(kind)[:40]
        return None, [
            problem("geometry", "geometry", BAD_GEOMETRY, detail=f"type « {detail_type} »")
        ]
    count = [0]
    try:
        _positions(geometry.get("coordinates"), DEPTHS[kind], count)
    except _MalformedError as exc:
        return None, [_malformed(str(exc))]
    except ValueError:
        return None, [problem("coordinates", "geometry", BAD_COORDINATES)]
    except OverflowError:
        return None, [problem("too_big", "geometry", TOO_MANY_VERTICES, max=MAX_VERTICES)]
    except RecursionError:
        return None, [_malformed(N_("tableau de coordonnées attendu"))]
    try:
        parsed = shape({"type": kind, "coordinates": geometry["coordinates"]})
    except (ValueError, TypeError, IndexError, AttributeError, shapely.errors.ShapelyError):
        return None, [_malformed(N_("anneau ou ligne trop court"))]
    if parsed.is_empty:
        return None, [problem("geometry", "geometry", NO_GEOMETRY)]
    return parsed, []


def _malformed(detail: str) -> Problem:
    messages = {}
    for language in ("fr", "en"):
        with speaking(language):
            messages[language] = _(BAD_GEOMETRY) % {"detail": _(detail)}
    return Problem("geometry", "geometry", "error", messages["fr"], messages["en"])


def check_geometry(campaign: Campaign, parsed: Any) -> list[Problem]:  # noqa: ANN401
    """Type, validity and area of a parsed geometry."""
    expected = campaign.geometry_type
    if parsed.geom_type not in LAYER_GEOMETRY_TYPES.get(expected, (expected,)):
        return [
            problem(
                "geometry_type", "geometry", WRONG_TYPE, expected=expected, got=parsed.geom_type
            )
        ]
    if not parsed.is_valid:
        reason = shapely.is_valid_reason(parsed).split("[")[0].strip()
        return [problem("geometry_invalid", "geometry", NOT_VALID, detail=reason)]
    area = area_geometry(campaign)
    if area is not None and not area.covers(parsed):
        return [problem("outside_area", "geometry", OUTSIDE)]
    return []


# --- duplicates -----------------------------------------------------------------------

NEAR_LAYER = N_("doublon possible : l'objet n°%(fid)s de la couche est à %(metres)s m")
NEAR_CONTRIBUTION = N_("doublon possible : une autre contribution (« %(uid)s ») est à %(metres)s m")


def _metres(a: Any, b: Any) -> float:  # noqa: ANN401
    """The distance between two lon/lat geometries in metres (local plane, fine at the
    few metres a duplicate is about)."""
    lat = math.radians(a.centroid.y)
    scale = (METRES_PER_DEGREE * math.cos(lat), 110_574.0)

    def local(g: Any) -> Any:  # noqa: ANN401
        return shapely.transform(g, lambda xy: xy * scale)

    return float(local(a).distance(local(b)))


def _window(parsed: Any, metres: float) -> tuple[float, float, float, float]:  # noqa: ANN401
    west, south, east, north = parsed.bounds
    lat = math.radians(max(min((south + north) / 2, 89.0), -89.0))
    dy = metres / 110_574.0
    dx = metres / (METRES_PER_DEGREE * max(math.cos(lat), 0.01))
    return (west - dx, south - dy, east + dx, north + dy)


def _layer_duplicates(
    session: Session,
    campaign: Campaign,
    parsed: Any,
    skip_fid: int | None,  # noqa: ANN401
) -> list[Problem]:
    layer = campaign_layer(session, campaign)
    if layer is None or not layer.geometry_type:
        return []
    conn = session.connection()
    table = LayerTable.from_schema(
        layer.table_name,
        [],
        has_geometry=True,
        feature_count=layer.feature_count,
        postgis=conn.dialect.name == "postgresql",
    )
    window = _window(parsed, campaign.duplicate_distance_m)
    page = query_page(conn, table, FeatureQuery(limit=DUPLICATE_CANDIDATES, bbox=window))
    found = []
    for feature in page.features:
        if feature["id"] == skip_fid or feature["geometry"] is None:
            continue
        metres = _metres(parsed, shape(feature["geometry"]))
        if metres <= campaign.duplicate_distance_m:
            found.append(
                problem(
                    "duplicate",
                    "geometry",
                    NEAR_LAYER,
                    "warning",
                    fid=feature["id"],
                    metres=f"{metres:.1f}",
                )
            )
    return found[:3]


def _contribution_duplicates(
    session: Session,
    campaign: Campaign,
    parsed: Any,
    exclude_uid: str | None,  # noqa: ANN401
) -> list[Problem]:
    west, south, east, north = _window(parsed, campaign.duplicate_distance_m)
    envelope = (
        f"POLYGON(({west} {south},{east} {south},{east} {north},{west} {north},{west} {south}))"
    )
    intersects = sa.func.ST_Intersects(Contribution.geom, sa.func.ST_GeomFromText(envelope, 4326))
    if session.get_bind().dialect.name != "postgresql":
        intersects = intersects == 1
    as_wkb = sa.func.ST_AsBinary(Contribution.geom)
    query = (
        sa.select(Contribution.uid, as_wkb)
        .where(
            Contribution.campaign_id == campaign.id,
            Contribution.geom.is_not(None),
            Contribution.state.not_in([ContributionState.REJECTED, ContributionState.MERGED]),
            intersects,
        )
        .limit(DUPLICATE_CANDIDATES)
    )
    if exclude_uid is not None:
        query = query.where(Contribution.uid != exclude_uid)
    found = []
    for uid, binary in session.execute(query):
        metres = _metres(parsed, shapely.from_wkb(bytes(binary)))
        if metres <= campaign.duplicate_distance_m:
            found.append(
                problem(
                    "duplicate",
                    "geometry",
                    NEAR_CONTRIBUTION,
                    "warning",
                    uid=uid,
                    metres=f"{metres:.1f}",
                )
            )
    return found[:3]


# --- the whole feature ----------------------------------------------------------------

EDITS_REFUSED = N_("la campagne n'accepte que des ajouts, pas de corrections ni de retraits")
UNKNOWN_TARGET = N_("l'objet n°%(fid)s n'existe pas dans la couche")
NO_TARGET = N_("indiquez l'objet de la couche à corriger ou retirer")
UNKNOWN_ACTION = N_("action inconnue « %(action)s » : create, update ou retire")


def _target_problems(
    session: Session, campaign: Campaign, feature: ProposedFeature
) -> list[Problem]:
    if feature.action not in ("update", "retire"):
        return [problem("action", None, UNKNOWN_ACTION, action=str(feature.action)[:20])]
    if not campaign.allow_edits:
        return [problem("edits_not_allowed", None, EDITS_REFUSED)]
    if feature.target_fid is None:
        return [problem("target", None, NO_TARGET)]
    if target_feature(session, campaign, feature.target_fid) is None:
        return [problem("target", None, UNKNOWN_TARGET, fid=feature.target_fid)]
    return []


def target_feature(session: Session, campaign: Campaign, fid: int) -> dict[str, Any] | None:
    """The authoritative feature `fid` of the campaign's layer as it is now (GeoJSON)."""
    layer = campaign_layer(session, campaign)
    if layer is None or not isinstance(fid, int) or isinstance(fid, bool) or fid > 2**62:
        return None
    conn = session.connection()
    table = LayerTable.from_schema(
        layer.table_name,
        layer.attribute_schema,
        has_geometry=bool(layer.geometry_type),
        feature_count=layer.feature_count,
        postgis=conn.dialect.name == "postgresql",
    )
    return get_feature(conn, table, fid)


def validate(
    session: Session,
    campaign: Campaign,
    feature: ProposedFeature,
    *,
    exclude_uid: str | None = None,
) -> list[Problem]:
    """Every problem of `feature` (errors first). `exclude_uid`: the contribution being
    replaced, which is not its own duplicate."""
    found: list[Problem] = []
    if feature.action != "create":
        found += _target_problems(session, campaign, feature)
        if found:
            return found
    retiring = feature.action == "retire"
    _stored, property_problems = check_properties(
        campaign, feature.properties or {}, partial=retiring
    )
    found += property_problems
    parsed = None
    if not (retiring and feature.geometry is None):
        parsed, geometry_problems = parse_geometry(feature.geometry)
        found += geometry_problems
        if parsed is not None:
            found += check_geometry(campaign, parsed)
    if parsed is not None and not errors(found) and not retiring:
        skip = feature.target_fid if feature.action == "update" else None
        found += _layer_duplicates(session, campaign, parsed, skip)
        found += _contribution_duplicates(session, campaign, parsed, exclude_uid or feature.uid)
    return sorted(found, key=lambda p: p.severity != "error")
