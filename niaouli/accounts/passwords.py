"""Password hashing with Argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from niaouli.i18n import _

MIN_LENGTH = 10
MAX_LENGTH = 1024  # hashing megabytes of "password" is a denial of service, not a password

_hasher = PasswordHasher()
# Verified against when the account does not exist, so that the answer takes as long.
_DUMMY_HASH = _hasher.hash("niaouli-no-such-account")


class PasswordError(ValueError):
    """A password the platform refuses, with a message meant for people (in the
    language of the request, French outside one)."""


def check_strength(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise PasswordError(
            _("le mot de passe doit compter au moins %(num)s caractères") % {"num": MIN_LENGTH}
        )
    if len(password) > MAX_LENGTH:
        raise PasswordError(
            _("le mot de passe doit compter au plus %(num)s caractères") % {"num": MAX_LENGTH}
        )
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_strength(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches; False for no hash, a bad hash or a mismatch."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(stored_hash)
