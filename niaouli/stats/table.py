"""The `usage_daily` table: one row per day, interface, dataset and organisation.

No column can hold an IP address, a user agent or a user: only counts. `dataset_id` and
`organisation_id` are NULL for hits that concern none (the home page, /ogc landing...).
A unique index over `coalesce(...)` lets both backends upsert rows whose ids are NULL.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, Integer, MetaData, String, Table

metadata = MetaData()

usage_daily = Table(
    "usage_daily",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("day", Date, nullable=False),
    Column("interface", String(32), nullable=False),
    Column("dataset_id", Integer, nullable=True),
    Column("organisation_id", Integer, nullable=True),
    Column("hits", BigInteger, nullable=False, default=0),
    Column("unique_visits", BigInteger, nullable=False, default=0),
)

CONFLICT_TARGET = "day, interface, coalesce(dataset_id, 0), coalesce(organisation_id, 0)"
