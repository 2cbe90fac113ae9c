"""Keeping the English catalogue whole: extraction, gaps, and text left untranslated.

    python -m niaouli.portal.i18n_catalog check            # what lacks an English text
    python -m niaouli.portal.i18n_catalog missing FILE...  # .po entries to fill, for FILEs
    python -m niaouli.portal.i18n_catalog bare FILE...     # template text outside _()
    python -m niaouli.portal.i18n_catalog add PO FILE...   # append FILEs' gaps to PO
    python -m niaouli.portal.i18n_catalog fill PO JSON     # set texts: {"fr": "en"|[sg, pl]}

Messages are extracted with Babel from the templates (Jinja's own extractor) and from
the portal's Python modules (`_`, `N_`, `ngettext`, `pgettext`). The tests run `check`
and `bare` over the whole portal, so a French sentence added without its English
translation, or written outside `_()`, fails CI instead of reaching an English page.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po, write_po

from niaouli.i18n import LOCALES_DIR, merged_catalog
from niaouli.resources import package_dir

PORTAL = package_dir("niaouli.portal")
PROJECT = PORTAL.parent
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None}
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trimmed": "false"}
# Attributes whose text a reader sees or hears (screen readers read aria-label, alt...).
SHOWN_ATTRIBUTES = {"alt", "title", "placeholder", "aria-label", "aria-description", "content"}
WORD = re.compile(r"[A-Za-zÀ-ÿŒœ]{2,}")


@dataclass
class Message:
    id: str | tuple[str, str]
    locations: list[tuple[str, int]] = field(default_factory=list)
    context: str | None = None


def portal_sources() -> list[Path]:
    """Every file whose text may reach a page: templates, the portal's modules, and the
    modules elsewhere whose messages are shown on pages (they import `niaouli.i18n`)."""
    templates = sorted((PORTAL / "templates").glob("*.html"))
    modules = sorted(p for p in PORTAL.glob("*.py") if p.name != "i18n_catalog.py")
    others = sorted(
        path
        for folder in ("niaouli", "services", "ingest")
        for path in (PROJECT / folder).rglob("*.py")
        if path.name != "i18n.py" and "niaouli.i18n import" in path.read_text("utf-8")
    )
    return templates + modules + others


def extract(paths: Iterable[Path]) -> dict[str, Message]:
    """msgid (singular) -> where it is used, for the given templates and modules."""
    found: dict[str, Message] = {}
    for path in paths:
        method = "jinja2.ext:babel_extract" if path.suffix == ".html" else "python"
        options = JINJA_OPTIONS if path.suffix == ".html" else {}
        for lineno, message, _comments, context in extract_from_file(
            method, str(path), keywords=KEYWORDS, options=options
        ):
            key = message[0] if isinstance(message, tuple) else message
            if not key:
                continue
            entry = found.setdefault(f"{context}\x04{key}" if context else key, Message(message))
            entry.context = context
            where = path.relative_to(PROJECT) if path.is_relative_to(PROJECT) else path
            entry.locations.append((str(where), lineno))
    return found


def english_catalog() -> Catalog:
    """All English .po files merged (the same merge the portal does at start-up)."""
    return merged_catalog("en")


def conflicts() -> list[str]:
    """French texts given different English texts in different .po files."""
    seen: dict[tuple[str, ...], tuple[object, str]] = {}
    problems = []
    for po_file in sorted((LOCALES_DIR / "en" / "LC_MESSAGES").glob("*.po")):
        with po_file.open("rb") as handle:
            for message in read_po(handle, locale="en"):
                if not message.id or not message.string:
                    continue
                key = (message.id[0] if isinstance(message.id, tuple) else message.id,)
                key += (message.context,) if message.context else ()
                if key in seen and seen[key][0] != message.string:
                    problems.append(
                        f"{key!r}: {seen[key][0]!r} ({seen[key][1]}) "
                        f"vs {message.string!r} ({po_file.name})"
                    )
                seen.setdefault(key, (message.string, po_file.name))
    return problems


def untranslated(paths: Iterable[Path] | None = None) -> dict[str, Message]:
    """The extracted messages that have no English text (or a fuzzy one)."""
    catalog = english_catalog()
    gaps = {}
    for key, entry in extract(paths or portal_sources()).items():
        singular = entry.id[0] if isinstance(entry.id, tuple) else entry.id
        known = catalog.get(singular, context=entry.context)
        strings = known.string if known is not None else None
        texts = strings if isinstance(strings, tuple) else (strings,)
        if known is None or known.fuzzy or not all(texts):
            gaps[key] = entry
    return gaps


def placeholder_mismatches() -> list[str]:
    """Translations whose %(name)s placeholders differ from their French source."""
    problems = []
    for message in english_catalog():
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(re.findall(r"%\((\w+)\)s", ids[0]))
        for text in strings:
            if text and set(re.findall(r"%\((\w+)\)s", text)) != wanted:
                problems.append(f"{ids[0]!r} -> {text!r}")
    return problems


class _TextFinder(HTMLParser):
    """Collects (line, text) a reader would see, from HTML with its Jinja cut out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        names = dict(attrs)
        for name, value in attrs:
            if name == "content" and names.get("name") != "description":
                continue
            if name in SHOWN_ATTRIBUTES and value and WORD.search(value):
                self.found.append((self.getpos()[0], f'{name}="{value}"'))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and WORD.search(data):
            self.found.append((self.getpos()[0], data.strip()))


