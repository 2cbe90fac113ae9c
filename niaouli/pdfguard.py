"""Untrusted PDF files (an agreement, an attachment): accepted only when they are plainly
documents, nothing that runs or carries other files.

`check_pdf` refuses, with a message for people: an empty or oversized file, a file that
does not start with the PDF signature or lacks its end marker, an encrypted one (its
streams cannot be read, so cannot be checked), and any that names JavaScript, an
embedded or attached file, a launch action, rich media, an XFA form or a form that
submits or imports data. Names are compared after decoding their `#xx` escapes, and the
compressed streams (where PDF 1.5 object streams hide dictionaries) are inflated and
searched too, within a bounded total so that a compression bomb is refused, not inflated.
No PDF library runs on the file: nothing parses it beyond this search.
"""

from __future__ import annotations

import re
import zlib

from niaouli.errors import CatalogueError
from niaouli.i18n import N_, _

MAX_PDF_BYTES = 10 * 1024 * 1024
MAX_INFLATED_BYTES = 64 * 1024 * 1024  # all streams together, once inflated
SIGNATURE = re.compile(rb"^%PDF-[12]\.\d")
# Names whose presence makes a PDF more than a document.
FORBIDDEN = {
    b"JavaScript": N_("du JavaScript"),
    b"JS": N_("du JavaScript"),
    b"EmbeddedFile": N_("un fichier incorporé"),
    b"EmbeddedFiles": N_("un fichier incorporé"),
    b"FileAttachment": N_("un fichier joint"),
    b"Launch": N_("une action de lancement"),
    b"RichMedia": N_("un média interactif"),
    b"XFA": N_("un formulaire XFA"),
    b"SubmitForm": N_("un envoi de formulaire"),
    b"ImportData": N_("un import de données"),
    b"Encrypt": N_("un chiffrement"),
}
NAME = re.compile(rb"/([A-Za-z0-9#_.+-]{1,127})")
HEX = re.compile(rb"#([0-9A-Fa-f]{2})")
STREAM = re.compile(rb"stream\r?\n")


class UnsafePdfError(CatalogueError):
    """The file is not accepted as a PDF document (the message says why)."""


def _names(data: bytes) -> set[bytes]:
    return {HEX.sub(lambda m: bytes([int(m.group(1), 16)]), n) for n in NAME.findall(data)}


def _inflated(data: bytes) -> list[bytes]:
    """Every stream that inflates, within MAX_INFLATED_BYTES in all."""
    out: list[bytes] = []
    budget = MAX_INFLATED_BYTES
    for match in STREAM.finditer(data):
        start = match.end()
        end = data.find(b"endstream", start)
        if end < 0:
            end = len(data)
        inflater = zlib.decompressobj()
        try:
            chunk = inflater.decompress(data[start:end], budget + 1)
        except zlib.error:
            continue  # not deflated (an image, a raw stream)
        if len(chunk) > budget or inflater.unconsumed_tail:
            raise UnsafePdfError(_("PDF refusé : son contenu compressé est démesuré"))
        budget -= len(chunk)
        out.append(chunk)
    return out


def check_pdf(data: bytes, max_bytes: int = MAX_PDF_BYTES) -> None:
    """Raises UnsafePdfError unless `data` is a plain PDF document (module docstring)."""
    if not data:
        raise UnsafePdfError(_("le fichier est vide"))
    if len(data) > max_bytes:
        raise UnsafePdfError(
            _("fichier trop lourd : %(max)s Mo au plus") % {"max": max_bytes // (1024 * 1024)}
        )
    if not SIGNATURE.match(data[:16]):
        raise UnsafePdfError(_("ce fichier n'est pas un PDF"))
    if b"%%EOF" not in data[-2048:]:
        raise UnsafePdfError(_("PDF incomplet : la fin du fichier manque"))
    found = _names(data)
    for chunk in _inflated(data):
        found |= _names(chunk)
    for name, what in FORBIDDEN.items():
        if name in found:
            raise UnsafePdfError(
                _("PDF refusé : il contient %(what)s (seul un document simple est accepté)")
                % {"what": _(what)}
            )
