"""The one error type of ingestion: a message naming the file, layer and row.

French, or the language of the request that ingests (`niaouli.i18n`): the web pages and
the API (with `?lang=en`) may ask for English.
"""

from __future__ import annotations

from niaouli.i18n import _


class IngestError(Exception):
    """A file that cannot be ingested. Nothing has been written when this is raised."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        layer: str | None = None,
        row: int | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.layer = layer
        self.row = row
        super().__init__(self.describe())

    def describe(self) -> str:
        where = []
        if self.file:
            where.append(_("fichier « %(name)s »") % {"name": self.file})
        if self.layer:
            where.append(_("couche « %(name)s »") % {"name": self.layer})
        if self.row is not None:
            where.append(_("ligne %(row)s") % {"row": self.row})
        if not where:
            return self.message
        return _("%(where)s : %(message)s") % {"where": ", ".join(where), "message": self.message}

    def located(
        self, *, file: str | None = None, layer: str | None = None, row: int | None = None
    ) -> IngestError:
        """The same error with missing location parts filled in."""
        return IngestError(
            self.message,
            file=self.file or file,
            layer=self.layer or layer,
            row=self.row if self.row is not None else row,
        )


class UnconfirmedChangeError(IngestError):
    """The file is fine but the change may be a mistake: nothing was written; sending it
    again with `confirm=True` goes on. `code` names the case (the API's 409 code) and
    `details` says what would change."""

    def __init__(self, code: str, message: str, *, file: str | None = None, **details: object):
        super().__init__(message, file=file)
        self.code = code
        self.details = details

    def located(
        self, *, file: str | None = None, layer: str | None = None, row: int | None = None
    ) -> IngestError:
        return UnconfirmedChangeError(
            self.code, self.message, file=self.file or file, **self.details
        )
