"""Volunteers' contributions: submitted, changed and withdrawn, staged until merged.

Every way in (the phone form, file imports, offline batches, OGC API Part 4) hands a
list of `ProposedFeature` to `submit`, which checks the volunteer may contribute now,
validates each feature (`validation.validate`) and stores the accepted ones as
`Contribution` rows of one `Submission`; refused ones come back with their problems and
nothing of them is stored. A feature's `uid` (the client's id, else a new UUID) is its
stable identity: sending the same uid again is answered with the contribution already
stored (idempotent), never a second one.

Who sees staged contributions is one rule, `visible_contributions`: the campaign's
organisation's editors (and platform admins) see all of them, every other signed-in
user only their own, anonymous visitors none.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import shapely
from geoalchemy2 import WKTElement
from geoalchemy2.shape import to_shape
from shapely.geometry import shape
from sqlalchemy import Select, false, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from niaouli.accounts.account_tables import User
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.campaigns.campaign_tables import (
    Campaign,
    Contribution,
    ContributionAction,
    ContributionState,
    Submission,
)
from niaouli.catalogue.campaigns.campaigns import check_open, manages
from niaouli.catalogue.campaigns.validation import (
    Problem,
    check_properties,
    errors,
    problem,
    target_feature,
    validate,
)
from niaouli.catalogue.permissions import Action, allowed
from niaouli.errors import CatalogueError, ConflictError, ForbiddenError, NotFoundError
from niaouli.i18n import N_, _

SOURCES = ("form", "file", "offline", "part4")
MAX_FEATURES = 5_000
"""Per submission: a weekend's survey by one volunteer is tens to hundreds of features."""
UID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:~-]{0,63}$")
CHANGEABLE = (ContributionState.RECEIVED, ContributionState.HAS_ISSUES, ContributionState.EDITED)
UID_TAKEN = N_("l'identifiant « %(uid)s » est déjà celui de la contribution d'une autre personne")
BAD_UID = N_("identifiant invalide : lettres, chiffres et . _ : ~ - (64 au plus)")


@dataclass
class ProposedFeature:
    uid: str | None  # client-supplied stable id (kept), else generated
    geometry: dict[str, Any] | None  # GeoJSON geometry, EPSG:4326 (None only to retire)
    properties: dict[str, Any]
    action: str = "create"  # create | update | retire
    target_fid: int | None = None
    base_version: str | None = None
    photo_key: str | None = None  # storage key of an already sanitised photo


@dataclass
class SubmitResult:
    submission: Submission
    accepted: list[Contribution] = field(default_factory=list)
    refused: list[tuple[ProposedFeature, list[Problem]]] = field(default_factory=list)


