"""Password hashing with Argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile)."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from niaouli.i18n import _
from niaouli.settings import get_settings

MIN_LENGTH = 10
MAX_LENGTH = 1024  # hashing megabytes of "password" is a denial of service, not a password

_STRONG = PasswordHasher()
# The tests' (`Settings.test_password_hashing`): still Argon2id, at its smallest cost.
_TEST_ONLY = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def _hasher() -> PasswordHasher:
    return _TEST_ONLY if get_settings().test_password_hashing else _STRONG


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """Verified against when the account does not exist, so that the answer takes as
    long. Made at the first such sign-in, not at import: every `niaouli` command imports
    this module, and one Argon2 hash is a noticeable part of a short command's time."""
    return hasher.hash("niaouli-no-such-account")


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
    return _hasher().hash(check_strength(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches; False for no hash, a bad hash or a mismatch."""
    if len(password) > MAX_LENGTH:
        return False
    hasher = _hasher()
    try:
        matches = hasher.verify(stored_hash or _dummy_hash(hasher), password)
        return matches and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher().check_needs_rehash(stored_hash)
