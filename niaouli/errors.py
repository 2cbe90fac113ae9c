"""The core's refusals: one root, `NiaouliError`, and the kinds every interface maps once.

A core operation that refuses raises one of these with a message meant for people,
written with `_()` so that it is in the language of the request (French by default,
English on `?lang=en`), and a stable `code` that does not depend on the language. Each
interface maps them to its own answer in one place: the API's exception handler
(`services/api/errors.py`: `status_for`), the portal's (`portal/app.py`: a 404 page, a
403 page), the command line prints the message. The more specific kinds are subclasses
of `CatalogueError` (invalid input), as they always were, so that a form which shows
"whatever the catalogue refused" still catches them all.

    NiaouliError                       code "Error"
    └── CatalogueError (ValueError)    code "InvalidValue"  invalid input → 422 / the form
        ├── NotFoundError              code "NotFound"      → 404
        ├── ForbiddenError             code "Forbidden"     → 403
        └── ConflictError              code "Conflict"      → 409

Other refusals of invalid input hang from the root beside `CatalogueError` rather than
under it (so that no `except CatalogueError` written before catches more than it did),
each with the code `InvalidValue`: `links.LinkError`, `accounts.users.AccountError`,
`catalogue.columns.ColumnError`, `catalogue.gazetteer.GazetteerError`. The ingestion's
`IngestError` (`ingest/errors.py`) has its own codes and report, and stays in its layer.
"""

from __future__ import annotations


class NiaouliError(Exception):
    """Something the platform refuses, with a message meant for people."""

    code = "Error"


class CatalogueError(NiaouliError, ValueError):
    """Invalid input: a value the catalogue refuses (the message says which and why)."""

    code = "InvalidValue"


InvalidInputError = CatalogueError  # the name of the kind; `CatalogueError` is the old one


class NotFoundError(CatalogueError):
    """What was named does not exist, or not for this viewer (the two look alike)."""

    code = "NotFound"


class ForbiddenError(CatalogueError):
    """The viewer may not do this (`permissions.allowed` said no)."""

    code = "Forbidden"


class ConflictError(CatalogueError):
    """The change clashes with the current state (a slug taken, a concurrent change)."""

    code = "Conflict"
