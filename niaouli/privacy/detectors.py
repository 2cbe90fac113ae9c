"""Value patterns: is one value an e-mail, a New Caledonian phone number, a NIR, an
IBAN, a licence plate — or a look-alike that is not personal (RIDET, SIRET, postcode)?

Where a checksum exists it is checked (NIR key, IBAN mod 97, SIRET Luhn), so that a
15-digit product code is not a NIR by chance. Each function takes one value, already
cut to a bounded length by the scan, and answers in constant time.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import cache
from importlib import resources

MAX_VALUE = 4096  # characters of one value that are ever looked at

EMAIL = re.compile(
    r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63})*\.[A-Za-z]{2,24}"
)
# New Caledonia: six digits (fixed lines 2x, 3x, 4x; mobiles 5x, 7x, 8x, 9x), written in
# pairs or threes with spaces, dots or dashes, optionally after +687, 00687 or (687).
_PHONE = re.compile(
    r"(?:(?:\+|00)\s?687|\(\+?687\))?[\s.\-]?"
    r"([2-57-9]\d)[\s.\-]?(\d{2})[\s.\-]?(\d{2})"
)
_PHONE_GROUPED = re.compile(r"[2-57-9]\d([\s.\-])\d{2}\1\d{2}|[2-57-9]\d{2}[\s.\-]\d{3}")
_PHONE_IN_TEXT = re.compile(
    r"(?<![\d.])(?:(?:\+|00)\s?687[\s.\-]?)?[2-57-9]\d[\s.\-]\d{2}[\s.\-]\d{2}(?![\d.])"
    r"|(?:\+|00)\s?687[\s.\-]?[2-57-9]\d{5}(?!\d)"
)
_NIR = re.compile(
    r"([12378])\s?(\d{2})\s?(0[1-9]|1[0-2]|[2-9]\d)\s?(\d{2}|2[AB])\s?(\d{3})\s?(\d{3})\s?(\d{2})",
    re.IGNORECASE,
)
_NIR_IN_TEXT = re.compile(r"(?<!\d)[12378][\s\d]{12,20}\d{2}(?!\d)")
_IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")
_IBAN_IN_TEXT = re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,4})?\b")
_LETTERS = "ABCDEFGHJKLMNPQRSTVWXYZ"  # the SIV never uses I, O, U
_PLATE_SIV = re.compile(rf"[{_LETTERS}]{{2}}[\s\-]?\d{{3}}[\s\-]?[{_LETTERS}]{{2}}")
_PLATE_FNI = re.compile(r"\d{1,4}\s[A-Z]{1,3}\s(?:\d{2}|2[AB]|97\d)")
_PLATE_NC = re.compile(r"\d{5,6}[\s.\-]?NC")
_RIDET = re.compile(r"(\d{7}|\d\s?\d{3}\s?\d{3})[\s.\-/]?(\d{3})")
_SIRET = re.compile(r"\d{3}\s?\d{3}\s?\d{3}\s?\d{5}")
_POSTCODE = re.compile(r"988\d{2}")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?|(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})")


def _digits(value: str) -> str:
    return re.sub(r"[\s.\-]", "", value)


def is_email(value: str) -> bool:
    return EMAIL.fullmatch(value.strip()) is not None


def phone_strength(value: str) -> int:
    """2 for a number that can only be a phone number here (+687, or written in pairs),
    1 for six bare digits that may be one, 0 otherwise."""
    value = value.strip()
    if not _PHONE.fullmatch(value):
        return 0
    if "687" in value[:6] and len(_digits(value)) > 6 or _PHONE_GROUPED.fullmatch(value):
        return 2
    return 1


def phone_key(value: str) -> str:
    """The six digits of a New Caledonian number (to compare with the public list)."""
    return _digits(value)[-6:]


def _nir_key_ok(digits: str, key: str) -> bool:
    number = digits.upper().replace("2A", "19").replace("2B", "18")
    if not number.isdigit():
        return False
    return 97 - int(number) % 97 == int(key)


def is_nir(value: str) -> bool:
    """A French social security number (NIR, used by the CAFAT too) with a right key."""
    match = _NIR.fullmatch(value.strip())
    if match is None:
        return False
    groups = match.groups()
    return _nir_key_ok("".join(groups[:6]), groups[6])


def is_iban(value: str) -> bool:
    compact = value.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not _IBAN.fullmatch(compact):
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


def is_plate(value: str) -> bool:
    """A licence plate: New Caledonian (`123456 NC`), French SIV (`AB-123-CD`) or FNI."""
    value = value.strip().upper()
    return bool(
        _PLATE_NC.fullmatch(value) or _PLATE_SIV.fullmatch(value) or _PLATE_FNI.fullmatch(value)
    )


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def is_siret(value: str) -> bool:
    compact = value.strip()
    return bool(_SIRET.fullmatch(compact)) and luhn_ok(compact.replace(" ", ""))


def is_ridet(value: str) -> bool:
    """A New Caledonian business number: 7 digits and a 3-digit establishment number."""
    return _RIDET.fullmatch(value.strip()) is not None


def is_postcode(value: str) -> bool:
    return _POSTCODE.fullmatch(value.strip()) is not None


def as_date(value: object) -> date | None:
    """A calendar date written as one (ISO or day/month/year), else None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    match = _DATE.fullmatch(str(value).strip())
    if match is None:
        return None
    try:
        if match.group(1):
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        return date(int(match.group(6)), int(match.group(5)), int(match.group(4)))
    except ValueError:
        return None


