"""Licences stored under their one name: the spellings the platform knows are renamed

Revision ID: 0021_licence_names
Revises: 0020_gazetteer

The licence facet split one licence in two (« Licence Ouverte » and « Licence Ouverte
2.0 », « ODbL 1.0 » and « Open Database License (ODbL) 1.0 »): the form, the API and
the harvesters now store the names of `niaouli.catalogue.vocabularies.LICENCES` (issue
15 §6), and this renames what older rows hold. Names nobody recognises stay as written.
It runs before the CSW rebuild (0023), which then writes the records with the new names.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_licence_names"
down_revision = "0020_gazetteer"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from niaouli.catalogue import vocabularies

    bind = op.get_bind()
    datasets = sa.table("datasets", sa.column("licence", sa.String))
    written = bind.execute(sa.select(datasets.c.licence).distinct()).scalars().all()
    for value in written:
        known = vocabularies.licence(value)
        if known is not None and known.name != value:
            bind.execute(
                datasets.update().where(datasets.c.licence == value).values(licence=known.name)
            )


def downgrade() -> None:
    pass  # the former spellings are not kept: the one name stays valid before
