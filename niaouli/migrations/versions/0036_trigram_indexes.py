"""trigram indexes: substring search of CSW AnyText and of the datasets' search text

Both text filters match word *parts* anywhere in a long text, which no B-tree serves:

- CSW: pycsw turns `csw:AnyText like '%noumea%'` into `anytext ILIKE '%noumea%'` on
  PostgreSQL (and counts the matches for every GetRecords); at 100,000 records the count
  read every record's AnyText: 5.2 s for a rare word.
- OGC API Records' and the JSON API's `q` (`catalogue.search.text.matches`):
  `search_text LIKE '%word%'` for each word.

A GIN index of trigrams (pg_trgm, `gin_trgm_ops`) serves LIKE and ILIKE with a leading
wildcard: PostgreSQL reads only the rows holding every trigram of the word (a rare word:
a few rows; the count above takes 0.2 ms). It does not help a word found in nearly every
row (the planner then reads the table, as before), nor words under three letters.

PostgreSQL only (pg_trgm ships with PostgreSQL itself, "contrib", and is a trusted
extension: the database's owner may create it); nothing on SQLite, which has no such
index. Building them takes about a minute and a half at 100,000 datasets (writes wait
meanwhile). Not named `fts_gin_idx`: pycsw switches to its own full-text query when an index
of that name exists.

Revision ID: 0036_trigram_indexes
Revises: 0035_scale_indexes
"""

from __future__ import annotations

from alembic import op

revision = "0036_trigram_indexes"
down_revision = "0035_scale_indexes"
branch_labels = None
depends_on = None

# (index, table, column): also declared on the tables' metadata (csw_table, models).
INDEXES = (
    ("ix_csw_records_anytext_trgm", "csw_records", "anytext"),
    ("ix_datasets_search_text_trgm", "datasets", "search_text"),
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    available = bind.exec_driver_sql(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'"
    ).scalar()
    if not available:  # a server built without its contrib modules
        raise RuntimeError(
            "L'extension PostgreSQL pg_trgm manque : installez les modules « contrib » de "
            "PostgreSQL (paquet postgresql-contrib) sur le serveur de la base."
        )
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in INDEXES:
        op.create_index(
            name,
            table,
            [column],
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, _column in INDEXES:
        op.drop_index(name, table_name=table)
    # The extension stays: other objects of the database may use it by then.
