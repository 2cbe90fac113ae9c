"""full-text search: French configuration with unaccent (PostGIS), FTS5 (SQLite)

Revision ID: 0014_fulltext
Revises: 0013_community
Create Date: 2026-11-26 02:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0014_fulltext"
down_revision = "0013_community"
branch_labels = None
depends_on = None

POSTGRES = (
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE TEXT SEARCH CONFIGURATION niaouli_fr (COPY = french)",
    # unaccent is a filtering dictionary: it hands the unaccented word to the stemmer.
    "ALTER TEXT SEARCH CONFIGURATION niaouli_fr ALTER MAPPING FOR hword, hword_part, word,"
    " asciiword, asciihword, hword_asciipart WITH unaccent, french_stem",
    "CREATE TABLE search_documents ("
    " kind varchar(16) NOT NULL,"
    " object_id integer NOT NULL,"
    " title text NOT NULL DEFAULT '',"
    " body text NOT NULL DEFAULT '',"
    " document tsvector GENERATED ALWAYS AS ("
    "  setweight(to_tsvector('niaouli_fr', title), 'A') ||"
    "  setweight(to_tsvector('niaouli_fr', body), 'B')) STORED,"
    " PRIMARY KEY (kind, object_id))",
    "CREATE INDEX search_documents_document ON search_documents USING gin (document)",
)
SQLITE = (
    "CREATE VIRTUAL TABLE search_fts USING fts5("
    "title, body, tokenize = 'unicode61 remove_diacritics 2')",
)


def upgrade() -> None:
    bind = op.get_bind()
    for statement in POSTGRES if bind.dialect.name == "postgresql" else SQLITE:
        op.execute(statement)
    # Index what is already there, with the same code the change hooks use.
    from niaouli.catalogue.search import fulltext

    fulltext.rebuild(bind)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE search_documents")
        op.execute("DROP TEXT SEARCH CONFIGURATION niaouli_fr")
    else:
        op.execute("DROP TABLE search_fts")
