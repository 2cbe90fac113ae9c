"""Code projects, reuses and events: public content that points at datasets.

One module per kind — `projects` (code projects, publiccode.yml facts, source
archives), `reuses` (proposals, moderation), `events` (times in Nouméa) — and `common`
for what they share: the link rule (a dataset is shown only to who may see it), the
checks of titles, texts, addresses and linked datasets, the organisation an editor adds
to, the audit row of each change, and what uses a dataset. The lists are small (tens to
a few hundred rows), so filters and facets are computed in Python over one query rather
than in backend-specific JSON SQL. Callers import the module of the kind they handle;
nothing is re-exported here.
"""
