"""Notes of an ingestion report: written in French, shown in the reader's language.

The notes are stored with each layer (`Layer.ingest_report`), so they are always written
in French, whoever loaded the file and in whatever language. Each one is made from a
template below with `note()`; `shown()` finds the template a stored note came from and
gives it in the current language (`niaouli.i18n`), e.g. for the portal's upload page,
which asks the API for English. A note that matches no template is shown as stored.
"""

from __future__ import annotations

from niaouli.i18n import N_, StoredMessages

CRS_NO_GEOMETRY = N_("aucun système de coordonnées déclaré et aucune géométrie : EPSG:4326")
CRS_DEGREES = N_("aucun système de coordonnées déclaré : degrés WGS 84 (EPSG:4326) supposés")
CRS_LAMBERT = N_(
    "aucun système de coordonnées déclaré (.prj absent) : coordonnées en "
    "RGNC91-93 / Lambert Nouvelle-Calédonie (EPSG:3163) supposées"
)
CRS_REMOTE_IGNORED = N_(
    "système de coordonnées donné par une adresse distante (« %(url)s ») : ignoré, "
    "aucune requête réseau n'est faite"
)
AXES_SWAPPED = N_("latitude et longitude inversées dans la source : axes remis dans l'ordre")
CPG_WRONG = N_("le .cpg annonce UTF-8 mais les attributs sont en Latin-1 : lus en Latin-1")
DBF_UTF8 = N_("attributs en UTF-8 (pas de .cpg)")
DBF_LATIN1 = N_("attributs en Latin-1 / Windows-1252 (pas de .cpg)")
CSV_LATIN1 = N_("encodage Windows-1252 / Latin-1 détecté et converti en UTF-8")
CSV_WKT = N_("géométries lues dans la colonne WKT « %(column)s »")
CSV_NO_COORDINATES = N_("%(count)s lignes sans coordonnées (géométrie vide)")
CSV_POINTS = N_("points construits à partir des colonnes « %(lon)s » et « %(lat)s »")
REPAIRED = N_("%(count)s géométrie(s) invalide(s) réparée(s)")
Z_DROPPED = N_("coordonnée Z ignorée pour %(count)s entité(s)")
EMPTY = N_("%(count)s géométrie(s) vide(s) enregistrée(s) sans géométrie")
APPENDED = N_("%(kept)s entité(s) existante(s) conservée(s), %(added)s ajoutée(s)")
SHEET_READ = N_("feuille « %(sheet)s » lue (classeur de %(count)s feuille(s) : %(names)s)")
SCHEMA_FAILED = N_(
    "publié malgré son schéma : %(count)s erreur(s) par rapport au schéma « %(schema)s » "
    "(rapport de validation conservé)"
)

TEMPLATES = (
    CRS_NO_GEOMETRY,
    CRS_DEGREES,
    CRS_LAMBERT,
    CRS_REMOTE_IGNORED,
    AXES_SWAPPED,
    CPG_WRONG,
    DBF_UTF8,
    DBF_LATIN1,
    CSV_LATIN1,
    CSV_WKT,
    CSV_NO_COORDINATES,
    CSV_POINTS,
    REPAIRED,
    Z_DROPPED,
    EMPTY,
    APPENDED,
    SHEET_READ,
    SCHEMA_FAILED,
)


def note(template: str, **values: object) -> str:
    """The note, in French (as stored), from one of the templates above."""
    return template % values if values else template


_STORED = StoredMessages(TEMPLATES)


def shown(text: str) -> str:
    """A stored note in the current language (as stored when French, or not a template)."""
    return _STORED.shown(text)