def feature_version(properties: dict[str, Any], geometry_wkb: bytes | None) -> str:
    """A hash of a feature's attributes and geometry: the `base_version` a volunteer saw.

    Attributes as canonical JSON (sorted keys, values as JSON writes them, dates as ISO
    text), the geometry as WKB normalised to 2D: equal features give equal versions on
    both backends. Empty (null) attributes are left out: a column added to the layer
    (a merge's provenance columns) changes no feature's version until it is filled."""
    filled = {k: v for k, v in (properties or {}).items() if v is not None}
    text = json.dumps(filled, sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(text.encode("utf-8"))
    digest.update(b"\x00")
    if geometry_wkb is not None:
        geometry = shapely.force_2d(shapely.from_wkb(geometry_wkb))
        digest.update(shapely.to_wkb(geometry, output_dimension=2, byte_order=1))
    return digest.hexdigest()


def geojson_version(feature: dict[str, Any]) -> str:
    """`feature_version` of a GeoJSON feature (as the layer reads it: `target_feature`)."""
    geometry = feature.get("geometry")
    wkb = shape(geometry).wkb if geometry else None
    return feature_version(feature.get("properties") or {}, wkb)


def visible_contributions(
    session: Session,  # noqa: ARG001 - kept for the interface (and future row rules)
    campaign: Campaign,
    viewer: Viewer,
) -> Select[tuple[Contribution]]:
    """The campaign's staged contributions `viewer` may see (the access rule for staging
    data): all for its organisation's editors and platform admins, a contributor's own
    for them, none for anyone else."""
    query = select(Contribution).where(Contribution.campaign_id == campaign.id)
    if manages(viewer, campaign):
        return query
    if viewer.user_id is None:
        return query.where(false())
    return query.where(Contribution.contributor_id == viewer.user_id)


def contribution_geojson(contribution: Contribution) -> dict[str, Any]:
    """The contribution as a GeoJSON feature (its `id` is its uid)."""
    geometry = None
    if contribution.geom is not None:
        geometry = json.loads(shapely.to_geojson(to_shape(contribution.geom)))
    return {
        "type": "Feature",
        "id": contribution.uid,
        "geometry": geometry,
        "properties": dict(contribution.properties or {}),
    }


def _contributor(session: Session, viewer: Viewer, campaign: Campaign) -> User:
    if not allowed(viewer, Action.CAMPAIGN_CONTRIBUTE, campaign) or viewer.user_id is None:
        raise ForbiddenError(_("connectez-vous avec un compte qui peut écrire pour contribuer"))
    check_open(campaign)
    user = session.get(User, viewer.user_id)
    if user is None:
        raise ForbiddenError(_("compte inconnu"))
    return user


def _checked_uid(uid: str | None) -> str:
    if uid is None or uid == "":
        return uuid.uuid4().hex
    if not isinstance(uid, str) or not UID.match(uid):
        raise CatalogueError(_(BAD_UID))
    return uid


def _stored_values(
    session: Session, campaign: Campaign, feature: ProposedFeature
) -> dict[str, Any]:
    """The columns of a contribution for a validated feature."""
    properties, _problems = check_properties(
        campaign, feature.properties or {}, partial=feature.action == "retire"
    )
    geometry = None
    if feature.geometry is not None:
        geometry = WKTElement(shape(feature.geometry).wkt, srid=4326)
    values: dict[str, Any] = {
        "action": ContributionAction(feature.action),
        "target_fid": feature.target_fid if feature.action != "create" else None,
        "geom": geometry,
        "properties": properties,
        "photo_key": feature.photo_key,
        "base_version": None,
        "base_feature": None,
    }
    if feature.action != "create" and feature.target_fid is not None:
        current = target_feature(session, campaign, feature.target_fid)
        values["base_feature"] = current
        values["base_version"] = feature.base_version or (
            geojson_version(current) if current is not None else None
        )
    return values


def _refusal(feature: ProposedFeature, code: str, template: str, **values: Any) -> tuple:
    return (feature, [problem(code, "id", template, **values)])


def submit(
    session: Session,
    campaign: Campaign,
    viewer: Viewer,
    features: list[ProposedFeature],
    *,
    source: str,
    display_name: str | None = None,
    filename: str | None = None,
) -> SubmitResult:
    """Validates and stages `features` as one submission of `viewer`.

    Raises `ForbiddenError` (not signed in with write credentials) or `ConflictError`
    (campaign not open now). Each feature is accepted (stored, with its warnings) or
    refused (its problems, nothing stored). A uid the same contributor already sent
    returns that contribution unchanged; one of somebody else's is refused. When nothing
    new is accepted the submission is not stored (`submission.id` is None)."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    user = _contributor(session, viewer, campaign)
    if len(features) > MAX_FEATURES:
        raise CatalogueError(_("%(max)s objets au plus par envoi") % {"max": MAX_FEATURES})
    name = (display_name or user.display_name or "").strip()[:200] or _("contributeur anonyme")

    def new_submission() -> Submission:
        return Submission(
            campaign_id=campaign.id,
            contributor_id=user.id,
            display_name=name,
            source=source,
            filename=(filename or None) and filename[:300],
            report={},
        )

    submission = new_submission()
    result = SubmitResult(submission)
    seen: set[str] = set()
    new: list[Contribution] = []
    report_refused: list[dict[str, Any]] = []
    for index, feature in enumerate(features):
        try:
            feature.uid = _checked_uid(feature.uid)
        except CatalogueError:
            result.refused.append(_refusal(feature, "id", BAD_UID))
            report_refused.append(_report_entry(index, None, result.refused[-1][1]))
            continue
        existing = session.scalar(
            select(Contribution).where(
                Contribution.campaign_id == campaign.id, Contribution.uid == feature.uid
            )
        )
        if existing is not None or feature.uid in seen:
            if existing is not None and existing.contributor_id == user.id:
                result.accepted.append(existing)
                continue
            if existing is None:  # twice in one sending: the first one counts
                continue
            result.refused.append(_refusal(feature, "uid_taken", UID_TAKEN, uid=feature.uid))
            report_refused.append(_report_entry(index, feature.uid, result.refused[-1][1]))
            continue
        problems = validate(session, campaign, feature)
        if errors(problems):
            result.refused.append((feature, problems))
            report_refused.append(_report_entry(index, feature.uid, problems))
            continue
        values = _stored_values(session, campaign, feature)
        try:
            with session.begin_nested():
                if not new:
                    session.add(submission)
                    session.flush()
                contribution = Contribution(
                    campaign_id=campaign.id,
                    uid=feature.uid,
                    submission_id=submission.id,
                    contributor_id=user.id,
                    state=ContributionState.RECEIVED,
                    problems=[p.as_json() for p in problems],
                    version=1,
                    **values,
                )
                session.add(contribution)
                session.flush()  # the next feature's duplicate check sees this one
        except IntegrityError:
            # The same uid stored meanwhile by a concurrent sending (PostgreSQL: the
            # insert waited for it, then met the unique key): the repeat it is.
            if not new:
                submission = result.submission = new_submission()
            stored = session.scalar(
                select(Contribution).where(
                    Contribution.campaign_id == campaign.id, Contribution.uid == feature.uid
                )
            )
            if stored is not None and stored.contributor_id == user.id:
                result.accepted.append(stored)
                continue
            result.refused.append(_refusal(feature, "uid_taken", UID_TAKEN, uid=feature.uid))
            report_refused.append(_report_entry(index, feature.uid, result.refused[-1][1]))
            continue
        seen.add(feature.uid)
        new.append(contribution)
        result.accepted.append(contribution)
    submission.report = {
        "received": len(features),
        "accepted": len(result.accepted),
        "new": len(new),
        "refused": report_refused[:1000],
        "warnings": sum(1 for c in new for p in c.problems if p["severity"] == "warning"),
    }
    if new:
        session.flush()
    return result


def _report_entry(index: int, uid: str | None, problems: list[Problem]) -> dict[str, Any]:
    return {"index": index, "uid": uid, "problems": [p.as_json() for p in problems]}


# --- one contribution (OGC API Part 4, the "my contributions" page) --------------------


def get_contribution(
    session: Session, campaign: Campaign, viewer: Viewer, uid: str
) -> Contribution:
    """The contribution `uid` if `viewer` may see it, else `NotFoundError`."""
    found = session.scalar(
        visible_contributions(session, campaign, viewer).where(Contribution.uid == uid)
    )
    if found is None:
        raise NotFoundError(_("contribution introuvable"))
    return found


class InvalidFeatureError(CatalogueError):
    """A feature refused by validation; `problems` says why, per field."""

    def __init__(self, problems: list[Problem]) -> None:
        first = next((p for p in problems if p.severity == "error"), problems[0])
        super().__init__(first.message)
        self.problems = problems


class PreconditionFailedError(ConflictError):
    """The client's `If-Match` version is not the contribution's current one."""

    code = "PreconditionFailed"


def _own_changeable(
    session: Session, campaign: Campaign, viewer: Viewer, uid: str, expected_version: int | None
) -> Contribution:
    contribution = get_contribution(session, campaign, viewer, uid)
    if contribution.contributor_id != viewer.user_id:
        raise ForbiddenError(_("seule la personne qui l'a envoyée modifie cette contribution"))
    if expected_version is not None and expected_version != contribution.version:
        raise PreconditionFailedError(
            _("la contribution a changé depuis votre lecture (version %(version)s)")
            % {"version": contribution.version}
        )
    if contribution.state not in CHANGEABLE:
        raise ConflictError(_("la contribution est déjà examinée : elle ne change plus"))
    return contribution


def uid_exists(session: Session, campaign: Campaign, uid: str) -> bool:
    """Whether the campaign holds a contribution `uid`, whoever sent it."""
    return (
        session.scalar(
            select(Contribution.id).where(
                Contribution.campaign_id == campaign.id, Contribution.uid == uid
            )
        )
        is not None
    )


def replace_contribution(
    session: Session,
    campaign: Campaign,
    viewer: Viewer,
    uid: str,
    feature: ProposedFeature,
    *,
    expected_version: int | None = None,
    source: str = "part4",
) -> tuple[Contribution, bool]:
    """Replaces the contribution `uid` (its contributor only, before review ends), or
    creates it with that uid; → (contribution, created). `expected_version` (If-Match)
    must be its current version (`PreconditionFailedError`)."""
    _contributor(session, viewer, campaign)
    feature.uid = _checked_uid(uid)
    if not uid_exists(session, campaign, feature.uid):
        if expected_version is not None:
            raise PreconditionFailedError(_("contribution introuvable"))
        result = submit(session, campaign, viewer, [feature], source=source)
        if result.refused:
            raise InvalidFeatureError(result.refused[0][1])
        return result.accepted[0], True
    try:
        contribution = _own_changeable(session, campaign, viewer, feature.uid, expected_version)
    except NotFoundError:
        raise ForbiddenError(_(UID_TAKEN) % {"uid": feature.uid}) from None
    problems = validate(session, campaign, feature, exclude_uid=contribution.uid)
    if errors(problems):
        raise InvalidFeatureError(problems)
    for name, value in _stored_values(session, campaign, feature).items():
        setattr(contribution, name, value)
    contribution.problems = [p.as_json() for p in problems]
    contribution.version += 1
    if contribution.state != ContributionState.RECEIVED:
        contribution.state = ContributionState.EDITED
    session.flush()
    return contribution, False


def withdraw_contribution(
    session: Session,
    campaign: Campaign,
    viewer: Viewer,
    uid: str,
    *,
    expected_version: int | None = None,
) -> None:
    """Deletes a staged contribution (its contributor only, before review ends)."""
    if not allowed(viewer, Action.CAMPAIGN_CONTRIBUTE, campaign):
        raise ForbiddenError(_("connectez-vous avec un compte qui peut écrire pour contribuer"))
    try:
        contribution = _own_changeable(session, campaign, viewer, uid, expected_version)
    except NotFoundError:
        if uid_exists(session, campaign, uid):  # somebody else's: as `replace_contribution`
            raise ForbiddenError(_(UID_TAKEN) % {"uid": uid}) from None
        raise
    session.delete(contribution)
    session.flush()
