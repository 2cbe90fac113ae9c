"""The Atom feed of new and updated datasets and the sitemap, as XML built with lxml.

Built as element trees and serialised by lxml, never by string concatenation, so any
title or description (markup, `]]>`, control characters) comes out escaped or is
removed when XML cannot carry it at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from niaouli.catalogue.models import Dataset, Organisation
from niaouli.dcat.urls import PublicUrls

ATOM = "http://www.w3.org/2005/Atom"
SITEMAP = "http://www.sitemaps.org/schemas/sitemap/0.9"
FEED_TITLE = "Niaouli — jeux de données nouveaux et mis à jour"
FEED_SUBTITLE = "Les derniers jeux de données publiés ou mis à jour sur Niaouli."
SUMMARY_LENGTH = 1000
# A sitemap file holds at most 50,000 URLs (sitemaps.org): past that, /sitemap.xml is an
# index of files of this many (`niaouli.portal.feeds`; tests lower it).
MAX_SITEMAP_URLS = 50_000
# Characters XML 1.0 cannot carry at all (lxml refuses them): dropped from data.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(value: object) -> str:
    return _NOT_XML.sub("", str(value))


def timestamp(value: datetime | None) -> str:
    """RFC 3339 / W3C datetime in UTC, as Atom and sitemaps want it."""
    value = value or datetime.now(UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _sub(parent: etree._Element, namespace: str, tag: str, text: str | None = None, **attrs: str):  # noqa: ANN202
    element = etree.SubElement(
        parent, f"{{{namespace}}}{tag}", {k: xml_text(v) for k, v in attrs.items()}
    )
    if text is not None:
        element.text = xml_text(text)
    return element


def atom_feed(datasets: Sequence[Dataset], urls: PublicUrls) -> bytes:
    """Atom 1.0 (RFC 4287): one entry per dataset, newest update first."""
    feed = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})
    feed.set("{http://www.w3.org/XML/1998/namespace}lang", "fr")
    _sub(feed, ATOM, "id", urls.atom())
    _sub(feed, ATOM, "title", FEED_TITLE)
    _sub(feed, ATOM, "subtitle", FEED_SUBTITLE)
    newest = max((d.updated_at for d in datasets), default=None, key=_utc)
    _sub(feed, ATOM, "updated", timestamp(newest))
    _sub(feed, ATOM, "link", rel="self", type="application/atom+xml", href=urls.atom())
    _sub(feed, ATOM, "link", rel="alternate", type="text/html", href=urls.datasets())
    _sub(feed, ATOM, "generator", "Niaouli", uri=urls.home())
    for dataset in datasets:
        page = urls.dataset_page(dataset.slug)
        entry = _sub(feed, ATOM, "entry")
        _sub(entry, ATOM, "id", page)
        _sub(entry, ATOM, "title", dataset.title, type="text")
        _sub(entry, ATOM, "link", rel="alternate", type="text/html", href=page)
        _sub(entry, ATOM, "updated", timestamp(dataset.updated_at))
        _sub(entry, ATOM, "published", timestamp(dataset.published_at or dataset.created_at))
        author = _sub(entry, ATOM, "author")
        _sub(author, ATOM, "name", dataset.organisation.name)
        _sub(author, ATOM, "uri", urls.organisation_page(dataset.organisation.slug))
        for theme in dataset.themes or []:
            _sub(entry, ATOM, "category", term=str(theme))
        summary = (dataset.description or dataset.title).strip()
        if len(summary) > SUMMARY_LENGTH:
            summary = summary[: SUMMARY_LENGTH - 1].rstrip() + "…"
        _sub(entry, ATOM, "summary", summary, type="text")
    return etree.tostring(feed, xml_declaration=True, encoding="utf-8", pretty_print=True)


def _utc(value: datetime | None) -> datetime:
    if value is None:
        return datetime.min.replace(tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SitemapEntry:
    url: str
    lastmod: datetime | None = None


def sitemap_entries(
    urls: PublicUrls,
    datasets: Iterable[tuple[str, datetime | None]],
    organisations: Iterable[tuple[Organisation, datetime | None]],
    newest: datetime | None = None,
    lists: bool = True,
) -> list[SitemapEntry]:
    """Home and the lists (`lists`), the public dataset pages given as (slug, updated),
    the organisation pages; `newest`: the last change of a public dataset."""
    entries = []
    if lists:
        entries += [
            SitemapEntry(urls.home(), newest),
            SitemapEntry(urls.datasets(), newest),
            SitemapEntry(urls.organisations()),
        ]
    entries += [SitemapEntry(urls.dataset_page(slug), updated) for slug, updated in datasets]
    for org, datasets_updated in organisations:
        lastmod = (
            max(org.updated_at, datasets_updated, key=_utc) if datasets_updated else org.updated_at
        )
        entries.append(SitemapEntry(urls.organisation_page(org.slug), lastmod))
    return entries


def sitemap(entries: Sequence[SitemapEntry]) -> bytes:
    """sitemaps.org 0.9 `urlset` (the caller keeps it within `MAX_SITEMAP_URLS`)."""
    root = etree.Element(f"{{{SITEMAP}}}urlset", nsmap={None: SITEMAP})
    for entry in entries:
        url = _sub(root, SITEMAP, "url")
        _sub(url, SITEMAP, "loc", entry.url)
        if entry.lastmod is not None:
            _sub(url, SITEMAP, "lastmod", timestamp(entry.lastmod))
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def sitemap_index(entries: Sequence[SitemapEntry]) -> bytes:
    """sitemaps.org 0.9 `sitemapindex`: the sitemap files, when one would hold too many."""
    root = etree.Element(f"{{{SITEMAP}}}sitemapindex", nsmap={None: SITEMAP})
    for entry in entries:
        item = _sub(root, SITEMAP, "sitemap")
        _sub(item, SITEMAP, "loc", entry.url)
        if entry.lastmod is not None:
            _sub(item, SITEMAP, "lastmod", timestamp(entry.lastmod))
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)