# --- in free text ------------------------------------------------------------------


# What each pattern below cannot match without (a necessary part, found far faster than
# the pattern itself, which is tried at every position of a text): a harvest scans the
# text of every record it writes, and most texts have none of these.
# A phone: its first form's six digits in pairs ("23 45 67"), or its second form's
# country code.
# (No alternation in the pattern: `|687` made the engine try both branches at every
# position; a substring test of "687" is a fast scan of its own.)
_PHONE_PAIRS = re.compile(r"[2-57-9]\d[\s.\-]\d\d[\s.\-]\d\d")
_TWO_DIGITS = re.compile(r"\d\d")  # a NIR's key, an IBAN's check digits


def emails_in(text: str) -> bool:
    return "@" in text and EMAIL.search(text) is not None


def phones_in(text: str) -> bool:
    if "687" not in text and _PHONE_PAIRS.search(text) is None:
        return False
    return _PHONE_IN_TEXT.search(text) is not None


# A NIR in text without its surrounding assertions: every match of `_NIR_IN_TEXT` is one,
# and without a lookbehind first the engine skips to the next [12378] (≈ 4× faster).
_NIR_HINT = re.compile(r"[12378][\s\d]{12,20}\d{2}")


def nirs_in(text: str) -> bool:
    if _NIR_HINT.search(text) is None:
        return False
    return any(is_nir(m.group(0)) for m in _NIR_IN_TEXT.finditer(text))


def _iban_hint(text: str) -> bool:
    """Whether two digits follow a letter somewhere: an IBAN's country code and check
    digits, which every match of `_IBAN_IN_TEXT` holds (`upper` keeps letters letters and
    digits digits). Years and numbers after a space, the common case, are passed over in
    the regex engine's fast digit scan, twice as fast as the whole pattern on a
    record's text."""
    for match in _TWO_DIGITS.finditer(text):
        start = match.start()
        if start and text[start - 1].isalpha():
            return True
    return False


def ibans_in(text: str) -> bool:
    if not _iban_hint(text):
        return False
    return any(is_iban(m.group(0)) for m in _IBAN_IN_TEXT.finditer(text.upper()))


@cache
def public_numbers() -> frozenset[str]:
    """The shipped list of public services' numbers (six digits each), never flagged."""
    listed = (
        resources.files("niaouli.privacy").joinpath("data/public_numbers.txt").read_text("utf-8")
    )
    return frozenset(
        phone_key(line.split("#")[0]) for line in listed.splitlines() if line.split("#")[0].strip()
    )
