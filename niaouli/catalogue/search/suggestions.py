"""Nearby spellings for a search that found nothing: « Numea » -> « Nouméa ».

The vocabulary is the catalogue's own words as `viewer` may see them: titles, keywords
and themes of visible datasets, the gazetteer's places (of visible sources), names of
organisations, code projects, approved reuses and events. A restricted dataset's words
are never suggested to someone who may not see it. Matching is `difflib` (standard
library: a few thousand words, only when a search is empty, needs nothing faster),
on normalised words, and the suggestion is written with the vocabulary's accents.
"""

from __future__ import annotations

import difflib
import functools
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from niaouli.catalogue import gazetteer
from niaouli.catalogue.access import Viewer, visible_datasets
from niaouli.catalogue.models import CodeProject, Dataset, Event, Organisation, Reuse
from niaouli.catalogue.search.fulltext import STOP_WORDS, TOKEN, words

MIN_WORD = 3
CUTOFF = 0.75
MAX_QUERY_WORDS = 8


@functools.lru_cache(maxsize=65536)
def _normal(written: str) -> str:
    """The normalised form of one written word (the same words recur in many titles)."""
    return "".join(words(written))


def _add(vocabulary: dict[str, str], texts: Iterable[Any]) -> None:
    """normalised word -> the word as written (the first accented spelling seen wins)."""
    for value in texts:
        if not isinstance(value, str):
            continue
        for written in TOKEN.findall(value):
            normal = _normal(written)
            if len(normal) < MIN_WORD or normal in STOP_WORDS or normal.isdigit():
                continue
            if normal not in vocabulary or (vocabulary[normal].isascii() and not written.isascii()):
                vocabulary[normal] = written.lower() if not written.isupper() else written


# The visible datasets' words per worker, visibility and catalogue version (which every
# dataset change moves): reading 100,000 datasets' titles takes seconds, and a search
# that finds nothing asks for them.
_DATASET_WORDS: OrderedDict[tuple, dict[str, str]] = OrderedDict()
_LOCK = threading.Lock()
CACHE_ENTRIES = 16
VERSION = text("SELECT version FROM catalogue_state WHERE id = 1")


def _dataset_words(session: Session, viewer: Viewer) -> dict[str, str]:
    """Titles, keywords and themes of the datasets `viewer` may see (never to be changed)."""
    key = (
        session.get_bind().url.render_as_string(),
        viewer.visibility_key,
        session.scalar(VERSION),
    )
    with _LOCK:
        found = _DATASET_WORDS.get(key)
        if found is not None:
            _DATASET_WORDS.move_to_end(key)
            return found
    found = {}
    for title, keywords, themes in session.execute(
        select(Dataset.title, Dataset.keywords, Dataset.themes).where(visible_datasets(viewer))
    ):
        _add(found, [title, *(keywords or ()), *(themes or ())])
    with _LOCK:
        _DATASET_WORDS[key] = found
        while len(_DATASET_WORDS) > CACHE_ENTRIES:
            _DATASET_WORDS.popitem(last=False)
    return found


def vocabulary(session: Session, viewer: Viewer) -> dict[str, str]:
    found = dict(_dataset_words(session, viewer))
    # Place names keep their capital letters: « Nouméa », « Île des Pins ».
    places: dict[str, str] = {}
    for place in gazetteer.places(session, viewer):
        for written in TOKEN.findall(place.name):
            places.setdefault("".join(words(written)), written)
    found.update({k: v for k, v in places.items() if len(k) >= MIN_WORD})
    _add(found, session.scalars(select(Organisation.name)))
    _add(found, session.scalars(select(CodeProject.name)))
    reuses = select(Reuse.title)
    if hasattr(Reuse, "status"):
        reuses = reuses.where(Reuse.status == "approved")
    _add(found, session.scalars(reuses))
    _add(found, session.scalars(select(Event.title)))
    return found


def spelling(session: Session, viewer: Viewer, query: str) -> str | None:
    """The query with its unknown words replaced by the nearest known ones, or None."""
    parts = query.split()[:MAX_QUERY_WORDS]
    if not parts:
        return None
    known = vocabulary(session, viewer)
    keys = list(known)
    changed = False
    out = []
    for part in parts:
        normal = "".join(words(part))
        if len(normal) < MIN_WORD or normal in known or part.startswith("-") or '"' in part:
            out.append(part)
            continue
        close = difflib.get_close_matches(normal, keys, n=1, cutoff=CUTOFF)
        if close:
            out.append(known[close[0]])
            changed = True
        else:
            out.append(part)
    return " ".join(out) if changed else None
