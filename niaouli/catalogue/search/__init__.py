"""Catalogue search: the two text indexes and the queries that use them.

Entry point: `finder.search(session, viewer, filters)` — everything the portal's search
pages ask (datasets, code projects, reuses, organisations, events; facets, sorting, the
map box, places), over what the viewer may see only. The other readers filter datasets
with `text.matches(query)`: `catalogue.service.search_datasets` (the JSON API's `q`, an
organisation's page) and the OGC API Records (`record_query`).

- `text`: `datasets.search_text`, normalised words (lower case, no diacritics) of each
  dataset, kept by a change hook; `matches` requires every query word as a *substring*.
- `fulltext`: the French full-text index of every searchable kind (stemmed, ranked;
  `tsvector` on PostGIS, FTS5 on SQLite), kept by change hooks; its query syntax
  ("phrases", -exclusions, `or`) is parsed once for both backends.
- `finder`: the portal's search (full text, facets, sorting, places, cache).
- `record_query`: the OGC API Records query (text, box, time, sort) in SQL.
- `suggestions`: nearby spellings when a search finds nothing.

Why two indexes. They answer different questions and are not merged: the full-text
index matches whole stemmed words ("écoles" finds "école") and ranks them, which the
portal wants; `search_text` matches word *parts* ("noum" finds "Nouméa") and requires
all of them, which the JSON API's `q` and OGC API Records' `q` have always promised
(tests pin both). Serving one from the other would change
results for those clients. Both are written inside the writing transaction, from the
same normalisation (`text.normalise`). The CSW's text search is pycsw's own, over
`csw_records` (`niaouli.services.csw.sync`). The gazetteer (`catalogue.gazetteer`,
the communes) stays beside the catalogue: it is also managed from the command line.

Importing this package imports nothing: `niaouli.startup.install` installs the two
hooks (`text.install`, `fulltext.install`).
"""
