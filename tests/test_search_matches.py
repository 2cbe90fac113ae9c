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


def test_first_rows_are_the_full_sorts_first_rows() -> None:
    """`finder._first` (a page's datasets without sorting all of them) gives exactly
    `numpy.lexsort(keys)[:limit]`, with many ties of the primary key, keys of one value,
    limits of 0, 1, a page, all and more than all; `recent_rank` (a permutation) last."""
    import numpy as np

    rng = np.random.default_rng(20)
    for _trial in range(400):
        n = int(rng.integers(1, 300))
        keys = [rng.permutation(n)]
        for _key in range(int(rng.integers(0, 3))):
            keys.append(-rng.integers(0, int(rng.integers(1, 6)), n).astype(np.float64))
        for limit in {0, 1, 20, n - 1, n, n + 7} - {-1}:
            expected = np.lexsort(keys)[:limit]
            assert finder._first(keys, limit).tolist() == expected.tolist(), (n, limit)  # noqa: SLF001