JINJA = re.compile(r"\{%-?\s*trans\b.*?endtrans\s*-?%\}|\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)


def bare_text(path: Path) -> list[tuple[int, str]]:
    """(line, text) of words in a template that are neither markup nor inside _()."""
    source = path.read_text(encoding="utf-8")
    # Every Jinja construct becomes a mark without letters (keeping its line breaks),
    # so only the template's own literal text is left for the HTML parser to find.
    html = JINJA.sub(lambda m: "\u00a7" + "\n" * m.group(0).count("\n"), source)
    finder = _TextFinder()
    finder.feed(html)
    finder.close()
    return [(line, text) for line, text in finder.found if _is_words(text)]


def _is_words(text: str) -> bool:
    """True when `text` holds language, not only names that read the same everywhere."""
    words = WORD.findall(text)
    return bool(words) and not all(word in UNIVERSAL for word in words)


# Words that are the same in French and English pages: brand and standard names.
UNIVERSAL = {
    "Niaouli",
    "OGC",
    "API",
    "CSW",
    "DCAT",
    "AP",
    "JSON",
    "LD",
    "GeoJSON",
    "CSV",
    "XLSX",
    "QGIS",
    "MapLibre",
    "Python",
    "JavaScript",
    "curl",
    "WFS",
    "WMS",
    "MVT",
    "URL",
    "ISO",
    "SHA",
    "RSS",
    "Atom",
    "iCalendar",
    "ics",
    "GitHub",
    "GitLab",
    "HTTP",
    "HTTPS",
    "PDF",
    "GeoPackage",
    "Shapefile",
    "KML",
    "ODS",
    "OpenStreetMap",
    "SIG",
    "OK",
    "Turtle",
    "RDF",
    "XML",
    "EPSG",
    "WGS",
    "OAI",
    "PMH",
    "CKAN",
    "ArcGIS",
    "Hub",
    "Opendatasoft",
    "FlatGeobuf",
}


def skeleton(gaps: dict[str, Message]) -> str:
    """The gaps as .po entries with an empty English text, ready to fill in."""
    catalog = Catalog(locale="en")
    for entry in gaps.values():
        catalog.add(
            entry.id,
            string=("", "") if isinstance(entry.id, tuple) else "",
            locations=entry.locations,
            context=entry.context,
        )
    from io import BytesIO

    buffer = BytesIO()
    write_po(buffer, catalog, omit_header=True, width=100)
    return buffer.getvalue().decode("utf-8")


def _read(po_file: Path) -> Catalog:
    if not po_file.exists():
        return Catalog(locale="en", project="Niaouli", fuzzy=False)
    with po_file.open("rb") as handle:
        return read_po(handle, locale="en")


def _write(po_file: Path, catalog: Catalog) -> None:
    po_file.parent.mkdir(parents=True, exist_ok=True)
    with po_file.open("wb") as handle:
        write_po(handle, catalog, width=100, include_previous=False)


def main(argv: list[str]) -> int:
    command, *files = argv or ["check"]
    paths = [Path(f).resolve() for f in files] or portal_sources()
    if command == "check":
        gaps = untranslated(paths)
        mismatches = placeholder_mismatches()
        for key, entry in gaps.items():
            where = ", ".join(f"{f}:{n}" for f, n in entry.locations[:3])
            print(f"untranslated: {key!r} ({where})")
        for problem in mismatches:
            print(f"placeholders differ: {problem}")
        for problem in conflicts():
            print(f"two English texts: {problem}")
        return 1 if gaps or mismatches or conflicts() else 0
    if command == "missing":
        print(skeleton(untranslated(paths)), end="")
        return 0
    if command == "add":
        po_file, *sources = files
        gaps = untranslated([Path(f).resolve() for f in sources] or portal_sources())
        catalog = _read(Path(po_file))
        for entry in gaps.values():
            singular = entry.id[0] if isinstance(entry.id, tuple) else entry.id
            if catalog.get(singular, context=entry.context) is None:
                empty = ("", "") if isinstance(entry.id, tuple) else ""
                catalog.add(
                    entry.id, string=empty, locations=entry.locations, context=entry.context
                )
        _write(Path(po_file), catalog)
        print(f"{len(gaps)} message(s) to translate in {po_file}")
        return 0
    if command == "fill":
        po_file, texts_file = files
        import json

        texts = json.loads(Path(texts_file).read_text(encoding="utf-8"))
        catalog = _read(Path(po_file))
        for message in catalog:
            key = message.id[0] if isinstance(message.id, tuple) else message.id
            if key in texts:
                value = texts[key]
                message.string = tuple(value) if isinstance(value, list) else value
                message.flags.discard("fuzzy")
        _write(Path(po_file), catalog)
        return 0
    if command == "bare":
        status = 0
        for path in paths:
            if path.suffix != ".html":
                continue
            for lineno, text in bare_text(path):
                print(f"{path.relative_to(PROJECT)}:{lineno}: {text}")
                status = 1
        return status
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
