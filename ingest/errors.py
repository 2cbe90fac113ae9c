"""The one error type of ingestion: a French message naming the file, layer and row."""

from __future__ import annotations


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
            where.append(f"fichier « {self.file} »")
        if self.layer:
            where.append(f"couche « {self.layer} »")
        if self.row is not None:
            where.append(f"ligne {self.row}")
        prefix = (", ".join(where) + " : ") if where else ""
        return prefix + self.message

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
