"""A tabular file checked against a Table Schema with frictionless, bounded, its errors
told by row and column in the request's language.

Bounded on hostile input: the file is first read once in binary chunks for a line longer
than `MAX_LINE` (frictionless would hold such a line in memory, several times over:
50 MB cost 370 MB and 15 s), which makes the report fail at once; frictionless then
streams the rows, stops at `MAX_ERRORS` errors or after `MAX_ROWS` rows (the report says
it stopped, `capped`), and only the first `LISTED` errors are kept with their message.
Columns are matched by name (`fieldsMatch: subset` unless the schema sets it): in any
order, a column the schema names but the file lacks is an error, a column the schema
does not name passes.
Only the file's own folder is readable (frictionless' `basepath`), and a schema's
`foreignKeys` are dropped: they would name other resources, maybe remote ones.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from niaouli.errors import CatalogueError
from niaouli.i18n import N_, _

MAX_LINE = 1_000_000  # bytes in one line of the file
MAX_ERRORS = 1000  # errors counted before the validation stops
MAX_ROWS = 1_000_000  # rows validated
LISTED = 100  # errors kept, with their message, in a report
MAX_SCHEMA = 256 * 1024  # bytes of a schema's JSON
MAX_FIELDS = 500

TYPE_LABELS = {
    "string": N_("texte"),
    "integer": N_("nombre entier"),
    "number": N_("nombre"),
    "boolean": N_("booléen"),
    "date": N_("date (AAAA-MM-JJ)"),
    "datetime": N_("date et heure"),
    "time": N_("heure"),
    "year": N_("année"),
    "yearmonth": N_("année et mois"),
    "duration": N_("durée"),
    "geopoint": N_("point (longitude, latitude)"),
    "geojson": N_("géométrie GeoJSON"),
    "object": N_("objet JSON"),
    "array": N_("tableau JSON"),
    "any": N_("valeur"),
}
CONSTRAINTS = {
    "required": N_("valeur obligatoire manquante"),
    "unique": N_("valeur en double alors qu'elle doit être unique"),
    "enum": N_("valeur hors de la liste permise (%(expected)s)"),
    "pattern": N_("valeur qui ne suit pas le motif attendu (%(expected)s)"),
    "minimum": N_("valeur inférieure au minimum (%(expected)s)"),
    "maximum": N_("valeur supérieure au maximum (%(expected)s)"),
    "minLength": N_("valeur trop courte (au moins %(expected)s caractères)"),
    "maxLength": N_("valeur trop longue (au plus %(expected)s caractères)"),
}
SIMPLE = {
    "missing-cell": N_("cellule manquante (ligne trop courte)"),
    "extra-cell": N_("cellule en trop (ligne trop longue)"),
    "blank-row": N_("ligne vide"),
    "duplicate-label": N_("en-tête de colonne en double"),
    "blank-label": N_("en-tête de colonne vide"),
    "missing-label": N_("colonne du schéma absente du fichier"),
    "incorrect-label": N_("en-tête différent du nom attendu par le schéma"),
    "unique-error": N_("valeur en double alors qu'elle doit être unique"),
    "primary-key": N_("clé primaire en double ou vide"),
    "encoding-error": N_("encodage des caractères illisible"),
    "format-error": N_("format de fichier non reconnu comme un tableau"),
    "source-error": N_("fichier illisible comme un tableau"),
    "scheme-error": N_("fichier illisible"),
    "line-too-long": N_("ligne de plus d'un million d'octets : fichier non vérifié"),
}
_CONSTRAINT = re.compile(r'constraint "(\w+)"')


class SchemaError(CatalogueError):
    """A schema that is not a usable Table Schema (the message says why)."""


@dataclass
class CellError:
    """One error: where (row as people count it in the file, header = 1; column name),
    what (frictionless' error type), and its sentence as a French template with values
    (`message` renders it in the request's language)."""

    row: int | None
    column: str | None
    type: str
    template: str
    values: dict[str, str] = field(default_factory=dict)
    cell: str = ""

    @property
    def message(self) -> str:
        return render(self.template, self.values)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.message}


@dataclass
class Report:
    """One table's validation. `capped`: stopped at MAX_ERRORS or MAX_ROWS (then
    `error_count` is a lower bound and an unchecked rest of the file may hold more)."""

    valid: bool
    error_count: int
    rows: int
    capped: bool = False
    errors: list[CellError] = field(default_factory=list)
    layer: str = ""  # the source layer (or sheet) checked
    schema_title: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain data with the sentences rendered (API answers, the command line)."""
        return {
            **{k: v for k, v in asdict(self).items() if k != "errors"},
            "errors": [e.as_dict() for e in self.errors],
            "summary": summary(self),
        }

    def stored_errors(self) -> list[dict[str, Any]]:
        """The errors as kept in the database: templates, not sentences."""
        return [asdict(e) for e in self.errors]


def summary(report: Report) -> str:
    """One sentence: conforming, or how many errors (at least, when stopped)."""
    if report.valid:
        return _("fichier conforme au schéma « %(schema)s » (%(rows)s lignes vérifiées)") % {
            "schema": report.schema_title,
            "rows": report.rows,
        }
    text = _("%(count)s erreur(s) par rapport au schéma « %(schema)s »") % {
        "count": report.error_count,
        "schema": report.schema_title,
    }
    if report.capped:
        text += " " + _("(vérification arrêtée : au moins ce nombre)")
    return text


def check_schema(descriptor: Any) -> dict[str, Any]:  # noqa: ANN401 - untrusted JSON
    """The descriptor as a usable Table Schema (foreign keys dropped), or SchemaError."""
    from frictionless import FrictionlessException, Schema

    if isinstance(descriptor, str | bytes):
        if len(descriptor) > MAX_SCHEMA:
            raise SchemaError(_("schéma trop grand (plus de 256 Kio)"))
        try:
            descriptor = json.loads(descriptor)
        except ValueError:
            raise SchemaError(_("le schéma n'est pas du JSON valide")) from None
    if not isinstance(descriptor, dict) or not isinstance(descriptor.get("fields"), list):
        raise SchemaError(_("un Table Schema est un objet JSON avec une liste « fields »"))
    if not descriptor["fields"] or len(descriptor["fields"]) > MAX_FIELDS:
        raise SchemaError(_("un schéma décrit entre 1 et 500 colonnes"))
    if len(json.dumps(descriptor)) > MAX_SCHEMA:
        raise SchemaError(_("schéma trop grand (plus de 256 Kio)"))
    descriptor = {k: v for k, v in descriptor.items() if k != "foreignKeys"}
    try:
        schema = Schema.from_descriptor(descriptor)
        problems = Schema.validate_descriptor(descriptor).flatten(["note"])
    except FrictionlessException as exc:
        raise SchemaError(_("schéma invalide : %(error)s") % {"error": exc.error.note}) from None
    if problems:
        raise SchemaError(_("schéma invalide : %(error)s") % {"error": problems[0][0]})
    return schema.to_descriptor() | {k: v for k, v in descriptor.items() if k not in ("fields",)}


def long_line(path: Path, limit: int = MAX_LINE) -> int | None:
    """The first line (from 1) longer than `limit` bytes, reading 1 MiB at a time."""
    line, length = 1, 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            start = 0
            while (end := chunk.find(b"\n", start)) != -1:
                if length + end - start > limit:
                    return line
                line, length, start = line + 1, 0, end + 1
            length += len(chunk) - start
            if length > limit:
                return line
    return None


def validate_file(
    path: Path,
    descriptor: dict[str, Any],
    *,
    title: str = "",
    layer: str = "",
    max_rows: int = MAX_ROWS,
    max_errors: int = MAX_ERRORS,
) -> Report:
    """Validate the CSV at `path` against `descriptor` (see the module's bounds)."""
    from frictionless import FrictionlessException, Resource, Schema

    too_long = long_line(path)
    if too_long is not None:
        error = CellError(too_long, None, "line-too-long", SIMPLE["line-too-long"])
        return Report(False, 1, 0, True, [error], layer, title)
    # Columns are matched by name, in any order; columns the schema does not name pass
    # (Table Schema's `fieldsMatch: subset`), unless the schema says otherwise.
    schema = Schema.from_descriptor({"fieldsMatch": "subset", **descriptor})
    resource = Resource(
        path=path.name,
        basepath=str(path.parent),
        format="csv",  # the ingestion gives CSV: the file itself, or a layer's rows
        schema=schema,
    )
    try:
        result = resource.validate(limit_errors=max_errors, limit_rows=max_rows)
    except FrictionlessException as exc:
        error = CellError(None, None, exc.error.type, *_message(exc.error, schema))
        return Report(False, 1, 0, False, [error], layer, title)
    task = result.tasks[0]
    errors = task.errors
    rows = int(task.stats.get("rows") or 0)
    capped = len(errors) >= max_errors or rows >= max_rows
    listed = [
        CellError(
            getattr(e, "row_number", None),
            getattr(e, "field_name", None) or getattr(e, "label", None),
            e.type,
            *_message(e, schema),
            str(getattr(e, "cell", "") or "")[:200],
        )
        for e in errors[:LISTED]
    ]
    return Report(not errors, len(errors), rows, capped, listed, layer, title)


def _message(error: Any, schema: Any) -> tuple[str, dict[str, str]]:  # noqa: ANN401
    """Frictionless' error as a French template and its values (`render` translates
    them when shown: a kept report reads in the reader's language)."""
    kind = error.type
    column = getattr(error, "field_name", None) or getattr(error, "label", None) or ""
    cell = str(getattr(error, "cell", "") or "")[:80]
    if kind == "type-error":
        field_type = schema.get_field(column).type if schema.has_field(column) else "any"
        return N_("« %(cell)s » n'est pas du type attendu : %(type_label)s"), {
            "cell": cell,
            "type_label": TYPE_LABELS.get(field_type, field_type),
        }
    if kind == "constraint-error":
        found = _CONSTRAINT.search(error.note or "")
        name = found.group(1) if found else ""
        expected = ""
        if schema.has_field(column):
            value = schema.get_field(column).constraints.get(name, "")
            shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            expected = shown[:200]
        if name not in CONSTRAINTS:
            return N_("contrainte « %(name)s » non respectée"), {"name": name}
        return CONSTRAINTS[name], {"expected": expected}
    if kind in SIMPLE:
        return SIMPLE[kind], {}
    return N_("erreur « %(type)s »"), {"type": kind}


def render(template: str, values: dict[str, str]) -> str:
    """A kept error's sentence in the request's language."""
    shown = {k: _(v) if k.endswith("_label") else v for k, v in values.items()}
    return _(template) % shown if shown else _(template)
