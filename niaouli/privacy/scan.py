"""The scan: which columns of a table hold personal data, from a bounded sample.

`classify_table` is pure (headers and sampled values in, findings out), so the benchmark
(`bench/privacy.py`) measures exactly what the guard runs; `scan_layer` samples a
layer's table (`niaouli.db.layers.sample_values`: at most SAMPLE_ROWS primary-key
look-ups, values cut to MAX_VALUE characters) and classifies it.

A column is flagged from its header, its values, or both; what decides is the share of
sampled values that match a kind's pattern. Look-alikes are recognised and never
flagged: RIDET and SIRET numbers, 988xx postcodes, public services' numbers (a shipped
list, or a directory: a table with a column of organisation names and no person's
name), generic addresses (contact@, accueil@...), dates that are not birth dates.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from niaouli.privacy import columns as headers
from niaouli.privacy import detectors as d
from niaouli.privacy import names
from niaouli.privacy.text import words

if TYPE_CHECKING:
    from sqlalchemy import Connection

SAMPLE_ROWS = 1000
MAX_VALUE = d.MAX_VALUE
TEXT_SAMPLE = 200  # free-text values given to the name finder
KINDS = ("name", "email", "phone", "birth_date", "address", "nir", "iban", "plate", "free_text")
GENERIC_MAILBOXES = frozenset(
    [
        "contact",
        "accueil",
        "info",
        "infos",
        "information",
        "secretariat",
        "direction",
        "mairie",
        "standard",
        "service",
        "courrier",
        "communication",
        "presse",
        "admin",
        "webmaster",
        "support",
        "dpo",
        "noreply",
        "no-reply",
        "reception",
        "cabinet",
        "rh",
    ]
)
_STREET = re.compile(
    r"\b\d{1,4}(?:\s?(?:bis|ter|[a-c]))?,?\s+(?:rue|avenue|av\.?|allée|allee|boulevard|bd|"
    r"impasse|route|chemin|place|promenade|quai|lotissement|lot\.?|résidence|residence|"
    r"cours|rond-point|square|voie|passage|sentier|montée|montee)\b",
    re.IGNORECASE,
)
_BP = re.compile(r"\b(?:BP|B\.P\.|boîte postale)\s*\d+", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    """One column found to hold personal data (never its values)."""

    layer: str  # the layer's collection id ("" for a file or a table outside a dataset)
    column: str  # as in the source (the header people know)
    kind: str  # one of KINDS
    share: float  # of the sampled non-empty values that match (header-only: 0)
    sampled: int  # non-empty values looked at
    why: str  # "header", "values" or "header+values"
    detail: str = ""  # what a free text holds (e-mail, phone, name...)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.layer, self.column, self.kind)


@dataclass
class Column:
    """A column to classify: its header, its type and a sample of its values as text."""

    name: str
    values: list[str]
    type: str = "string"
    hint: headers.Hint | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.values = [v[:MAX_VALUE] for v in self.values if v and v.strip()]
        self.hint = headers.hint(self.name)


def _share(values: Sequence[str], test: Any) -> float:
    if not values:
        return 0.0
    return sum(1 for v in values if test(v)) / len(values)


def _finding(column: Column, kind: str, share: float, layer: str, detail: str = "") -> Finding:
    header = column.hint is not None and column.hint.kind == kind
    why = "header+values" if header and share > 0 else "header" if header else "values"
    return Finding(layer, column.name, kind, round(share, 3), len(column.values), why, detail)


def _is_free_text(values: Sequence[str]) -> bool:
    if not values:
        return False
    spaced = [v for v in values if " " in v.strip()]
    return len(spaced) >= 0.5 * len(values) and statistics.fmean(len(v) for v in values) >= 30


def _look_alike(values: Sequence[str]) -> bool:
    """Business numbers, postcodes: never personal, whatever the header says."""
    return _share(values, lambda v: d.is_ridet(v) or d.is_siret(v) or d.is_postcode(v)) >= 0.8


def _person_column(column: Column) -> tuple[bool, float]:
    values = column.values
    if not values:
        return (column.hint is not None and column.hint.strong and column.hint.kind == "name", 0)
    shaped = _share(values, names.name_shape)
    known = _share(values, names.known_name)
    organised = _share(values, lambda v: names.is_organisation(v) or names.is_place(v))
    pairs = _share(values, lambda v: names.first_and_last(v) or names.civil_shape(v))
    hint = column.hint
    if organised >= 0.3:
        return False, known
    if hint is not None and hint.kind == "name":
        if hint.strong:
            return shaped >= 0.5, max(known, shaped)
        return shaped >= 0.6 and (known >= 0.3 or pairs >= 0.3), known
    return shaped >= 0.6 and pairs >= 0.5, pairs


def classify_column(column: Column, layer: str = "") -> Finding | None:
    """The finding for one column, or None (context rules are `classify_table`'s)."""
    values, hint = column.values, column.hint
    kind = hint.kind if hint else None
    if values and _look_alike(values):
        return None
    for name, test, alone in (
        ("email", d.is_email, 0.5),
        ("nir", d.is_nir, 0.5),
        ("iban", d.is_iban, 0.5),
        ("plate", d.is_plate, 0.6),
    ):
        share = _share(values, test)
        if share >= alone or (kind == name and share >= 0.2):
            return _finding(column, name, share, layer)
    strong_phone = _share(values, lambda v: d.phone_strength(v) == 2)
    any_phone = _share(values, lambda v: d.phone_strength(v) >= 1)
    if strong_phone >= 0.5 or (kind == "phone" and any_phone >= 0.5):
        return _finding(column, "phone", max(strong_phone, any_phone), layer)
    if kind == "birth_date":
        # Full dates: a year alone is what generalising leaves, and is kept.
        dated = _share(values, lambda v: d.as_date(v) is not None)
        if dated >= 0.5 or column.type in ("date", "datetime") and values:
            return _finding(column, "birth_date", dated, layer)
    street = _share(values, lambda v: bool(_STREET.search(v) or _BP.search(v)))
    communes = _share(values, lambda v: " ".join(words(v)) in names.communes())
    if kind == "address" and values and communes < 0.8 or street >= 0.5:
        return _finding(column, "address", street, layer)
    if kind == "nir" and values:  # a CAFAT number has no public format: the header says
        return _finding(column, "nir", 0.0, layer)
    if not _is_free_text(values):
        person, share = _person_column(column)
        if person:
            return _finding(column, "name", share, layer)
        return None
    return _free_text(column, layer)


def _free_text(column: Column, layer: str) -> Finding | None:
    """A text column (comments, descriptions) that names people or gives their contact."""
    values = column.values
    texts = values[:TEXT_SAMPLE]
    counts = {
        "e-mail": sum(1 for v in values if d.emails_in(v) and not _generic_email_text(v)),
        "téléphone": sum(1 for v in values if d.phones_in(v) and not _public_text(v)),
        "NIR": sum(1 for v in values if d.nirs_in(v)),
        "IBAN": sum(1 for v in values if d.ibans_in(v)),
        "nom": names.texts_with_names(texts) * len(values) // max(1, len(texts)),
    }
    found = {k: n for k, n in counts.items() if n >= max(2, 0.05 * len(values))}
    if not found:
        return None
    share = max(found.values()) / len(values)
    return _finding(column, "free_text", share, layer, detail=", ".join(sorted(found)))


def _generic_email_text(text: str) -> bool:
    return all(_generic_email(m.group(0)) for m in d.EMAIL.finditer(text))


def _public_text(text: str) -> bool:
    found = re.findall(r"(?:(?:\+|00)\s?687[\s.\-]?)?[2-57-9]\d[\s.\-]?\d{2}[\s.\-]?\d{2}", text)
    return bool(found) and all(d.phone_key(f) in d.public_numbers() for f in found)


def _generic_email(value: str) -> bool:
    local = value.strip().split("@")[0].lower()
    return any(local == g or local.startswith(g + ".") for g in GENERIC_MAILBOXES)


def _organisation_column(column: Column) -> bool:
    values = column.values
    if not values:
        return False
    organised = _share(values, names.is_organisation)
    hinted = column.hint is not None and column.hint.kind in ("organisation", "name")
    return organised >= 0.5 or (hinted and organised >= 0.3)


def classify_table(table: Sequence[Column], layer: str = "") -> list[Finding]:
    """The findings of one table, with the rules that need the whole table: a directory
    of organisations (a column of organisation names, no person's name) holds
    professional contacts, and numbers of the public list are never flagged."""
    found = [f for f in (classify_column(c, layer) for c in table) if f is not None]
    by_name = {c.name: c for c in table}
    directory = any(_organisation_column(c) for c in table) and not any(
        f.kind == "name" for f in found
    )
    kept: list[Finding] = []
    for finding in found:
        column = by_name[finding.column]
        if finding.kind in ("phone", "email", "address") and directory:
            continue
        if (
            finding.kind == "phone"
            and column.values
            and _share(column.values, lambda v: d.phone_key(v) in d.public_numbers()) >= 0.8
        ):
            continue
        if (
            finding.kind == "email"
            and column.values
            and _share(column.values, _generic_email) >= 0.8
        ):
            continue
        kept.append(finding)
    return kept


METADATA = "metadonnees"  # the `layer` of findings in a dataset's own text fields
METADATA_FIELDS = ("title", "description", "keywords", "lineage")
METADATA_TEXT = 20_000  # characters of one field looked at


def text_details(text: str) -> list[str]:
    """What one text holds of a person (e-mail, phone, NIR, IBAN, name), the same tests
    as a free-text column's, on one value: generic mailboxes and public services'
    numbers are not counted."""
    text = text[:METADATA_TEXT]
    found = []
    if d.emails_in(text) and not _generic_email_text(text):
        found.append("e-mail")
    if d.phones_in(text) and not _public_text(text):
        found.append("téléphone")
    if d.nirs_in(text):
        found.append("NIR")
    if d.ibans_in(text):
        found.append("IBAN")
    if names.texts_with_names([text]):
        found.append("nom")
    return found


def scan_metadata(dataset: Any) -> list[Finding]:  # noqa: ANN401 - a Dataset
    """A dataset's own text (title, description, keywords, lineage): one `free_text`
    finding per field that names a person or gives their contact (issue 21 §3: a
    harvested record is held as a draft with these). The contact fields are not read:
    a dataset's contact is a professional one by definition."""
    found = []
    for name in METADATA_FIELDS:
        value = getattr(dataset, name, None)
        text = " ; ".join(map(str, value)) if isinstance(value, list) else str(value or "")
        details = text_details(text) if text.strip() else []
        if details:
            found.append(Finding(METADATA, name, "free_text", 1.0, 1, "values", ", ".join(details)))
    return found


def scan_layer(conn: Connection, layer: Any) -> list[Finding]:
    """Scan one layer (`niaouli.catalogue.models.Layer`, or anything with its
    `collection_id`, `table_name` and `attribute_schema`): a bounded sample of its
    columns, classified. The function the publication guard and the cartoparty merges
    call."""
    from niaouli.db.layers import ColumnSpec, sample_values

    specs = [
        ColumnSpec(a["name"], a["column"], a["type"])
        for a in layer.attribute_schema or ()
        if a.get("type") in ("string", "integer", "date", "datetime", "json", "number")
    ]
    sample = sample_values(conn, layer.table_name, specs, SAMPLE_ROWS, MAX_VALUE)
    table = [Column(s.name, sample.get(s.column, []), s.type) for s in specs]
    return classify_table(table, layer.collection_id)
