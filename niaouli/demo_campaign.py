"""The demo's cartoparty campaign, so that a newcomer finds one open on /campagnes.

The Ville de Nouméa asks volunteers to map the equipment of its beaches (showers, bins,
lifeguard posts, ramps): a campaign open to contributions, with its own draft dataset that
the first merge fills, on the area of Nouméa from the place names of the demo, tied to
the demo's cartoparty. Created once (by slug); a second load changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from niaouli.catalogue import gazetteer
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.campaigns import campaigns
from niaouli.catalogue.campaigns.campaign_tables import Campaign
from niaouli.db.engine import writing

SLUG = "equipements-plages-noumea-exemple"
CAMPAIGN = {
    "title": "Équipements des plages de Nouméa (exemple)",
    "description": (
        "Campagne d'exemple de la démonstration : relevez sur votre téléphone les "
        "équipements des plages de Nouméa (douches, poubelles, postes de secours, accès "
        "pour les personnes à mobilité réduite) et leur état. Les contributions sont "
        "relues par la Ville avant d'entrer dans le jeu de données."
    ),
    "new_dataset": "Équipements des plages de Nouméa (cartopartie d'exemple)",
    "layer": "equipements",
    "geometry_type": "Point",
    "event": "cartopartie-communes-exemple",
    "licence": "odbl",
    "attribute_schema": [
        {
            "name": "equipement",
            "type": "enum",
            "required": True,
            "enum": ["douche", "poubelle", "poste de secours", "accès PMR", "banc", "autre"],
            "label": {"fr": "Équipement", "en": "Equipment"},
        },
        {
            "name": "etat",
            "type": "enum",
            "enum": ["bon", "abîmé", "hors service"],
            "label": {"fr": "État", "en": "Condition"},
        },
        {
            "name": "commentaire",
            "type": "string",
            "max_length": 500,
            "label": {"fr": "Commentaire", "en": "Comment"},
            "help": {"fr": "Ce que vous avez remarqué.", "en": "What you noticed."},
        },
    ],
}
PLACE = "Nouméa"


def load_campaign(engine: Engine, organisation: str, echo: Callable[[str], None]) -> None:
    """Create and open the demo campaign when it does not exist yet."""
    viewer = Viewer.system()
    with Session(writing(engine)) as session, session.begin():
        if session.scalar(select(Campaign.id).where(Campaign.slug == SLUG)):
            return
        fields = dict(CAMPAIGN)
        if any(p.name == PLACE for p in gazetteer.places(session, viewer)):
            fields["area_place"] = PLACE  # the area from the demo's place names
        campaign = campaigns.create_campaign(
            session, viewer, organisation=organisation, slug=SLUG, **fields
        )
        campaigns.open_campaign(session, viewer, campaign)
    echo(f"campagne ouverte : {CAMPAIGN['title']}")
