"""The `csw_records` table: pycsw's repository, kept inside the catalogue database.

Why a table of our own rather than pycsw's `records` database: the records must change in
the same transaction as the datasets they describe (all or nothing, live without restart)
and follow the access rule, so they live next to the catalogue and are written only by
`niaouli.services.csw.sync`. The columns are those of pycsw 2.6's core model
(`pycsw-admin.py -c setup_db`), so pycsw reads the table with its default mappings, plus
`dataset_id` to link a row to its dataset. Everything is text, as pycsw expects.

Every dataset has a row, whatever its access level: `access_level` and `organisation_id`
let pycsw's repository filter (set per request from the viewer, see
`pycsw/niaouli_csw.py`) keep each viewer to what `niaouli.catalogue.access` lets it see.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, Table, Text

TABLE_NAME = "csw_records"

# Every text column of pycsw 2.6's core model besides the few declared explicitly below.
PYCSW_TEXT_COLUMNS = (
    "language",
    "type",
    "title",
    "title_alternate",
    "abstract",
    "keywords",
    "keywordstype",
    "parentidentifier",
    "relation",
    "time_begin",
    "time_end",
    "topicategory",
    "resourcelanguage",
    "creator",
    "publisher",
    "contributor",
    "organization",
    "securityconstraints",
    "accessconstraints",
    "otherconstraints",
    "date",
    "date_revision",
    "date_creation",
    "date_publication",
    "date_modified",
    "format",
    "source",
    "crs",
    "geodescode",
    "denominator",
    "distancevalue",
    "distanceuom",
    "wkt_geometry",
    "servicetype",
    "servicetypeversion",
    "operation",
    "couplingtype",
    "operateson",
    "operatesonidentifier",
    "operatesoname",
    "degree",
    "classification",
    "conditionapplyingtoaccessanduse",
    "lineage",
    "responsiblepartyrole",
    "specificationtitle",
    "specificationdate",
    "specificationdatetype",
    "links",
)

metadata = MetaData()

csw_records = Table(
    TABLE_NAME,
    metadata,
    Column("identifier", Text, primary_key=True),
    Column("dataset_id", Integer, nullable=False, unique=True),
    Column("access_level", Text, nullable=False, default="public"),
    Column("organisation_id", Integer, nullable=False),
    Column("typename", Text, nullable=False, default="csw:Record"),
    Column("schema", Text, nullable=False, default="http://www.opengis.net/cat/csw/2.0.2"),
    Column("mdsource", Text, nullable=False, default="local"),
    Column("insert_date", Text, nullable=False),
    Column("xml", Text, nullable=False),
    Column("anytext", Text, nullable=False),
    *(Column(name, Text) for name in PYCSW_TEXT_COLUMNS),
    # pycsw's repository filter (the viewer's) on every GetRecords and its count: without
    # it each count reads every record (44 kB each: 8 s for 100,000 on SQLite).
    Index("ix_csw_records_access_org", "access_level", "organisation_id"),
    # pycsw's `anytext ILIKE '%word%'` (AnyText filters and their count), PostgreSQL only:
    # a GIN index of trigrams (0036_trigram_indexes). Never name it `fts_gin_idx`.
    Index(
        "ix_csw_records_anytext_trgm",
        "anytext",
        postgresql_using="gin",
        postgresql_ops={"anytext": "gin_trgm_ops"},
    ).ddl_if(dialect="postgresql"),
)

COLUMNS = frozenset(c.name for c in csw_records.columns)
