"""The full-text matches' arrays per kind (`fulltext.Matches`, `finder._of_kind`)."""

from __future__ import annotations

from niaouli.catalogue.search import finder, fulltext


def test_matches_give_each_kind_as_arrays_like_the_mapping() -> None:
    """`fulltext.Matches.of_kind` (made once) and the plain-mapping path agree with the
    mapping itself, for every kind, including one without matches."""
    pairs = {("dataset", 7): 0.5, ("reuse", 2): 0.25, ("dataset", 3): 1.0, ("event", 9): 0.0}
    matches = fulltext.Matches(pairs)
    for kind in ("dataset", "reuse", "event", "organisation"):
        expected = sorted((oid, rank) for (k, oid), rank in pairs.items() if k == kind)
        for ids, ranks in (matches.of_kind(kind), finder._of_kind(pairs, kind)):  # noqa: SLF001
            assert sorted(zip(ids.tolist(), ranks.tolist(), strict=True)) == expected
            assert ids.dtype.kind == "i" and ranks.dtype.kind == "f"
