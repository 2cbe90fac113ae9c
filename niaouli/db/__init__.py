"""Database access: engines for both backends and the SQL that differs between them."""
