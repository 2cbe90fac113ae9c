"""The French templates of a harvest job's message and of its per-record reasons.

Job messages and per-record reasons are stored in French (the CLI prints them, the
database keeps them); they are made from these templates, so that the portal can
recognise a stored message and show it in the reader's language (`STORED_MESSAGES`).
"""

from __future__ import annotations

from niaouli.i18n import N_
from niaouli.ingest.harvest import licence_names, repairs
from niaouli.ingest.harvest.fetch import MESSAGES

OTHER_SOURCE = N_(
    "fiche déjà moissonnée depuis la source « %(source)s » : "
    "une source n'écrase jamais les fiches d'une autre"
)
# The same when that source belongs to another organisation: not named, since the report
# is read by this organisation's members, who may not learn another one's sources.
OTHER_ORGANISATION = N_(
    "fiche déjà moissonnée par une source d'une autre organisation : "
    "une source n'écrase jamais les fiches d'une autre"
)
ADOPTED = N_("repris d'une source supprimée (même identifiant distant)")
ABSENT = N_("absente de la source (liste complète)")
DELETED_BY_SOURCE = N_("supprimée par la source")
DUPLICATE = N_(
    "identifiant en double dans la source : la fiche n° %(kept)s, lue la première avec cet "
    "identifiant, est gardée ; celle-ci (fiche n° %(position)s) est ignorée"
)
UNEXPECTED = N_("erreur inattendue : %(detail)s")
FEWER_THAN_ANNOUNCED = N_("le serveur annonçait %(expected)s fiche(s), %(read)s ont pu être lues")
INCOMPLETE = N_("liste incomplète, aucune suppression : %(detail)s")
INCREMENTAL = N_("liste incrémentale : rien n'est supprimé sur absence")
DROPPED = N_(
    "le nombre de fiches est passé de %(before)s à %(after)s (baisse de plus de "
    "moitié) : aucune suppression, vérifiez la source"
)
DELETE_FAILED = N_("suppression : %(detail)s")
SOME_FAILED = N_("%(failed)s fiche(s) en échec")
STALE = N_("moisson interrompue (processus arrêté) : rien n'a été supprimé")
DATA_NOT_COPIED = N_("fiche enregistrée mais données non copiées : %(detail)s")
RESUMED = N_(
    "reprise de la moisson n° %(job)s, interrompue : liste reprise à la fiche n° %(position)s "
    "(les fiches déjà écrites ne sont ni relues ni dupliquées)"
)


def reason_of(exc: Exception) -> str:
    """The first line of an error (a database error's own message), for a report."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:500]


# Every template a stored job message or per-record reason is made from, most specific
# first (the portal matches a stored French text against them to translate it).
STORED_MESSAGES = (
    OTHER_SOURCE,
    OTHER_ORGANISATION,
    ADOPTED,
    ABSENT,
    DELETED_BY_SOURCE,
    DUPLICATE,
    UNEXPECTED,
    FEWER_THAN_ANNOUNCED,
    INCOMPLETE,
    INCREMENTAL,
    DROPPED,
    DELETE_FAILED,
    SOME_FAILED,
    STALE,
    DATA_NOT_COPIED,
    RESUMED,
    *licence_names.TEMPLATES,
    *repairs.TEMPLATES,
    *MESSAGES,
)
