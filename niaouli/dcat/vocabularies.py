"""Namespaces and the catalogue -> EU controlled vocabularies tables (one place).

DCAT-AP asks for IRIs from the EU Publications Office authority tables (data themes,
frequencies, file types, languages) and ADMS publisher types. The catalogue stores short
French strings; these tables translate them. Values with no equivalent are left out of
the controlled property and kept as text elsewhere (themes become keywords), never
guessed. The harvester can invert the same tables.
"""

from __future__ import annotations

from rdflib import Namespace
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, SKOS, XSD

from niaouli.catalogue import vocabularies as catalogue_voc

ADMS = Namespace("http://www.w3.org/ns/adms#")
DCATAP = Namespace("http://data.europa.eu/r5r/")
GSP = Namespace("http://www.opengis.net/ont/geosparql#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
LOCN = Namespace("http://www.w3.org/ns/locn#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
SCHEMA = Namespace("http://schema.org/")

EU = "http://publications.europa.eu/resource/authority/"
DATA_THEME = Namespace(EU + "data-theme/")
FREQUENCY = Namespace(EU + "frequency/")
FILE_TYPE = Namespace(EU + "file-type/")
LANGUAGE = Namespace(EU + "language/")
COUNTRY = Namespace(EU + "country/")
ACCESS_RIGHT = Namespace(EU + "access-right/")
PUBLISHER_TYPE = Namespace("http://purl.org/adms/publishertype/")
IANA_MEDIA = "https://www.iana.org/assignments/media-types/"

PREFIXES = {
    "dcat": DCAT,
    "dct": DCTERMS,
    "foaf": FOAF,
    "rdf": RDF,
    "rdfs": RDFS,
    "skos": SKOS,
    "xsd": XSD,
    "adms": ADMS,
    "dcatap": DCATAP,
    "gsp": GSP,
    "hydra": HYDRA,
    "locn": LOCN,
    "spdx": SPDX,
    "vcard": VCARD,
    "dqv": Namespace("http://www.w3.org/ns/dqv#"),
    "prov": Namespace("http://www.w3.org/ns/prov#"),
}

FRENCH = LANGUAGE.FRA
NEW_CALEDONIA = COUNTRY.NCL
PUBLIC_ACCESS = ACCESS_RIGHT.PUBLIC

# EU data themes, French labels (the authority table's `fr` labels): the catalogue's list.
DATA_THEMES = catalogue_voc.THEMES
# Words of a catalogue theme (normalised: lower case, no accents) -> EU data theme.
THEME_WORDS = {
    "agricult": "AGRI",
    "peche": "AGRI",
    "foret": "AGRI",
    "sylvicult": "AGRI",
    "aliment": "AGRI",
    "econom": "ECON",
    "financ": "ECON",
    "budget": "ECON",
    "emploi": "ECON",
    "tourism": "ECON",
    "educat": "EDUC",
    "enseign": "EDUC",
    "cultur": "EDUC",
    "sport": "EDUC",
    "energ": "ENER",
    "environn": "ENVI",
    "biodivers": "ENVI",
    "climat": "ENVI",
    "eau": "ENVI",
    "milieu": "ENVI",
    "gouvern": "GOVE",
    "secteur public": "GOVE",
    "sante": "HEAL",
    "international": "INTR",
    "justice": "JUST",
    "securite": "JUST",
    "risque": "JUST",
    "limites administratives": "REGI",
    "amenagement": "REGI",
    "urbanisme": "REGI",
    "commune": "REGI",
    "cadastre": "REGI",
    "foncier": "REGI",
    "population": "SOCI",
    "societe": "SOCI",
    "social": "SOCI",
    "logement": "SOCI",
    "demograph": "SOCI",
    "science": "TECH",
    "recherche": "TECH",
    "numerique": "TECH",
    "transport": "TRAN",
    "route": "TRAN",
    "mobilite": "TRAN",
}

# Format labels and export keys (lower case) -> EU file type.
FILE_TYPES = {
    "geojson": "GEOJSON",
    "geopackage": "GPKG",
    "gpkg": "GPKG",
    "csv": "CSV",
    "shapefile": "SHP",
    "shapefile (zip)": "SHP",
    "shp.zip": "SHP",
    "kml": "KML",
    "gpx": "GPX",
    "pdf": "PDF",
    "xlsx": "XLSX",
    "json": "JSON",
    "zip": "ZIP",
    "cog": "GEOTIFF",
    "geotiff": "GEOTIFF",
    "jpeg 2000": "JPEG2000",
    "png + fichier de calage": "PNG",
    "jpeg + fichier de calage": "JPEG",
}
# Media types registered at IANA (DCAT-AP: dcat:mediaType takes IANA IRIs only).
IANA_MEDIA_TYPES = {
    "application/geo+json",
    "application/geopackage+sqlite3",
    "application/json",
    "application/zip",
    "application/vnd.google-earth.kml+xml",
    "application/pdf",
    "text/csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "image/tiff",
    "image/jp2",
    "image/png",
    "image/jpeg",
}

# Organisation kinds -> ADMS publisher types (label in French).
PUBLISHER_TYPES = {
    "government": ("NationalAuthority", "Autorité nationale"),
    "province": ("RegionalAuthority", "Autorité régionale"),
    "commune": ("LocalAuthority", "Autorité locale"),
    "public_body": ("PublicBody", "Organisme public"),
    "research": ("Academia-ScientificOrganisation", "Organisme universitaire ou scientifique"),
    "association": ("NonGovernmentalOrganisation", "Organisation non gouvernementale"),
}

# Checksum algorithms as stored (`sha256:<hex>`) -> SPDX algorithm individual.
CHECKSUM_ALGORITHMS = {
    "sha1": SPDX.checksumAlgorithm_sha1,
    "sha256": SPDX.checksumAlgorithm_sha256,
    "sha512": SPDX.checksumAlgorithm_sha512,
    "md5": SPDX.checksumAlgorithm_md5,
}


normalise = catalogue_voc.normalise


def data_themes(theme: str) -> list[str]:
    """EU data theme codes for one catalogue theme (possibly none, possibly several)."""
    text = normalise(theme)
    for code, label in DATA_THEMES.items():
        if text == normalise(label) or text == code.lower():
            return [code]
    return sorted({code for word, code in THEME_WORDS.items() if word in text})


def frequency(code: str | None) -> tuple[str, str] | None:
    """(EU frequency code, French label) for a catalogue update frequency."""
    found = catalogue_voc.frequency(code)
    return (found.eu, found.label) if found else None


def file_type(label: str | None) -> str | None:
    return FILE_TYPES.get((label or "").strip().lower())


def iana_media_type(media_type: str | None) -> str | None:
    """The IANA IRI of a registered media type (parameters dropped), else None."""
    base = (media_type or "").split(";")[0].strip().lower()
    return IANA_MEDIA + base if base in IANA_MEDIA_TYPES else None


def licence(name: str | None) -> tuple[str | None, str]:
    """(IRI or None, label) for a licence name as written in the catalogue."""
    text = (name or "").strip()
    known = catalogue_voc.licence(text)
    if known:
        return known.iri, known.label
    return None, text or "Licence non précisée"
