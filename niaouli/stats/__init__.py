"""Usage statistics: requests counted server-side on every interface, without personal data.

`middleware` classifies each answered request and increments an in-memory counter;
`counters` flushes them in batches to the `usage_daily` table (`table`); `visitors`
de-duplicates repeat hits with short-lived keyed hashes that are never stored; `report`
reads the counters back for a viewer (only datasets they may see); `charts` draws them.
See docs/stats.md.
"""
