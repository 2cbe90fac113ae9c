"""Text folding shared by the detectors: accents and case do not matter."""

from __future__ import annotations

import re

from niaouli.marks import strip_marks

_SEPARATORS = re.compile(r"[\s_\-./'’()]+")


def fold(value: str) -> str:
    """Lower case, without accents (`Prénom` → `prenom`)."""
    return strip_marks(value).lower()


def words(value: str) -> list[str]:
    """The folded words of a header or value (`Date_de-Naissance` → date, de, naissance);
    camelCase is split too (`dateNaissance`)."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", value)
    return [w for w in _SEPARATORS.split(fold(spaced)) if w]
