"""CSW anytext: the record's searchable text, without the boilerplate of every record

`metadata_parse.anytext` now leaves out of an ISO 19139 record what is the same in every
record (`metadata_parse.BOILERPLATE`: the metadata standard's name and version, code
registers' citations, keyword thesauri's citations, data quality reports, the record's
own maintenance note; and code list values), and keeps each distinct text once. Rows
written before hold the old text: at 100,000 records a word whose trigrams were all in
the common text made every record a candidate of the trigram index (docs/csw.md).

Every row's `anytext` is computed again from its stored `xml` (harvested records
included; no record is rendered again). On PostgreSQL the trigram index is dropped
meanwhile and built again after (faster than updating it row by row). About three
minutes at 100,000 records (two of parsing, 40 s for the index; writes wait meanwhile).

Revision ID: 0037_anytext_searchable
Revises: 0036_trigram_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0037_anytext_searchable"
down_revision = "0036_trigram_indexes"
branch_labels = None
depends_on = None

BATCH = 1000
INDEX = "ix_csw_records_anytext_trgm"


def rewrite(bind: sa.Connection) -> int:
    """Compute every row's anytext from its xml again; the number of rows changed."""
    from lxml import etree

    from niaouli import metadata_parse, safexml

    table = sa.table("csw_records", sa.column("identifier"), sa.column("xml"), sa.column("anytext"))
    update = (
        sa.update(table)
        .where(table.c.identifier == sa.bindparam("key"))
        .values(anytext=sa.bindparam("value"))
    )
    changed = 0
    last = None
    while True:
        query = sa.select(table.c.identifier, table.c.xml, table.c.anytext)
        if last is not None:
            query = query.where(table.c.identifier > last)
        rows = bind.execute(query.order_by(table.c.identifier).limit(BATCH)).all()
        if not rows:
            return changed
        last = rows[-1].identifier
        values = []
        for identifier, xml, old in rows:
            try:
                root = safexml.parse(xml.encode("utf-8"))
            except (safexml.UnsafeXMLError, etree.LxmlError):
                continue  # kept as it was: pycsw could not read it either
            new = metadata_parse.anytext(root)
            if new != old:
                values.append({"key": identifier, "value": new})
        if values:
            bind.execute(update, values)
            changed += len(values)


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    rewrite(bind)
    if postgres:
        op.create_index(
            INDEX,
            "csw_records",
            ["anytext"],
            postgresql_using="gin",
            postgresql_ops={"anytext": "gin_trgm_ops"},
        )


def downgrade() -> None:
    pass  # the shorter text is valid for the revisions before (pycsw reads any text)
