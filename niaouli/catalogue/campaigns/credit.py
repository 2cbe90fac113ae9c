"""Credit and results of campaigns: who contributed, what came of it, for everyone.

The dataset page and the event page list a campaign's contributors by the name each
chose when sending (`Submission.display_name`, never an e-mail address) for the work
that was merged into the layer, and its results: features contributed, approved,
rejected, merged, and the area covered (the extent of the merged features, in km²), with
a small map of the merged features (`merged_geojson`). Those are public facts once
merged; staged contributions themselves stay visible only to the organisation's
editors and to each contributor for their own (`contributions.visible_contributions`).
Only campaigns past their draft, on datasets the viewer may see, are credited.
`statistics` gives `/statistiques` its three counts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from niaouli.catalogue.access import Viewer, visible_datasets
from niaouli.catalogue.campaigns.campaign_tables import (
    Campaign,
    CampaignState,
    Contribution,
    ContributionState,
    Submission,
)
from niaouli.catalogue.models import Dataset

MAP_LIMIT = 5000  # merged features drawn on a results map at most


@dataclass
class Results:
    slug: str
    title: str
    contributed: int = 0
    approved: int = 0  # approved and waiting for the merge
    rejected: int = 0
    merged: int = 0
    pending: int = 0  # received, has issues, edited
    area_km2: float | None = None
    bbox: tuple[float, float, float, float] | None = None
    contributors: list[tuple[str, int]] = field(default_factory=list)  # (name, merged)


def _public_campaigns(viewer: Viewer):  # noqa: ANN202 - a Select
    return (
        select(Campaign)
        .join(Dataset, Dataset.id == Campaign.dataset_id)
        .where(Campaign.state != CampaignState.DRAFT, visible_datasets(viewer))
        .order_by(Campaign.id)
    )


def _area_km2(bbox: tuple[float, float, float, float]) -> float:
    """The bounding box's area on the sphere (enough for "about 12 km²")."""
    west, south, east, north = bbox
    radius = 6371.0088
    return abs(
        radius**2
        * math.radians(east - west)
        * (math.sin(math.radians(north)) - math.sin(math.radians(south)))
    )


def results(session: Session, campaign: Campaign) -> Results:
    """Counts by state, the merged extent and the credited names of one campaign."""
    found = Results(campaign.slug, campaign.title)
    for state, count in session.execute(
        select(Contribution.state, func.count())
        .where(Contribution.campaign_id == campaign.id)
        .group_by(Contribution.state)
    ):
        found.contributed += count
        state = ContributionState(state)
        if state == ContributionState.APPROVED:
            found.approved += count
        elif state == ContributionState.REJECTED:
            found.rejected += count
        elif state == ContributionState.MERGED:
            found.merged += count
        else:
            found.pending += count
    postgis = session.get_bind().dialect.name == "postgresql"
    merged = (Contribution.campaign_id == campaign.id) & (
        Contribution.state == ContributionState.MERGED
    )
    if found.merged:
        x_min = func.ST_XMin if postgis else func.MbrMinX
        y_min = func.ST_YMin if postgis else func.MbrMinY
        x_max = func.ST_XMax if postgis else func.MbrMaxX
        y_max = func.ST_YMax if postgis else func.MbrMaxY
        row = session.execute(
            select(
                func.min(x_min(Contribution.geom)),
                func.min(y_min(Contribution.geom)),
                func.max(x_max(Contribution.geom)),
                func.max(y_max(Contribution.geom)),
            ).where(merged, Contribution.geom.is_not(None))
        ).one()
        if row[0] is not None:
            found.bbox = (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
            found.area_km2 = round(_area_km2(found.bbox), 2)
    found.contributors = [
        (name, count)
        for name, count in session.execute(
            select(Submission.display_name, func.count(Contribution.id))
            .join(Contribution, Contribution.submission_id == Submission.id)
            .where(merged)
            .group_by(Submission.display_name)
            .order_by(func.count(Contribution.id).desc(), Submission.display_name)
        )
    ]
    return found


def for_dataset(session: Session, viewer: Viewer, dataset_id: int) -> list[Results]:
    """The results of the campaigns that feed a dataset the viewer may see."""
    campaigns = session.scalars(_public_campaigns(viewer).where(Campaign.dataset_id == dataset_id))
    return [results(session, c) for c in campaigns]


def for_event(session: Session, viewer: Viewer, event_id: int) -> list[Results]:
    """The results of an event's campaigns (on datasets the viewer may see)."""
    campaigns = session.scalars(_public_campaigns(viewer).where(Campaign.event_id == event_id))
    return [results(session, c) for c in campaigns]


def merged_geojson(session: Session, viewer: Viewer, slug: str) -> dict[str, Any] | None:
    """The merged features of a credited campaign, for its results map (None: unknown or
    not visible). Geometries only, with the credited name: nothing staged is shown."""
    campaign = session.scalar(_public_campaigns(viewer).where(Campaign.slug == slug))
    if campaign is None:
        return None
    rows = session.execute(
        select(func.ST_AsGeoJSON(Contribution.geom), Submission.display_name)
        .outerjoin(Submission, Submission.id == Contribution.submission_id)
        .where(
            Contribution.campaign_id == campaign.id,
            Contribution.state == ContributionState.MERGED,
            Contribution.geom.is_not(None),
        )
        .order_by(Contribution.id)
        .limit(MAP_LIMIT)
    )
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": json.loads(g), "properties": {"contributeur": n}}
            for g, n in rows
            if g
        ],
    }


def statistics(
    session: Session, viewer: Viewer, organisation_id: int | None = None
) -> dict[str, int]:
    """For /statistiques: campaigns (past their draft, on visible datasets), their
    contributions and distinct contributors."""
    campaigns = _public_campaigns(viewer).with_only_columns(Campaign.id).order_by(None)
    if organisation_id is not None:
        campaigns = campaigns.where(Campaign.organisation_id == organisation_id)
    ids = campaigns
    return {
        "campagnes": int(session.scalar(select(func.count()).select_from(ids.subquery())) or 0),
        "contributions": int(
            session.scalar(
                select(func.count(Contribution.id)).where(Contribution.campaign_id.in_(ids))
            )
            or 0
        ),
        "contributeurs": int(
            session.scalar(
                select(func.count(func.distinct(Contribution.contributor_id))).where(
                    Contribution.campaign_id.in_(ids)
                )
            )
            or 0
        ),
    }
