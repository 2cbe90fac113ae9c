"""Diacritics removed the fast way: one `str.translate` with a table filled as it goes.

Why: the search text, the full-text index and the CSW `anytext` column strip the marks
of millions of characters during a harvest; testing `unicodedata.combining` for each
character in Python cost more than the rest of the search text. The table maps each
code point met to itself, or to nothing for a combining mark (each is tested once).
"""

from __future__ import annotations

import unicodedata


class _Uncombined(dict):
    def __missing__(self, code: int) -> int | None:
        kept = None if unicodedata.combining(chr(code)) else code
        self[code] = kept  # a dict item set: atomic, threads may share the table
        return kept


_UNCOMBINED = _Uncombined()


def strip_marks(text: str) -> str:
    """`text` decomposed (NFKD) without its combining marks: "Hienghène" -> "Hienghene"
    (the same as `"".join(c for c in NFKD(text) if not unicodedata.combining(c))`)."""
    return unicodedata.normalize("NFKD", text).translate(_UNCOMBINED)
