"""What the mapping of a remote record repaired, or could not map, said in its report.

Remotes write the same things in many ways (a bounding box with decimal commas or its
corners swapped, a blank title, a frequency as an ISO code or CKAN's words). The mapping
keeps what can be read, and says what it repaired in the record's report line
(`RemoteRecord.notes`, French notes from the templates below, translated on display).
"""

from __future__ import annotations

from niaouli.i18n import N_

MERGED_MAPSERVER = N_(
    "couche publiée aussi en MapServer (%(path)s) : fusionnée, données lues sur FeatureServer"
)
TITLE_FROM_ALTERNATE = N_("titre vide : titre alternatif repris")
TITLE_FROM_DESCRIPTION = N_("titre vide : début de la description repris")
TITLE_FROM_IDENTIFIER = N_("titre vide : identifiant repris comme titre")
TITLE_CUT = N_("titre de %(length)s caractères coupé à %(limit)s")
BBOX_COMMAS = N_("emprise réparée : virgules décimales lues comme des points")
BBOX_SWAPPED = N_("emprise réparée : coins inversés remis dans l'ordre")
BBOX_UNREADABLE = N_("emprise illisible « %(value)s » : pas de couverture spatiale")
FREQUENCY_UNKNOWN = N_("fréquence de mise à jour inconnue « %(value)s » : non reprise")
THEME_UNKNOWN = N_("thème inconnu « %(value)s » : gardé tel quel")
IDENTIFIER_DERIVED = N_("fiche sans identifiant : identifiant %(identifier)s tiré de son contenu")
TEMPLATES = (
    MERGED_MAPSERVER,
    TITLE_FROM_ALTERNATE,
    TITLE_FROM_DESCRIPTION,
    TITLE_FROM_IDENTIFIER,
    TITLE_CUT,
    BBOX_COMMAS,
    BBOX_SWAPPED,
    BBOX_UNREADABLE,
    FREQUENCY_UNKNOWN,
    THEME_UNKNOWN,
    IDENTIFIER_DERIVED,
)

TITLE_MAX = 500
